"""Benchmark: host memory of ``fit`` on memory-mapped features, against the data.

Writes synthetic SoccerNet-like halves as ``.npy`` files once (``--data-dir``,
kept between runs): 5,400 frames of 512 features (ResNet+PCA, 2 fps) or
2,700 frames of 8,576 features (Combination, 1 fps), 30 events per half
among 17 classes.  Each configuration then runs in its own process, which
memory-maps the first ``n`` halves (``numpy.load(mmap_mode="r")``, as
``load_soccernet`` does) and fits a DenseAnchorSpotter for a few steps: one
epoch of ``--steps`` batches of ``--batch-size`` chunks per network, the
paper's u-net for that feature set and its chunk length, SAM and mixup on,
on the CPU.  Memory, not speed, is measured:

* peak RSS: the process's high-water mark (``ru_maxrss``), which counts the
  pages of the memory-mapped files the process has read (page cache, given
  back to the system under pressure) as well as its own memory;
* peak anonymous memory: ``RssAnon`` of ``/proc/self/status``, sampled every
  5 ms in a thread during the fit: the memory the process itself holds
  (heap, tensors, copies), which no file backs;
* "fit anon": peak anonymous memory minus that before ``fit`` (after the
  imports and the memory maps).

It prints one table row per run and, per feature size and precision, the
least-squares slope of the peak anonymous memory against the number of
halves (MiB per added half).  ``--code DIR`` runs another checkout of
sk_spotting (e.g. an older commit extracted with ``git archive``) to compare.

Run ``python benchmarks/bench_memory.py`` (``--help`` for options); results
in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20

#: feature size: (frames per half, frame rate, estimator settings)
FEATURE_SETS = {
    512: (5400, 2.0, {}),
    8576: (2700, 1.0, {"frame_rate": 1.0, "unet_levels": 5}),
}
N_CLASSES = 17
N_EVENTS = 30

CHILD = r"""
import json, resource, sys, threading, time
config = json.loads(sys.argv[1])
import numpy as np, pandas as pd, torch
torch.set_num_threads(config["threads"])
from sk_spotting import DenseAnchorSpotter


def status():
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
running = True


def watch():
    while running:
        for key, value in status().items():
            peak[key] = max(peak[key], value)
        time.sleep(0.005)


folder = config["folder"]
X, y = [], []
classes = [f"class_{k:02d}" for k in range(config["n_classes"])]
for i in range(config["n_halves"]):
    X.append(np.load(f"{folder}/half_{i:04d}.npy", mmap_mode="r"))
    with open(f"{folder}/half_{i:04d}.json") as f:
        y.append(pd.DataFrame(json.load(f)))
spotter = DenseAnchorSpotter(**config["params"])
before = status()["RssAnon"]
thread = threading.Thread(target=watch, daemon=True)
thread.start()
start = time.perf_counter()
spotter.fit(X, y)
seconds = time.perf_counter() - start
running = False
thread.join()
print(json.dumps({
    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "peak_anon": peak["RssAnon"],
    "peak_file": peak["RssFile"],
    "anon_before_fit": before,
    "fit_seconds": seconds,
}))
"""


def write_data(folder, n_features, n_halves):
    """Write the halves not yet there; cheap tiled content, not all zeros."""
    n_frames = FEATURE_SETS[n_features][0]
    frame_rate = FEATURE_SETS[n_features][1]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n_features)
    block = rng.standard_normal((256, n_features)).astype(np.float32)
    for i in range(n_halves):
        path = folder / f"half_{i:04d}.npy"
        if path.exists():
            continue
        part = folder / f"half_{i:04d}.npy.part"
        array = np.lib.format.open_memmap(
            part, mode="w+", dtype=np.float32, shape=(n_frames, n_features)
        )
        for start in range(0, n_frames, 256):
            rows = array[start : start + 256]
            rows[:] = block[: len(rows)] + np.float32(i % 7)
        array.flush()
        del array
        times = np.sort(rng.uniform(0, n_frames / frame_rate, N_EVENTS))
        labels = rng.integers(0, N_CLASSES, N_EVENTS)
        events = {
            "time": times.round(3).tolist(),
            "label": [f"class_{k:02d}" for k in labels],
        }
        (folder / f"half_{i:04d}.json").write_text(json.dumps(events))
        os.replace(part, path)


def run_one(args, n_features, n_halves, precision):
    n_frames, frame_rate, settings = FEATURE_SETS[n_features]
    params = {
        "chunk_duration": 112.0,
        "epochs": 1,
        "batch_size": args.batch_size,
        "chunks_per_epoch": args.batch_size * args.steps,
        "validation_interval": 1,
        "precision": precision,
        "device": "cpu",
        "classes": [f"class_{k:02d}" for k in range(N_CLASSES)],
        "random_state": 0,
        "verbose": 0,
        **settings,
    }
    config = {
        "folder": str(Path(args.data_dir) / f"d{n_features}"),
        "n_halves": n_halves,
        "n_classes": N_CLASSES,
        "threads": args.threads,
        "params": params,
    }
    env = {**os.environ, "PYTHONPATH": str(Path(args.code).resolve())}
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    data_bytes = n_halves * n_frames * n_features * 4
    return {
        "n_features": n_features,
        "n_halves": n_halves,
        "precision": precision,
        "data_bytes": data_bytes,
        **result,
    }


def slope(rows):
    """Least-squares MiB of peak anonymous memory per added half."""
    if len(rows) < 2:
        return float("nan")
    halves = np.array([r["n_halves"] for r in rows], float)
    anon = np.array([r["peak_anon"] for r in rows], float) / MIB
    return float(np.polyfit(halves, anon, 1)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, nargs="+", default=[512, 8576])
    parser.add_argument("--halves-512", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--halves-8576", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument(
        "--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"]
    )
    parser.add_argument("--steps", type=int, default=2, help="batches per network")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--data-dir",
        default=os.path.join(tempfile.gettempdir(), "sk_spotting_bench_memory"),
        help="where the halves are written (kept for later runs)",
    )
    parser.add_argument("--code", default=str(REPO), help="checkout to import")
    parser.add_argument("--out", help="also write the rows to this JSON file")
    args = parser.parse_args()

    cores = os.cpu_count()
    print(f"# {platform.node()}, {cores} cores, Python {platform.python_version()}")
    print(f"# code: {Path(args.code).resolve()}")
    rows = []
    header = (
        "| features | halves | precision | data (GiB) | peak RSS (GiB) | "
        "peak anon (MiB) | fit anon (MiB) | fit (s) |"
    )
    print(header)
    print("|" + "---|" * 8)
    for n_features in args.features:
        halves = getattr(args, f"halves_{n_features}")
        write_data(Path(args.data_dir) / f"d{n_features}", n_features, max(halves))
        for precision in args.precision:
            group = []
            for n in halves:
                row = run_one(args, n_features, n, precision)
                group.append(row)
                print(
                    f"| {n_features} | {n} | {precision} | "
                    f"{row['data_bytes'] / 2**30:.2f} | "
                    f"{row['peak_rss'] / 2**30:.2f} | "
                    f"{row['peak_anon'] / MIB:,.0f} | "
                    f"{(row['peak_anon'] - row['anon_before_fit']) / MIB:,.0f} | "
                    f"{row['fit_seconds']:.0f} |",
                    flush=True,
                )
            rows += group
            print(
                f"# {n_features}-d, {precision}: {slope(group):.2f} MiB of peak "
                f"anonymous memory per added half"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
