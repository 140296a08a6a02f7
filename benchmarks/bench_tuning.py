"""Tuning in turn on the CPU profile: the defaults against the tuned model.

The CPU profile of ``bench_accuracy.py`` (64 training halves of 45 min, 128
features, a 3-level u-net, 2,000 steps of 16 chunks per network, learning rate
2e-3) keeps the estimator's SAM rho 0.5 and mixup alpha 2, which leave the
network near an untrained one at that budget.  The paper's remedy is its
protocol: tune the learning rate, then rho, then the weight decay, then alpha,
each on validation.  This script runs that protocol with
:func:`sk_spotting.model_selection.tune_in_turn` over the default search spaces
(``--trials`` trials per parameter, two worker processes of one torch thread,
median pruning from a trial's ``--prune-from-validation``-th validation of its
confidence network on), then trains four configurations once more each and
reports, on test halves that tuning never saw:

* loose and tight average-mAP of the defaults, of the tuned model, and of
  plain training (SAM and mixup off) with the defaults' and with the tuned
  learning rate and weight decay, which says whether tuned SAM and mixup
  beat leaving them out; each with the default 20-s NMS window and with
  per-class windows tuned on the validation halves (``tune_nms_windows``,
  no refit);
* each study's best value and best validation score, and the validation
  score of the defaults (the first trial).

With two workers the studies are not bit-reproducible: which trials the
sampler has seen finish when it draws the next one depends on timing.

Training, validation (8 halves) and test (8 halves) are distinct videos of one
``make_spotting_data`` draw.  Writes ``tuning_<name>.json`` and
``tuning_<name>.png`` (every trial of each study) under ``--out``; with
``--start plain`` the name ends in ``-start-plain``, and configurations that
coincide are trained once.

Usage::

    python benchmarks/bench_tuning.py            # CPU profile, ~25 min on 2 cores
    python benchmarks/bench_tuning.py --start plain   # tune from SAM/mixup off
    python benchmarks/bench_tuning.py --quick    # tiny data, minutes: a check
"""

from __future__ import annotations

import argparse
import json
import os
import time

import optuna
import torch
from bench_accuracy import PROFILES  # this folder, on sys.path as a script
from bench_nms_windows import N_VALID, QUICK, nms_effect, three_way_split
from joblib import Parallel, delayed
from matplotlib.figure import Figure

from sk_spotting import DenseAnchorSpotter
from sk_spotting.model_selection import tune_in_turn
from sk_spotting.plotting import plot_tuning_trials

PARAMS = ("learning_rate", "sam_rho", "weight_decay", "mixup_alpha")
N_TRIALS = 3
# Validation every 25 epochs: 5 scores per network of 125 epochs, for the
# pruner and the best-epoch choice, at a small share of the training time.
VALIDATION_INTERVAL = 25


def make_spotter(profile, classes, seed, validation_interval):
    return DenseAnchorSpotter(
        **PROFILES[profile]["spotter"],
        displacement_class_weight=None,
        validation_interval=validation_interval,
        classes=classes,
        random_state=seed,
    )


