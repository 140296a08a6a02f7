"""Per-class NMS windows tuned on validation: their effect on held-out test halves.

For each seed, a u-net (the CPU profile of ``bench_accuracy.py``: 64 training
halves of 45 min, 128 features, 2,000 steps of 16 chunks per network, no SAM,
no mixup) is trained once; then, without any refit,
:func:`sk_spotting.model_selection.tune_nms_windows` chooses each class's
window on 8 validation halves (maximising its loose, then its tight, average
AP), and the same dense outputs of 8 test halves are decoded with the default
20-s window and with each set of tuned windows.  Training, validation and test
halves are distinct videos of one ``make_spotting_data`` draw.

Usage::

    python benchmarks/bench_nms_windows.py --seeds 3 --jobs 2   # minutes per seed
    python benchmarks/bench_nms_windows.py --quick              # seconds, a check
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from bench_accuracy import PROFILES, _scores  # this folder, on sys.path as a script
from joblib import Parallel, delayed

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.model_selection import DEFAULT_NMS_WINDOWS, tune_nms_windows
from sk_spotting.postprocessing import scores_to_events

N_VALID = 8  # validation halves, as many as the CPU profile's test halves
QUICK = {"profile": "smoke", "minutes": 4.0, "n_valid": 2}


def three_way_split(seed, profile, n_valid=N_VALID, minutes=45.0):
    """Training, validation and test halves (distinct videos) and the classes."""
    cfg = PROFILES[profile]
    n_train, n_test = cfg["n_train"], cfg["n_test"]
    X, y = make_spotting_data(
        n_train + n_valid + n_test,
        n_features=cfg["n_features"],
        minutes=minutes,
        random_state=1000 + seed,
    )
    classes = sorted({label for e in y for label in e["label"]})
    cut = [n_train, n_train + n_valid]
    parts = [(X[a:b], y[a:b]) for a, b in zip([0, *cut], [*cut, None])]
    return (*parts, classes)


def decode(dense, classes, windows, spotter):
    """Events of each video from dense outputs, with ``windows`` as NMS."""
    if isinstance(windows, dict):
        windows = [windows[c] for c in classes]
    return [
        scores_to_events(
            s.confidence,
            s.displacement,
            classes=classes,
            frame_rate=spotter.frame_rate,
            nms_method=spotter.nms,
            nms_window=windows,
        )
        for s in dense
    ]


def nms_effect(spotter, valid, test, classes):
    """Test scores with the spotter's window and with windows tuned on ``valid``.

    Returns ``{name: {"loose", "tight", "curve", "windows"}}`` for the
    spotter's own window and the windows tuned for loose and tight AP.
    """
    dense = spotter.predict_scores(test[0])
    results = {}
    runs = {"default window": spotter.nms_window}
    for tolerances in ("loose", "tight"):
        runs[f"windows tuned ({tolerances})"] = tune_nms_windows(
            spotter, *valid, tolerances=tolerances
        )
    for name, windows in runs.items():
        scores = _scores(test[1], decode(dense, classes, windows, spotter), classes)
        results[name] = {**scores, "windows": windows}
    return results


def run_seed(seed, profile, n_valid, minutes, threads):
    if threads:
        torch.set_num_threads(threads)
    train, valid, test, classes = three_way_split(seed, profile, n_valid, minutes)
    start = time.perf_counter()
    spotter = DenseAnchorSpotter(
        **PROFILES[profile]["spotter"],
        sam_rho=0.0,
        mixup_alpha=0.0,
        displacement_class_weight=None,
        classes=classes,
        random_state=seed,
    ).fit(*train)
    fitted = time.perf_counter() - start
    results = nms_effect(spotter, valid, test, classes)
    for name, result in results.items():
        print(
            f"seed {seed} {name}: loose {result['loose']:.4f} tight "
            f"{result['tight']:.4f}",
            flush=True,
        )
    return {
        "seconds_fit": fitted,
        "seconds_total": time.perf_counter() - start,
        **results,
    }


def summarise(runs):
    names = [n for n in runs[0] if not n.startswith("seconds")]
    lines = ["| decoding | loose average-mAP | tight average-mAP |", "|---|---|---|"]
    for name in names:
        loose = np.array([r[name]["loose"] for r in runs]) * 100
        tight = np.array([r[name]["tight"] for r in runs]) * 100
        lines.append(
            f"| {name} | {loose.mean():.1f} ± {loose.std():.1f} "
            f"| {tight.mean():.1f} ± {tight.std():.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="seeds in parallel")
    parser.add_argument("--quick", action="store_true", help="tiny data, a check")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    profile, n_valid, minutes = "cpu", N_VALID, 45.0
    if args.quick:
        profile, n_valid, minutes = QUICK["profile"], QUICK["n_valid"], QUICK["minutes"]
    print(
        f"# profile {profile}{' (quick)' if args.quick else ''}, {args.seeds} seeds, "
        f"windows tried {list(DEFAULT_NMS_WINDOWS)}, torch {torch.__version__}",
        flush=True,
    )
    start = time.perf_counter()
    threads = 1 if args.jobs > 1 else None
    runs = Parallel(n_jobs=args.jobs)(
        delayed(run_seed)(seed, profile, n_valid, minutes, threads)
        for seed in range(args.seeds)
    )
    print(summarise(runs))
    print(f"total {time.perf_counter() - start:.0f} s")
    os.makedirs(args.out, exist_ok=True)
    name = "nms_windows_quick" if args.quick else "nms_windows"
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump({"profile": profile, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
