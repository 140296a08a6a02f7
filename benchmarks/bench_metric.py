"""Benchmark: sk_spotting's average-mAP against the official SoccerNet devkit.

Builds a test-split-sized set (100 games = 200 halves of 45 min, about 110
actions per half over the 17 SoccerNet-v2 classes) and two prediction sets:
a sparse one (about 30k detections: noisy copies of the actions plus false
alarms) and a dense one (about 600k detections, like a spotter whose every
non-maximum-suppression survivor is written, at least 21 frames apart per
class).  The devkit's ``evaluate`` (loose, then tight) reads JSON files
written to a temporary folder beforehand, reading time included as it is part
of ``evaluate``; ours scores the same tables in memory.  Both must give the
same numbers; the script prints the timings and the speed-up.

Run ``python benchmarks/bench_metric.py`` (``--help`` for options).
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sk_spotting.metrics import average_map_score  # noqa: E402
from tests.metrics.conftest import (  # noqa: E402
    SOCCERNET_V2_CLASSES,
    devkit_evaluate,
    write_soccernet_tree,
)

HALF_SECONDS = 45 * 60
# Rough SoccerNet-v2 class frequencies (most actions are throw-ins, balls out
# of play, fouls; very few penalties and red cards).
CLASS_WEIGHTS = np.array(
    [1, 5, 3, 6, 8, 12, 16, 20, 60, 40, 25, 22, 12, 12, 4, 0.5, 0.5], dtype=float
)


def make_ground_truth(rng, n_videos, n_actions):
    """Random actions per half: time, label, visibility (about 10 % unshown)."""
    y_true = []
    probabilities = CLASS_WEIGHTS / CLASS_WEIGHTS.sum()
    for _ in range(n_videos):
        n = rng.poisson(n_actions)
        y_true.append(
            pd.DataFrame(
                {
                    "time": np.round(rng.uniform(0, HALF_SECONDS, n), 3),
                    "label": rng.choice(SOCCERNET_V2_CLASSES, n, p=probabilities),
                    "visibility": rng.choice(["visible", "not shown"], n, p=[0.9, 0.1]),
                }
            )
        )
    return y_true


def make_sparse_predictions(rng, y_true, n_false_alarms):
    """A displaced, noisily scored copy of every action plus random false alarms."""
    y_pred = []
    for table in y_true:
        n, m = len(table), rng.poisson(n_false_alarms)
        displacement = rng.normal(0, 3, n)
        times = np.r_[table["time"] + displacement, rng.uniform(0, HALF_SECONDS, m)]
        labels = np.r_[table["label"], rng.choice(SOCCERNET_V2_CLASSES, m)]
        confidence = np.r_[rng.beta(4, 2, n), rng.beta(2, 4, m)]
        y_pred.append(
            pd.DataFrame(
                {
                    "time": np.round(np.clip(times, 0, HALF_SECONDS), 3),
                    "label": labels,
                    "confidence": confidence,
                }
            )
        )
    return y_pred


def make_dense_predictions(rng, y_true, spacing_frames):
    """Every ``spacing_frames`` frames (jittered) one detection per class, higher
    scores near the actions of that class."""
    y_pred = []
    n_frames = HALF_SECONDS * 2
    for table in y_true:
        frames = np.arange(0, n_frames, spacing_frames)
        frames = frames + rng.integers(0, spacing_frames // 2, (17, len(frames)))
        classes = np.repeat(np.arange(17), frames.shape[1])
        times = frames.ravel() / 2.0
        confidence = rng.beta(1, 6, times.size)
        for k, name in enumerate(SOCCERNET_V2_CLASSES):
            actions = table["time"].to_numpy()[table["label"].to_numpy() == name]
            if actions.size:
                own = classes == k
                distance = np.abs(times[own, None] - actions[None]).min(axis=1)
                confidence[own] += 0.8 * np.exp(-distance / 4) * rng.random(own.sum())
        y_pred.append(
            pd.DataFrame(
                {
                    "time": times,
                    "label": np.asarray(SOCCERNET_V2_CLASSES)[classes],
                    "confidence": confidence,
                }
            )
        )
    return y_pred


def time_ours(y_true, y_pred, repeat):
    """Best-of-``repeat`` time of our loose + tight evaluation, and the results."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        results = [
            average_map_score(
                y_true,
                y_pred,
                tolerances=metric,
                classes=SOCCERNET_V2_CLASSES,
                return_details=True,
            )
            for metric in ("loose", "tight")
        ]
        best = min(best, time.perf_counter() - start)
    return best, results


