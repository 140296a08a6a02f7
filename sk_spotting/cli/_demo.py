"""``sk-spotting demo``: the whole method on synthetic SoccerNet-like data.

Trains a small u-net DenseAnchorSpotter on :func:`make_spotting_data` videos,
scores the test games with and without displacement (loose and tight
average-mAP, per-class AP), writes SoccerNet-format predictions and a
submission zip, the mAP-against-tolerance figure (the paper's Figure 2) and a
full HTML report.  All the numbers of the configuration are in
:data:`DEMO_CONFIG`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import echo

#: The demo's configuration: data sizes and estimator parameters.  Sized to
#: finish within 5 minutes on 2 CPU cores (``make demo``).  SAM and mixup are
#: off: with the ~1,300 steps per network that fit in that time they slow
#: learning down (measured: ``sam_rho=0.5`` for 40 epochs stayed at the loose
#: average-mAP of an untrained model, 8.4, where these settings reach 14.8);
#: the paper runs 32,000 steps.  The displacement anchors are weighed alike
#: (``displacement_class_weight="auto"`` chooses that for batches this small:
#: the reference's per-class balancing did not learn the frequent classes'
#: displacements), and 64 training halves keep the network from memorising
#: rare actions.  See docs/benchmarks.md.
DEMO_CONFIG = {
    "n_features": 128,  # features per frame
    "minutes": 45.0,  # length of each video (one half)
    "n_train_videos": 64,
    "n_valid_videos": 2,
    "n_test_games": 1,  # two halves each, written in the SoccerNet layout
    "random_state": 0,
    # Torch threads: a model this small gains little from a second thread,
    # and two threads slow down badly when the cores are shared with other
    # work (measured 8x); None keeps torch's default.
    "n_threads": 1,
    "estimator": {
        "trunk": "unet",
        "chunk_duration": 32.0,
        "unet_levels": 3,
        "epochs": 160,
        "chunks_per_epoch": 256,
        "batch_size": 16,
        "learning_rate": 2e-3,
        "sam_rho": 0.0,
        "mixup_alpha": 0.0,
        "validation_interval": 20,
    },
}

#: ``--quick``: a tiny configuration that checks the whole path in seconds.
QUICK_CONFIG = {
    "n_features": 16,
    "minutes": 3.0,
    "n_train_videos": 2,
    "n_valid_videos": 1,
    "n_test_games": 1,
    "random_state": 0,
    "n_threads": 1,
    "estimator": {
        "trunk": "unet",
        "chunk_duration": 16.0,
        "unet_levels": 2,
        "epochs": 2,
        "chunks_per_epoch": 16,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "sam_rho": 0.0,
        "mixup_alpha": 0.0,
        "validation_interval": 1,
    },
}

TOLERANCE_CURVE = tuple(float(t) for t in range(1, 61))
FEATURES = "synthetic"


def add_parser(subparsers, parents):
    """Register ``demo`` on ``subparsers``."""
    parser = subparsers.add_parser(
        "demo",
        parents=parents,
        help="train and score a small model on synthetic data (a few minutes)",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        default="demo_output",
        metavar="DIR",
        help="folder for the outputs (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny configuration that runs in seconds (for tests)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)
    return parser


class _Clock:
    def __init__(self):
        self.start = time.perf_counter()

    def __str__(self):
        return f"[{time.perf_counter() - self.start:5.0f} s]"


def _make_data(config, out):
    """Train and valid videos in memory; test games written and read back."""
    from ..datasets import load_soccernet, make_soccernet_tree, make_spotting_data

    seed = config["random_state"]
    common = {"n_features": config["n_features"], "minutes": config["minutes"]}
    X_train, y_train = make_spotting_data(
        config["n_train_videos"], random_state=seed, **common
    )
    X_valid, y_valid = make_spotting_data(
        config["n_valid_videos"], random_state=seed + 1, **common
    )
    root = out / "data"
    games = make_soccernet_tree(
        root,
        config["n_test_games"],
        features=FEATURES,
        random_state=seed + 2,
        **common,
    )
    X_test, y_test, meta = load_soccernet(root, games=games, features=FEATURES)
    X_test = [np.array(x) for x in X_test]  # small: read the memory maps once
    return (X_train, y_train), (X_valid, y_valid), (X_test, y_test, meta)


def _decode(model, scores):
    """Events with and without displacement from ``predict_scores`` outputs."""
    from ..postprocessing import scores_to_events

    window = model.nms_window
    if isinstance(window, dict):
        window = [float(window[c]) for c in model.classes_]
    options = {
        "classes": model.classes_,
        "frame_rate": model.frame_rate,
        "nms_method": model.nms,
        "nms_window": window,
    }
    with_d = [scores_to_events(s.confidence, s.displacement, **options) for s in scores]
    without_d = [scores_to_events(s.confidence, None, **options) for s in scores]
    return {"with displacement": with_d, "without displacement": without_d}


def _score_table(y_true, predictions, classes):
    from ..metrics import average_map_score

    results, per_class = {}, {}
    for name, y_pred in predictions.items():
        for tolerance in ("loose", "tight"):
            result = average_map_score(
                y_true,
                y_pred,
                tolerances=tolerance,
                classes=classes,
                return_details=True,
            )
            results[(name, tolerance)] = result.average_map
            short = "w/ D" if name.startswith("with ") else "w/o D"
            per_class[f"{tolerance} {short}"] = 100 * result.average_ap_per_class
    summary = pd.DataFrame(
        {
            tolerance: [100 * results[(name, tolerance)] for name in predictions]
            for tolerance in ("loose", "tight")
        },
        index=list(predictions),
    )
    return summary, pd.DataFrame(per_class, index=list(classes)), results


def _curve_figure(y_true, predictions, classes, path):
    from ..metrics import average_map_score
    from ..plotting import plot_map_vs_tolerance

    curves = {
        name: average_map_score(
            y_true,
            y_pred,
            tolerances=TOLERANCE_CURVE,
            classes=classes,
            return_details=True,
        )
        for name, y_pred in predictions.items()
    }
    ax = plot_map_vs_tolerance(curves, title="Synthetic test games (demo)")
    ax.figure.savefig(path, dpi=110)
    return path


def run_demo(out, config, *, verbose=1):
    """Run the demo with ``config`` into ``out``; return its scores.

    Parameters
    ----------
    out : str or path-like
        Output folder (created).
    config : dict
        Shaped like :data:`DEMO_CONFIG`.
    verbose : int, default=1
        Progress bars when > 0.

    Returns
    -------
    scores : dict
        Loose and tight average-mAP with and without displacement.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _fixed_threads(config.get("n_threads")):
        return _run_demo(out, config, verbose)


