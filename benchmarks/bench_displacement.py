"""What the displacement network adds, and which of its settings decide it.

For each seed and budget (optimizer steps per network) one confidence network
is trained (the CPU profile of ``bench_accuracy.py``: 16 chunks of 32 s per
step, no SAM, no mixup) and shared by every displacement variant, so that the
variants differ only in the displacement network:

* ``defaults``: the estimator's defaults (learning rate 2e-3, weight decay
  5e-4, ``displacement_class_weight="auto"``, which weighs the anchors alike
  at these batch sizes, best epoch chosen with a 3-s NMS on 1-10 s);
* ``balanced (reference)``: the reference's per-class balanced weights;
* ``lr 1e-3``, ``lr 5e-3``, ``wd 2e-4``: the learning rate and weight decay;
* ``select with 20-s NMS``: the best epoch chosen with the estimator's NMS;
* ``last epoch``: no validation, the last epoch kept;
* ``2x steps``: twice the confidence network's steps.

It prints, per budget, loose and tight average-mAP on the test halves with
the displacement and without it ("w/o D", the confidence network alone), the
gain in tight average-mAP, and the displacement's mean absolute error in
frames on the test anchors within the displacement radius (predicting 0 gives
the "zero" row), as mean +/- std over seeds; JSON to ``--out``.

Usage::

    python benchmarks/bench_displacement.py --seeds 3 --budgets 500 2000 --jobs 2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time

import numpy as np
import torch
from bench_accuracy import PROFILES, _scores, _split
from joblib import Parallel, delayed
from sklearn.base import clone

from sk_spotting import DenseAnchorSpotter
from sk_spotting.data import events_to_dense
from sk_spotting.datasets import make_spotting_data
from sk_spotting.postprocessing import scores_to_events
from sk_spotting.targets import displacement_targets

PROFILE = "cpu"
N_VALID = 4
VARIANTS = {
    "defaults": {},
    "balanced (reference)": {"displacement_class_weight": "balanced"},
    "lr 1e-3": {"displacement_learning_rate": 1e-3},
    "lr 5e-3": {"displacement_learning_rate": 5e-3},
    "wd 2e-4": {"displacement_weight_decay": 2e-4},
    "select with 20-s NMS": {"displacement_selection_nms_window": 20.0},
    "last epoch": {},
    "2x steps": {},
}


def _spotter(budget, classes, seed):
    spotter = PROFILES[PROFILE]["spotter"]
    batches = spotter["chunks_per_epoch"] // spotter["batch_size"]
    epochs = max(1, budget // batches)
    return DenseAnchorSpotter(
        **{**spotter, "epochs": epochs},
        sam_rho=0.0,
        mixup_alpha=0.0,
        validation_interval=max(1, epochs // 10),
        classes=classes,
        random_state=seed,
    )


def _displacement_error(spotter, dense, X_test, y_test):
    """Mean absolute displacement error (frames) on test anchors in the radius."""
    radius = spotter._displacement_radius_frames
    errors, zero = [], []
    for (_, displacement), video, events in zip(dense, X_test, y_test):
        labels = events_to_dense(
            events, n_frames=len(video), classes=spotter.classes_, frame_rate=2.0
        )
        target, mask = displacement_targets(labels, radius)
        errors.append(np.abs(displacement - target)[mask])
        zero.append(np.abs(target)[mask])
    return float(np.concatenate(errors).mean()), float(np.concatenate(zero).mean())


def run_seed(seed, budget, variants, threads=1):
    torch.set_num_threads(threads)
    X_train, y_train, X_test, y_test, classes = _split(seed, PROFILE)
    X_valid, y_valid = make_spotting_data(
        N_VALID,
        n_features=PROFILES[PROFILE]["n_features"],
        random_state=5000 + seed,
    )
    valid = {"X_valid": X_valid, "y_valid": y_valid}
    start = time.perf_counter()
    base = _spotter(budget, classes, seed).fit(X_train, y_train, **valid)
    results = {}

    def score(name, spotter, seconds):
        dense = spotter.predict_scores(X_test)
        events = [
            scores_to_events(c, d, classes=classes, frame_rate=2.0) for c, d in dense
        ]
        error, zero = _displacement_error(spotter, dense, X_test, y_test)
        results[name] = {
            **_scores(y_test, events, classes),
            "error": error,
            "seconds": seconds,
        }
        results["zero"] = {"error": zero}
        print(
            f"seed {seed} budget {budget} {name}: loose {results[name]['loose']:.4f} "
            f"tight {results[name]['tight']:.4f} error {error:.2f} "
            f"(zero {zero:.2f}) {seconds:.0f} s",
            flush=True,
        )

    dense = base.predict_scores(X_test)
    without = [
        scores_to_events(c, None, classes=classes, frame_rate=2.0) for c, _ in dense
    ]
    results["w/o D"] = _scores(y_test, without, classes)
    score("defaults", base, time.perf_counter() - start)
    for name in variants:
        if name == "defaults":
            continue
        start = time.perf_counter()
        spotter = clone(base).set_params(**VARIANTS[name])
        if name == "2x steps":
            spotter.set_params(
                epochs=2 * base.epochs, validation_interval=2 * base.validation_interval
            )
        # the same confidence network for every variant: only displacement differs
        spotter._fit_confidence = lambda *args, **kwargs: copy.deepcopy(
            base.confidence_net_
        )
        spotter.fit(X_train, y_train, **({} if name == "last epoch" else valid))
        score(name, spotter, time.perf_counter() - start)
    return results


def summarise(runs_by_budget):
    lines = [
        "| budget (steps) | variant | loose | tight | tight gain over w/o D "
        "| displacement error (frames) |",
        "|---|---|---|---|---|---|",
    ]
    for budget, runs in runs_by_budget.items():
        for name in runs[0]:
            if name == "zero":
                error = np.array([r["zero"]["error"] for r in runs])
                lines.append(
                    f"| {budget} | predict 0 | | | "
                    f"| {error.mean():.2f} ± {error.std():.2f} |"
                )
                continue
            loose = np.array([r[name]["loose"] for r in runs]) * 100
            tight = np.array([r[name]["tight"] for r in runs]) * 100
            gain = tight - np.array([r["w/o D"]["tight"] for r in runs]) * 100
            error = (
                f"{np.mean([r[name]['error'] for r in runs]):.2f} ± "
                f"{np.std([r[name]['error'] for r in runs]):.2f}"
                if "error" in runs[0][name]
                else ""
            )
            lines.append(
                f"| {budget} | {name} | {loose.mean():.1f} ± {loose.std():.1f} "
                f"| {tight.mean():.1f} ± {tight.std():.1f} "
                f"| {gain.mean():+.1f} ± {gain.std():.1f} | {error} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[500, 2000])
    parser.add_argument(
        "--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS)
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    tasks = [(budget, seed) for budget in args.budgets for seed in range(args.seeds)]
    outputs = Parallel(n_jobs=args.jobs)(
        delayed(run_seed)(seed, budget, args.variants) for budget, seed in tasks
    )
    runs = {}
    for (budget, _), output in zip(tasks, outputs):
        runs.setdefault(budget, []).append(output)
    table = summarise(runs)
    print(table)
    print(f"total {time.perf_counter() - start:.0f} s")
    with open(os.path.join(args.out, "displacement_cpu.json"), "w") as f:
        json.dump({str(b): r for b, r in runs.items()}, f, indent=1)


if __name__ == "__main__":
    main()
