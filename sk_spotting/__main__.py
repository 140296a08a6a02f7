"""``python -m sk_spotting``: the ``sk-spotting`` command, also under torchrun."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
