"""``sk-spotting evaluate``: SoccerNet average-mAP of results files."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from ._common import default_classes, echo, load_data, parse_tolerances, plural
from ._fit import add_data_arguments

DESCRIPTION = """\
Score results_spotting.json files (a folder or a submission zip) against the
labels of the games under DATA_ROOT with sk_spotting's average-mAP, which
equals the official SoccerNet devkit's.  Prints the average-mAP, its mAP at
each tolerance and the AP of each class; --json prints all of it as JSON.

Classes are the 17 SoccerNet-v2 classes when every label is one of them (as in
the devkit, a class without labels counts with AP 0), else the labels seen.
"""


def add_parser(subparsers, parents):
    """Register ``evaluate`` on ``subparsers``."""
    parser = subparsers.add_parser(
        "evaluate",
        parents=parents,
        help="average-mAP of results files, per class and per tolerance",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_root", metavar="DATA_ROOT", help="data root (labels)")
    parser.add_argument(
        "results", metavar="RESULTS", help="results folder or submission zip"
    )
    add_data_arguments(parser, split_help="official split to score")
    parser.add_argument(
        "--tolerances",
        type=parse_tolerances,
        default="loose",
        metavar="T",
        help="'loose' (5-60 s), 'tight' (1-5 s) or seconds such as 1,2,3 "
        "(default: loose)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the full results as JSON"
    )
    parser.set_defaults(run=run)
    return parser


def load_truth_and_predictions(args):
    """Labels, predictions, meta and classes of ``args.data_root``/``results``."""
    from ..datasets import read_soccernet_predictions

    X, y_true, meta = load_data(
        args.data_root,
        split=args.split,
        features=args.features,
        frame_rate=args.frame_rate or 2.0,
    )
    durations = [x.shape[0] for x in X]
    del X
    y_pred = read_soccernet_predictions(args.results, meta)
    meta = meta.assign(n_frames=durations)
    return y_true, y_pred, meta, default_classes(y_true, y_pred)


def evaluation_to_dict(result, *, n_videos=None):
    """A JSON-ready dict of a :class:`~sk_spotting.metrics.SpottingEvaluation`.

    Parameters
    ----------
    result : SpottingEvaluation
        Detailed evaluation.
    n_videos : int, default=None
        Number of videos scored, recorded when given.

    Returns
    -------
    data : dict
        ``average_map`` (and its visible/unshown variants), ``tolerances``,
        ``classes``, ``map_per_tolerance`` and per-class ``average_ap``,
        plus ``ap_per_class`` as one list per tolerance.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import average_map_score
    >>> from sk_spotting.cli._evaluate import evaluation_to_dict
    >>> y_true = [pd.DataFrame({"time": [30.0], "label": ["Goal"]})]
    >>> y_pred = [pd.DataFrame({"time": [31.0], "label": ["Goal"],
    ...                         "confidence": [0.8]})]
    >>> result = average_map_score(y_true, y_pred, tolerances=[1.0, 5.0],
    ...                            return_details=True)
    >>> evaluation_to_dict(result)["map_per_tolerance"]
    [0.0, 1.0]
    """
    data = {
        "average_map": result.average_map,
        "average_map_visible": result.average_map_visible,
        "average_map_unshown": result.average_map_unshown,
        "tolerances": [float(t) for t in result.tolerances],
        "classes": list(result.classes),
        "map_per_tolerance": [float(v) for v in result.map_per_tolerance],
        "average_ap_per_class": dict(
            zip(result.classes, map(float, result.average_ap_per_class))
        ),
        "ap_per_class": [[float(v) for v in row] for row in result.ap_per_class],
    }
    if n_videos is not None:
        data["n_videos"] = int(n_videos)
    return data


def _label_counts(y_true, classes):
    labels = pd.concat([t["label"] for t in y_true], ignore_index=True)
    return labels.value_counts().reindex(classes, fill_value=0).to_numpy()


def format_evaluation(result, y_true, name):
    """Tables of an evaluation as text (headline, per tolerance, per class).

    Parameters
    ----------
    result : SpottingEvaluation
        Detailed evaluation.
    y_true : list of pandas.DataFrame
        The labels scored, for the per-class counts.
    name : str
        Name of the tolerance set, printed in the headline.

    Returns
    -------
    text : str
    """
    tolerances = result.tolerances
    span = f"{tolerances[0]:g} s"
    if len(tolerances) > 1:
        low, high = tolerances.min(), tolerances.max()
        span = f"{len(tolerances)} tolerances, {low:g}-{high:g} s"
    lines = [
        f"average-mAP ({name}, {span}): {100 * result.average_map:.2f}"
        f"   visible {100 * result.average_map_visible:.2f}"
        f"   unshown {100 * result.average_map_unshown:.2f}",
        "",
        "mAP per tolerance:",
    ]
    per_tolerance = pd.DataFrame(
        {
            "tolerance (s)": [f"{t:g}" for t in tolerances],
            "mAP": np.round(100 * result.map_per_tolerance, 2),
        }
    )
    lines += ["  " + row for row in per_tolerance.to_string(index=False).splitlines()]
    per_class = pd.DataFrame(
        {
            "class": list(result.classes),
            "labels": _label_counts(y_true, list(result.classes)),
            "AP": np.round(100 * result.average_ap_per_class, 2),
            "AP visible": np.round(100 * result.average_ap_per_class_visible, 2),
            "AP unshown": np.round(100 * result.average_ap_per_class_unshown, 2),
        }
    )
    lines += ["", "AP per class (averaged over the tolerances):"]
    lines += ["  " + row for row in per_class.to_string(index=False).splitlines()]
    return "\n".join(lines)


def run(args):
    """Score and print; returns the exit code."""
    from ..metrics import average_map_score

    y_true, y_pred, _, classes = load_truth_and_predictions(args)
    result = average_map_score(
        y_true,
        y_pred,
        tolerances=args.tolerances,
        classes=classes,
        return_details=True,
    )
    if args.json:
        echo(json.dumps(evaluation_to_dict(result, n_videos=len(y_true)), indent=2))
    else:
        name = args.tolerances if isinstance(args.tolerances, str) else "custom"
        echo(f"{plural(len(y_true), 'video')} scored")
        echo(format_evaluation(result, y_true, name))
    return 0
