#!/usr/bin/env bash
# The test suite against the lowest supported releases: every runtime
# dependency of pyproject.toml pinned to its lower bound (`name>=X` becomes
# `name==X` in a pip constraints file), in a virtual environment of its own,
# .venv-lowest, made afresh.  Torch is the exception: its oldest CPU build
# cannot be fetched from PyPI (PyPI's Linux wheels are CUDA builds), so it is
# installed as `make` installs it and its lower bound is not tested here.  The
# `tune` and `postgres` extras are pinned too, the test tools (pytest, ...) are
# not.  Runs on the interpreter of $PYTHON (python3 by default), which needs
# tomllib (Python 3.11 or later): Python's own lower bound, 3.10, is not tested.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${LOWEST_VENV:-.venv-lowest}"

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PYTHON" - pyproject.toml >"$constraints" <<'EOF'
import re
import sys
import tomllib

with open(sys.argv[1], "rb") as stream:
    project = tomllib.load(stream)["project"]
# the runtime dependencies and the extras that the library's code imports
extras = project["optional-dependencies"]
for requirement in project["dependencies"] + extras["tune"] + extras["postgres"]:
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
    lower = re.search(r">=\s*([\w.]+)", requirement)
    if lower is None:
        sys.exit(f"pyproject.toml: {requirement!r} has no lower bound (>=)")
    if name.lower() != "torch":
        print(f"{name}=={lower.group(1)}")
EOF
echo "lowest supported releases:" $(cat "$constraints")

rm -rf "$VENV"
# `make install` makes the environment, installs torch (CPU build without a
# GPU) and sk_spotting[test]; pip reads the constraints from PIP_CONSTRAINT.
PIP_CONSTRAINT="$constraints" make --no-print-directory install VENV="$VENV"
"$VENV/bin/python" -m pip check
"$VENV/bin/python" - "$constraints" <<'EOF'
import sys
from importlib.metadata import version

from packaging.version import Version

for line in open(sys.argv[1]):
    name, pinned = line.strip().split("==")
    if Version(version(name)) != Version(pinned):
        sys.exit(f"{name} {version(name)} is installed, not the lowest, {pinned}")
print("installed the lowest releases; torch", version("torch"))
EOF
"$VENV/bin/python" -m pytest -n 2 -q -p no:cacheprovider
