"""Benchmark: memory of reading a small zip whose member expands to 1 GiB.

A submission zip is untrusted input: ``sk-spotting evaluate`` and ``report``
take one from the command line.  This script writes a zip of about 1 MB
holding ``<game>/results_spotting.json`` of 1 GiB of spaces, then reads it with
:func:`sk_spotting.datasets.read_soccernet_predictions` in a fresh process and
prints the error and the peak resident memory added by the read (``ru_maxrss``
after, minus before).  The reader stops at its size limit (64 MiB), so the
target is under ~100 MB extra.

Measured on the 2-core Xeon CPU box (no GPU, load average ~9), 1 GiB
member in a 1.00 MiB zip: before the limit, when every member was read whole
and then decoded, 2051.9 MiB extra (and a JSON error after about 18 s); with
the limit, read by 1 MiB chunks, 70.3 MiB extra and the "larger than
67,108,864 bytes" error.

Run ``python benchmarks/bench_zip_memory.py`` (``--gib`` sets the size).
"""

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAME = "league/season/game"

READ = """
import resource, sys
import pandas as pd
from sk_spotting.datasets import read_soccernet_predictions
meta = pd.DataFrame({"game": [sys.argv[2]], "half": [1]})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_soccernet_predictions(sys.argv[1], meta)
    outcome = "read without error"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome)
print(f"peak memory added by the read: {(after - before) / 1024:.1f} MiB")
"""


def write_zip(path, gib):
    block = b" " * 2**20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(f"{GAME}/results_spotting.json", "w", force_zip64=True) as f:
            for _ in range(int(gib * 1024)):
                f.write(block)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="member size (GiB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.zip"
        write_zip(path, args.gib)
        print(
            f"zip: {path.stat().st_size / 2**20:.2f} MiB on disk, member "
            f"{args.gib:g} GiB"
        )
        done = subprocess.run(
            [sys.executable, "-c", READ, str(path), GAME],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(ROOT)},
            check=False,
        )
        print(done.stdout.strip() or done.stderr.strip())


if __name__ == "__main__":
    main()