def fit_and_score(spotter, params, train, valid, test, classes, threads):
    """Train ``spotter`` with ``params`` (validating) and score it on ``test``."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    spotter = spotter.set_params(**params).fit(
        *train, X_valid=valid[0], y_valid=valid[1]
    )
    return {
        "params": {k: spotter.get_params()[k] for k in PARAMS},
        "seconds": time.perf_counter() - start,
        "test": nms_effect(spotter, valid, test, classes),
    }


def studies_summary(result):
    """Per study: best value, best validation score, trials by state."""
    summary = {}
    for key in result.best_params:
        rows = result.trials[
            (result.trials["param"] == key) & ~result.trials["carried"]
        ]
        summary[key] = {
            "best_value": result.best_params[key],
            "best_validation_score": result.best_scores[key],
            "states": rows["state"].value_counts().to_dict(),
        }
    return summary


def plot(result, path, profile):
    keys = list(result.best_params)
    figure = Figure(figsize=(3.2 * len(keys), 3.2), layout="constrained")
    axes = figure.subplots(1, len(keys), sharey=True)
    for i, (ax, key) in enumerate(zip(axes, keys)):
        plot_tuning_trials(result, key, ax=ax, title=f"{i + 1}. {key}")
        ax.set_ylabel("validation loose average-mAP" if i == 0 else "")
    axes[-1].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"tune_in_turn, profile {profile}: every trial of each study")
    figure.savefig(path, dpi=90)


def _line(name, scores):
    return f"| {name} | {100 * scores['loose']:.1f} | {100 * scores['tight']:.1f} |"


def report(final):
    lines = ["| model | test loose average-mAP | test tight average-mAP |"]
    lines.append("|---|---|---|")
    for name, run in final.items():
        for decoding, scores in run["test"].items():
            lines.append(_line(f"{name}, {decoding}", scores))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=N_TRIALS, help="per parameter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--prune-from-validation",
        type=int,
        default=2,
        help="the first validation of a trial at which the median pruner may "
        "stop it (1: the first)",
    )
    parser.add_argument(
        "--start",
        choices=["defaults", "plain"],
        default="defaults",
        help="the spotter tuning starts from: the estimator's defaults, or "
        "plain training (SAM and mixup off)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny data, a check")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    profile, n_valid, minutes = "cpu", N_VALID, 45.0
    interval = VALIDATION_INTERVAL
    if args.quick:
        profile, n_valid, minutes = QUICK["profile"], QUICK["n_valid"], QUICK["minutes"]
        interval = 1
    name = "quick" if args.quick else profile
    if args.start == "plain":
        name += "-start-plain"
    print(
        f"# profile {profile}{' (quick)' if args.quick else ''}, seed {args.seed}, "
        f"start {args.start}, {args.trials} trials per parameter, "
        f"{args.jobs} workers, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs",
        flush=True,
    )
    train, valid, test, classes = three_way_split(args.seed, profile, n_valid, minutes)
    spotter = make_spotter(profile, classes, args.seed, interval)
    plain = {"sam_rho": 0.0, "mixup_alpha": 0.0}
    if args.start == "plain":
        spotter.set_params(**plain)
    start = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = tune_in_turn(
        spotter,
        *train,
        X_valid=valid[0],
        y_valid=valid[1],
        params=PARAMS,
        n_trials_per_param=args.trials,
        n_jobs=args.jobs,
        # steps are epochs of the confidence network, validated every
        # `interval`: the earliest prune is at step n_warmup_steps
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=2, n_warmup_steps=args.prune_from_validation * interval
        ),
        random_state=args.seed,
        refit=False,
    )
    tuning_seconds = time.perf_counter() - start
    print(result.trials[["param", "number", "state", "value", *PARAMS]].to_string())
    print(f"tuning {tuning_seconds:.0f} s; best {result.best_params}", flush=True)
    threads = max(1, (os.cpu_count() or 1) // 2)
    candidates = {
        "defaults": {},
        "tuned": result.best_params,
        "plain (defaults, SAM and mixup off)": plain,
        "plain (tuned, SAM and mixup off)": {**result.best_params, **plain},
    }
    variants, seen = {}, []
    for key, params in candidates.items():  # each configuration trained once
        full = {**spotter.get_params(), **params}
        if full not in seen:
            variants[key] = params
            seen.append(full)
    runs = Parallel(n_jobs=2)(
        delayed(fit_and_score)(spotter, params, train, valid, test, classes, threads)
        for params in variants.values()
    )
    final = dict(zip(variants, runs))
    first = result.trials[result.trials["param"] == PARAMS[0]].iloc[0]
    summary = {
        "profile": profile,
        "quick": args.quick,
        "seed": args.seed,
        "start": args.start,
        "trials_per_param": args.trials,
        "prune_from_validation": args.prune_from_validation,
        "tuning_seconds": tuning_seconds,
        "total_seconds": time.perf_counter() - start,
        "defaults_validation_score": first["value"],
        "studies": studies_summary(result),
        "final": final,
        "trials": result.trials.to_dict(orient="list"),
    }
    print(report(final))
    for key, study in summary["studies"].items():
        print(
            f"study {key}: best {study['best_value']!r}, validation "
            f"{100 * study['best_validation_score']:.1f}, {study['states']}"
        )
    print(
        f"defaults on validation (first trial): "
        f"{100 * summary['defaults_validation_score']:.1f}; "
        f"total {summary['total_seconds']:.0f} s"
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"tuning_{name}.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    plot(result, os.path.join(args.out, f"tuning_{name}.png"), name)


if __name__ == "__main__":
    main()
