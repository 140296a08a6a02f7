"""Run ``sk-spotting demo`` as the README's command does and record its numbers.

Writes ``docs/demo_scores.json``: the four average-mAPs the demo printed (from
its ``scores.json``), its wall time, the machine, and the demo configuration
they belong to.  ``tests/test_readme_numbers.py`` checks that README.md,
docs/benchmarks.md and benchmarks/RESULTS.md quote exactly these numbers and
that the configuration is still the demo's, so a change of the demo without a
new recording fails the tests.

Usage::

    python benchmarks/record_demo.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sk_spotting.cli._demo import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "demo_scores.json"


def main():
    out = Path(tempfile.mkdtemp(prefix="demo_output_"))
    command = [
        str(Path(sys.executable).with_name("sk-spotting")),
        "demo",
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    scores = json.loads((out / "scores.json").read_text())
    shutil.rmtree(out)
    import torch

    record = {
        "command": "sk-spotting demo --out demo_output",
        "wall_seconds": round(seconds, 1),
        "machine": (
            f"{os.cpu_count()} CPU cores ({platform.machine()}), "
            f"torch {torch.__version__}, no GPU used"
        ),
        "scores": scores,
        "config": DEMO_CONFIG,
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["scores"], indent=2), f"\n{seconds:.0f} s -> {RECORD}")


if __name__ == "__main__":
    main()
