"""Gain of an ensemble of seeds over its members, on the synthetic data.

One synthetic split of ``bench_accuracy.py`` (its profile's training and test
halves) and its DU spotter (u-net, no SAM, no mixup, displacement anchors
weighed alike); ``VotingSpotter.from_seeds`` fits one member per seed, in
parallel processes of ``--threads`` torch threads each.  The script scores on
the test halves each member alone, every pair of members and the whole
ensemble (the members' dense confidences and displacements averaged, then one
NMS), prints loose and tight average-mAP and writes them as JSON.

Usage::

    python benchmarks/bench_ensemble.py --jobs 2               # 3 seeds, ~5 min
    python benchmarks/bench_ensemble.py --profile gpu --jobs 3 --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch
from bench_accuracy import (  # this folder, on sys.path as a script
    CURVE_TOLERANCES,
    PROFILES,
    VARIANTS,
    _scores,
    _split,
)

from sk_spotting import DenseAnchorSpotter
from sk_spotting.ensemble import VotingSpotter

VARIANT = "DU"


def fit_ensemble(profile, seeds, data_seed, device, jobs, threads):
    """Fit the ensemble; returns it, the test split, the classes and seconds."""
    X_train, y_train, X_test, y_test, classes = _split(data_seed, profile)
    spotter = DenseAnchorSpotter(
        **PROFILES[profile]["spotter"],
        **{"displacement_class_weight": None, **VARIANTS[VARIANT]},
        classes=classes,
        device=device,
    )
    ensemble = VotingSpotter.from_seeds(
        spotter, seeds=seeds, n_jobs=jobs, n_threads=threads
    )
    start = time.perf_counter()
    ensemble.fit(X_train, y_train)
    return ensemble, X_test, y_test, classes, time.perf_counter() - start


def evaluate(ensemble, X_test, y_test, classes):
    """Scores of every member, every pair and the whole ensemble.

    The subsets are the fitted ensemble with weight 0 on the members left out,
    so no member is fitted twice.
    """
    names = list(ensemble.named_estimators_)
    results = {}
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), size):
            weights = [1.0 if i in subset else 0.0 for i in range(len(names))]
            ensemble.set_params(weights=weights)
            key = " + ".join(names[i] for i in subset)
            results[key] = _scores(y_test, ensemble.predict(X_test), classes)
            print(
                f"{key}: loose {results[key]['loose']:.4f} "
                f"tight {results[key]['tight']:.4f}",
                flush=True,
            )
    ensemble.set_params(weights=None)
    return results


def summarise(results, names):
    lines = ["| model | loose average-mAP | tight average-mAP |", "|---|---|---|"]

    def row(label, subsets):
        loose = np.array([results[s]["loose"] for s in subsets]) * 100
        tight = np.array([results[s]["tight"] for s in subsets]) * 100
        spread = f" ± {loose.std():.1f}" if len(subsets) > 1 else ""
        tight_spread = f" ± {tight.std():.1f}" if len(subsets) > 1 else ""
        lines.append(
            f"| {label} | {loose.mean():.1f}{spread} | {tight.mean():.1f}"
            f"{tight_spread} |"
        )

    for name in names:
        row(f"member {name}", [name])
    row("members, mean ± std", names)
    pairs = [" + ".join(p) for p in itertools.combinations(names, 2)]
    if len(names) > 2:
        row("pairs of members, mean ± std", pairs)
    row(f"ensemble of {len(names)}", [" + ".join(names)])
    return "\n".join(lines)


def write_json(payload, path):
    """Write ``payload`` to ``path`` atomically (a temporary file, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=".tmp", delete=False
    ) as file:
        json.dump(payload, file, indent=1)
    os.replace(file.name, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=list(PROFILES), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--data-seed", type=int, default=0, help="bench_accuracy's split seed"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="members fitted at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # predictions too: on a busy 2-core box, two threads ran inference 20-60x
    # slower than one
    torch.set_num_threads(args.threads)
    print(
        f"# profile {args.profile}, seeds {args.seeds}, data seed {args.data_seed}, "
        f"torch {torch.__version__}, {args.jobs} jobs of {args.threads} threads",
        flush=True,
    )
    start = time.perf_counter()
    ensemble, X_test, y_test, classes, fit_seconds = fit_ensemble(
        args.profile, args.seeds, args.data_seed, args.device, args.jobs, args.threads
    )
    print(f"fit {fit_seconds:.0f} s", flush=True)
    results = evaluate(ensemble, X_test, y_test, classes)
    names = list(ensemble.named_estimators_)
    print(summarise(results, names))
    total = time.perf_counter() - start
    print(f"total {total:.0f} s")
    write_json(
        {
            "profile": args.profile,
            "variant": VARIANT,
            "seeds": args.seeds,
            "data_seed": args.data_seed,
            "jobs": args.jobs,
            "threads": args.threads,
            "fit_seconds": fit_seconds,
            "total_seconds": total,
            "torch": torch.__version__,
            "machine": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs",
            "tolerances": CURVE_TOLERANCES,
            "results": results,
        },
        os.path.join(args.out, f"ensemble_{args.profile}.json"),
    )


if __name__ == "__main__":
    main()
