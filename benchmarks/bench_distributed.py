"""Benchmark: a fit on two gloo processes against the same fit on one process.

Both fits use the same global batch (``batch_size``), schedule and
``random_state``; the two-process fit (``torchrun --standalone
--nproc-per-node 2``, gloo on the CPU) draws half of each batch on each rank
from its own random stream, so the two runs see different chunks and their
numbers differ by sampling noise only.  Each configuration runs for
``--seeds`` seeds; the script prints, per run, the test average-mAP (loose
and tight), the last training loss of each network, the best validation
score, the fit's wall time and the load average, then the means, and writes
them as JSON (``--out``).

The data are synthetic (``make_spotting_data``): ``--train`` training halves,
2 validation halves and 4 test halves of ``--minutes`` minutes with
``--features`` features at 2 fps and the 17 SoccerNet-v2 classes; the
spotter is the demo's (u-net with 3 levels, 32-s chunks, batches of 16,
learning rate 2e-3, displacement anchors weighed alike) for ``--epochs``
epochs of 256 chunks; ``--sam-rho`` and ``--mixup-alpha`` switch on SAM and
mixup.  Each process uses one torch thread.

Run ``python benchmarks/bench_distributed.py`` (``--help`` for options).
The wall times are those of a shared 2-core machine: they say what the
processes cost there, not what several GPUs gain.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _data(args):
    from sk_spotting.datasets import make_spotting_data

    n_videos = args.train + 6
    X, y = make_spotting_data(
        n_videos, n_features=args.features, minutes=args.minutes, random_state=0
    )
    train = (X[: args.train], y[: args.train])
    valid = (X[args.train : args.train + 2], y[args.train : args.train + 2])
    test = (X[args.train + 2 :], y[args.train + 2 :])
    return train, valid, test


def worker(args):
    """One process of a fit (rank 0 writes the result)."""
    import torch

    torch.set_num_threads(1)
    from sk_spotting import DenseAnchorSpotter
    from sk_spotting.datasets import SOCCERNET_V2_CLASSES
    from sk_spotting.metrics import average_map_score
    from sk_spotting.training._distributed import is_main_process

    (X, y), (X_valid, y_valid), (X_test, y_test) = _data(args)
    spotter = DenseAnchorSpotter(
        chunk_duration=32.0,
        unet_levels=3,
        epochs=args.epochs,
        chunks_per_epoch=256,
        batch_size=16,
        learning_rate=2e-3,
        sam_rho=args.sam_rho,
        mixup_alpha=args.mixup_alpha,
        displacement_class_weight=None,
        validation_interval=max(1, args.epochs // 4),
        distributed=args.processes > 1,
        classes=list(SOCCERNET_V2_CLASSES),
        random_state=args.seed,
    )
    start = time.perf_counter()
    spotter.fit(X, y, X_valid=X_valid, y_valid=y_valid)
    seconds = time.perf_counter() - start
    if not is_main_process():
        return
    predictions = spotter.predict(X_test)
    result = {
        "processes": args.processes,
        "seed": args.seed,
        "fit_seconds": seconds,
        "load_average": os.getloadavg()[0],
        "test_loose": 100 * average_map_score(y_test, predictions, tolerances="loose"),
        "test_tight": 100 * average_map_score(y_test, predictions, tolerances="tight"),
    }
    for name in ("confidence", "displacement"):
        history = getattr(spotter, f"{name}_net_").history
        result[f"{name}_last_loss"] = history[-1, "train_loss"]
        result[f"{name}_best_valid"] = max(
            row["valid_average_map"] for row in history if "valid_average_map" in row
        )
    Path(args.result).write_text(json.dumps(result))


def run(args, processes, seed, folder):
    result = Path(folder) / f"p{processes}_s{seed}.json"
    options = [
        "--worker",
        "--processes",
        str(processes),
        "--seed",
        str(seed),
        "--result",
        str(result),
    ]
    for name in ("train", "minutes", "features", "epochs", "sam_rho", "mixup_alpha"):
        options += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command = [sys.executable]
    if processes > 1:
        command += ["-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc-per-node", str(processes)]
    command += [__file__] + options
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    subprocess.run(command, env=env, check=True)
    return json.loads(result.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--sam-rho", type=float, default=0.0)
    parser.add_argument("--mixup-alpha", type=float, default=0.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None, help="JSON file of the results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    keys = ("test_loose", "test_tight", "confidence_last_loss")
    keys += ("displacement_last_loss", "confidence_best_valid", "fit_seconds")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            for processes in (1, 2):
                result = run(args, processes, seed, folder)
                results.append(result)
                print(
                    f"processes {processes} seed {seed}: "
                    + ", ".join(f"{k} {result[k]:.4g}" for k in keys)
                    + f", load {result['load_average']:.1f}",
                    flush=True,
                )
    for processes in (1, 2):
        rows = [r for r in results if r["processes"] == processes]
        means = {k: statistics.mean(r[k] for r in rows) for k in keys}
        spread = {k: statistics.pstdev(r[k] for r in rows) for k in keys}
        print(
            f"mean over {len(rows)} seeds, {processes} process(es): "
            + ", ".join(f"{k} {means[k]:.4g} (sd {spread[k]:.2g})" for k in keys)
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": results}))


if __name__ == "__main__":
    main()