def time_devkit(y_true, y_pred, workdir):
    """Time of the devkit's loose + tight ``evaluate`` (JSON written beforehand)."""
    labels_dir, predictions_dir = write_soccernet_tree(workdir, y_true, y_pred)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [
            devkit_evaluate(labels_dir, predictions_dir, SOCCERNET_V2_CLASSES, metric)
            for metric in ("loose", "tight")
        ]
    return time.perf_counter() - start, results


def compare(devkit, ours):
    """Largest absolute difference over every reported number, and bit-identity."""
    pairs = [
        ("a_mAP", "average_map"),
        ("a_mAP_per_class", "average_ap_per_class"),
        ("a_mAP_visible", "average_map_visible"),
        ("a_mAP_per_class_visible", "average_ap_per_class_visible"),
        ("a_mAP_unshown", "average_map_unshown"),
        ("a_mAP_per_class_unshown", "average_ap_per_class_unshown"),
    ]
    worst, identical = 0.0, True
    for reference, result in zip(devkit, ours):
        for key, field in pairs:
            expected = np.asarray(reference[key], dtype=float)
            got = np.asarray(getattr(result, field), dtype=float)
            worst = max(worst, float(np.abs(expected - got).max()))
            identical &= bool(np.array_equal(expected, got))
    return worst, identical


def run(name, y_true, y_pred, repeat, skip_devkit):
    n_detections = sum(len(t) for t in y_pred)
    n_actions = sum(len(t) for t in y_true)
    print(
        f"\n== {name}: {len(y_true)} halves, {n_actions} actions, "
        f"{n_detections} detections"
    )
    ours_time, ours = time_ours(y_true, y_pred, repeat)
    print(f"sk_spotting loose+tight: {ours_time:.3f} s (best of {repeat})")
    print(
        f"  loose a-mAP {ours[0].average_map:.6f}, tight a-mAP "
        f"{ours[1].average_map:.6f}"
    )
    if skip_devkit:
        return
    with tempfile.TemporaryDirectory() as workdir:
        devkit_time, devkit = time_devkit(y_true, y_pred, workdir)
    worst, identical = compare(devkit, ours)
    print(f"devkit evaluate loose+tight: {devkit_time:.2f} s")
    print(f"speed-up: {devkit_time / ours_time:.0f}x")
    print(
        f"max |difference| over all reported values: {worst:.3g}; "
        f"bit-identical: {identical}"
    )
    assert worst <= 1e-9, "sk_spotting disagrees with the devkit"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-videos", type=int, default=200, help="halves")
    parser.add_argument("--n-actions", type=float, default=110, help="per half")
    parser.add_argument(
        "--false-alarms", type=float, default=40, help="per half, sparse run"
    )
    parser.add_argument(
        "--spacing",
        type=int,
        default=30,
        help="frames between dense detections of a class",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timings of ours")
    parser.add_argument(
        "--runs", nargs="+", default=["sparse", "dense"], choices=["sparse", "dense"]
    )
    parser.add_argument("--skip-devkit", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"CPUs: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(args.seed)
    y_true = make_ground_truth(rng, args.n_videos, args.n_actions)
    if "sparse" in args.runs:
        y_pred = make_sparse_predictions(rng, y_true, args.false_alarms)
        run("run 1, sparse", y_true, y_pred, args.repeat, args.skip_devkit)
    if "dense" in args.runs:
        y_pred = make_dense_predictions(rng, y_true, args.spacing)
        run("run 2, dense", y_true, y_pred, args.repeat, args.skip_devkit)


if __name__ == "__main__":
    main()
