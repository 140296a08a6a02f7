"""Benchmark: one vs two worker processes on the same Optuna studies.

``tune_in_turn`` runs a fixed number of trials (``--params`` studies of
``--trials`` trials each, no pruning, so that every trial does the same work,
a small u-net trained ``--epochs`` epochs of ``--chunks`` chunks)
on a journal file.  The same job is done by one worker process, then by two
worker processes started together on a fresh journal, as workers on two
machines would be; process start-up (importing torch) is part of the wall
time, as it would be in practice.  One worker runs with torch on all cores
(its default) and on one thread; each of the two workers gets
``cores // 2`` threads.  Each configuration runs ``--repeat`` times, in
turn, and the script prints every wall time, the medians and the speed-ups
(one-worker time / two-worker time), with the load average and a check of the
free parallel capacity (two busy loops against one), since other jobs on the
machine distort the numbers.

Run ``python benchmarks/bench_workers.py`` (``--help`` for options).
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

WORKER = """
import json, sys
config = json.loads(sys.argv[1])
import torch
if config["threads"]:
    torch.set_num_threads(config["threads"])
import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.model_selection import tune_in_turn

optuna.logging.set_verbosity(optuna.logging.WARNING)
X, y = make_spotting_data(6, n_features=32, minutes=3.0, classes=["a", "b", "c"],
                          random_state=0)
spotter = DenseAnchorSpotter(
    chunk_duration=32.0, unet_levels=3, epochs=config["epochs"],
    chunks_per_epoch=config["chunks"], batch_size=32, use_displacement=False,
    classes=["a", "b", "c"], random_state=0,
)
tune_in_turn(
    spotter, X[:4], y[:4], X_valid=X[4:], y_valid=y[4:],
    params=config["params"], n_trials_per_param=config["trials"],
    storage=JournalStorage(JournalFileBackend(config["journal"])),
    study_name="bench", random_state=config["seed"],
    pruner=optuna.pruners.NopPruner(), refit=False,
)
"""


def run(n_workers, threads, args, folder, tag):
    """Wall time of ``n_workers`` processes of ``threads`` torch threads each."""
    journal = os.path.join(folder, f"journal_{tag}_{n_workers}_{threads}.log")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    processes = []
    for seed in range(n_workers):
        config = {
            "journal": journal,
            "params": args.params,
            "trials": args.trials,
            "seed": seed,
            "threads": threads,
            "epochs": args.epochs,
            "chunks": args.chunks,
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(config)], env=env, cwd=REPO
            )
        )
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError(f"a worker failed with code {process.returncode}")
    return time.perf_counter() - start, _count(journal, args.params)


def _count(journal, params):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(journal))
    done = 0
    for param in params:
        study = optuna.load_study(study_name=f"bench:{param}", storage=storage)
        complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        # the trial carried over from the previous study was not run here
        done += sum("sk_spotting:carried_from" not in t.user_attrs for t in complete)
    return done


def _spin(n=20_000_000):
    x = 0
    for i in range(n):
        x += i
    return x


def parallel_capacity():
    """Wall time of two busy loops in two processes over one loop in one.

    About 1.0 when a second core is free, about 2.0 when other jobs keep the
    machine busy (then no number of workers can go faster).
    """
    from concurrent.futures import ProcessPoolExecutor

    timings = []
    for n_processes in (1, 2):
        with ProcessPoolExecutor(n_processes) as pool:
            list(pool.map(_spin, [10] * n_processes))  # start the processes
            start = time.perf_counter()
            list(pool.map(_spin, [20_000_000] * n_processes))
            timings.append(time.perf_counter() - start)
    return timings[1] / timings[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", nargs="+", default=["learning_rate", "sam_rho"])
    parser.add_argument("--trials", type=int, default=8, help="trials per study")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit")
    parser.add_argument("--chunks", type=int, default=256, help="chunks per epoch")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["1x0", "1x1", "2x0"],
        help="WORKERSxTHREADS; 0 threads means cores // workers",
    )
    args = parser.parse_args()
    total = len(args.params) * args.trials
    print(
        f"{total} trials ({len(args.params)} studies x {args.trials}); "
        f"{os.cpu_count()} cores; load average before: {os.getloadavg()}; "
        f"parallel capacity (2 loops / 1 loop, 1.0 = a free second core): "
        f"{parallel_capacity():.2f}"
    )
    cores = os.cpu_count() or 1
    configurations = []
    for text in args.configs:
        n_workers, threads = (int(part) for part in text.split("x"))
        configurations.append((n_workers, threads or max(1, cores // n_workers)))
    times = {c: [] for c in configurations}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeat):
            for n_workers, threads in configurations:
                seconds, done = run(n_workers, threads, args, folder, repeat)
                assert done == total, (done, total)
                times[n_workers, threads].append(seconds)
                print(
                    f"repeat {repeat}: {n_workers} worker(s) x {threads} torch "
                    f"thread(s): {seconds:7.1f} s ({done} trials, load average "
                    f"{os.getloadavg()[0]:.2f})"
                )
    print(f"parallel capacity after: {parallel_capacity():.2f}")
    medians = {c: statistics.median(t) for c, t in times.items()}
    for (n_workers, threads), seconds in medians.items():
        print(f"median, {n_workers} worker(s) x {threads} thread(s): {seconds:7.1f} s")
    for many in (c for c in configurations if c[0] > 1):
        for one in (c for c in configurations if c[0] == 1):
            print(
                f"speed-up of {many[0]} workers x {many[1]} thread(s) over 1 worker "
                f"x {one[1]} thread(s): {medians[one] / medians[many]:.2f}x"
            )


if __name__ == "__main__":
    main()