@contextlib.contextmanager
def _fixed_threads(n_threads):
    """Torch and BLAS threads fixed to ``n_threads`` (restored afterwards), so
    that the demo's numbers do not depend on the machine's number of cores."""
    if n_threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _run_demo(out, config, verbose):
    from .. import DenseAnchorSpotter, save_spotter
    from ..datasets import SOCCERNET_V2_CLASSES, write_soccernet_predictions
    from ._report import write_report

    clock = _Clock()
    train, valid, (X_test, y_test, meta) = _make_data(config, out)
    hours = sum(len(x) for x in train[0]) / (3600 * 2.0)
    echo(
        f"{clock} synthetic data: {len(train[0])} training videos ({hours:.1f} h), "
        f"{len(valid[0])} validation videos, {len(X_test)} test videos "
        f"({config['n_features']} features at 2 fps, 17 SoccerNet-v2 classes)"
    )
    classes = list(SOCCERNET_V2_CLASSES)
    model = DenseAnchorSpotter(
        **config["estimator"],
        classes=classes,
        random_state=config["random_state"],
        verbose=verbose,
    )
    echo(f"{clock} training {model!r}")
    model.fit(*train, X_valid=valid[0], y_valid=valid[1])
    path = save_spotter(model, out / "model.safetensors")
    echo(f"{clock} trained; model saved to {str(path)!r}")

    predictions = _decode(model, model.predict_scores(X_test))
    summary, per_class, results = _score_table(y_test, predictions, classes)
    echo(f"{clock} average-mAP (%) on the test games:")
    echo(summary.round(2).to_string())
    echo("\nAP per class (%, averaged over the tolerances):")
    echo(per_class.round(1).to_string())

    results_dir = out / "results"
    write_soccernet_predictions(
        predictions["with displacement"],
        meta,
        results_dir,
        zip_path=out / "submission.zip",
    )
    figure = _curve_figure(y_test, predictions, classes, out / "map_vs_tolerance.png")
    report = write_report(
        out / "report",
        y_test,
        predictions,
        meta=meta,
        classes=classes,
        title="sk-spotting demo: synthetic test games",
    )
    scores = {
        f"{tolerance}_{'with' if name.startswith('with ') else 'without'}"
        f"_displacement": float(value)
        for (name, tolerance), value in results.items()
    }
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    echo(f"\n{clock} wrote:")
    for text in (
        f"{results_dir}/<game>/results_spotting.json and {out / 'submission.zip'}",
        f"{figure} (mAP against tolerance, with and without displacement)",
        f"{report['html']} (report with every figure)",
        f"{out / 'scores.json'}",
        f"try: sk-spotting evaluate {out / 'data'} {results_dir} --features {FEATURES}",
    ):
        echo(f"  {text}")
    return scores


def run(args):
    """Run the demo; returns the exit code."""
    config = QUICK_CONFIG if args.quick else DEMO_CONFIG
    run_demo(args.out, config, verbose=0 if args.quiet else 1)
    return 0
