"""``sk-spotting evaluate``: SoccerNet average-mAP of results files."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd

from ._common import (
    CommandError,
    UsageError,
    echo,
    load_data,
    parse_tolerances,
    plural,
)
from ._fit import add_data_arguments

DESCRIPTION = """\
Score results_spotting.json files (a folder or a submission zip) against the
labels of the games under DATA_ROOT with sk_spotting's average-mAP, which
equals the official SoccerNet devkit's.  Prints the average-mAP, its mAP at
each tolerance and the AP of each class; --json prints all of it as JSON.

The ground truth defines the classes (--classes): the 17 SoccerNet-v2 classes
when its labels are SoccerNet-v2 ones (as in the devkit, a class without labels
counts with AP 0), else the labels it holds.  A label outside the classes is an
error naming its game and half: in the labels always, in the results unless
--unknown-labels drop.  Every game scored needs its Labels-v2.json.

--ci adds bootstrap percentile intervals of the average-mAP and of each class's
AP: the games are resampled with replacement (both halves of a game together),
with a fixed seed so that the output repeats; it needs at least 2 games.
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
    add_interval_arguments(parser)
    parser.add_argument(
        "--ci",
        action="store_true",
        help="add bootstrap confidence intervals over games",
    )
    add_label_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def _n_resamples(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _confidence_level(text):
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def add_interval_arguments(parser, *, default_resamples=1000, zero_help=""):
    """Add ``--n-resamples`` and ``--confidence-level`` to ``parser``."""
    parser.add_argument(
        "--n-resamples",
        type=_n_resamples,
        default=default_resamples,
        metavar="N",
        help=f"bootstrap resamples of the games (default: %(default)s{zero_help})",
    )
    parser.add_argument(
        "--confidence-level",
        type=_confidence_level,
        default=0.95,
        metavar="C",
        help="share of the resamples inside an interval (default: %(default)s)",
    )


def game_groups(meta, n_videos):
    """Game of each video from ``meta`` (each video its own without it)."""
    if meta is None or "game" not in meta.columns:
        return np.arange(n_videos)
    return meta["game"].to_numpy()


def bootstrap_intervals(y_true, y_pred, groups, **options):
    """:func:`~sk_spotting.metrics.bootstrap_average_map` seeded with 0, so
    that the command's output repeats; ``options`` are its keywords."""
    from ..metrics import bootstrap_average_map

    return bootstrap_average_map(
        y_true, y_pred, groups=groups, random_state=0, **options
    )


def interval_to_dict(interval):
    """A JSON-ready dict of a :class:`~sk_spotting.metrics.BootstrapResult`.

    Parameters
    ----------
    interval : BootstrapResult
        Bootstrap intervals.

    Returns
    -------
    data : dict
        ``confidence_level``, ``n_resamples``, ``n_groups``, ``average_map``
        as ``[low, high]`` and ``average_ap_per_class`` as ``{class: [low,
        high]}``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import bootstrap_average_map
    >>> from sk_spotting.cli._evaluate import interval_to_dict
    >>> y_true = [pd.DataFrame({"time": [30.0], "label": ["Goal"]})] * 2
    >>> y_pred = [pd.DataFrame({"time": [31.0], "label": ["Goal"],
    ...                         "confidence": [0.8]})] * 2
    >>> result = bootstrap_average_map(y_true, y_pred, n_resamples=10)
    >>> interval_to_dict(result)["average_map"]
    [1.0, 1.0]
    """
    table = interval.per_class
    return {
        "confidence_level": interval.confidence_level,
        "n_resamples": interval.n_resamples,
        "n_groups": interval.n_groups,
        "average_map": [interval.low, interval.high],
        "average_ap_per_class": {
            name: [float(low), float(high)]
            for name, low, high in zip(table.index, table["low"], table["high"])
        },
    }


def add_label_arguments(parser):
    """``--classes`` and ``--unknown-labels``, shared with ``report``."""
    parser.add_argument(
        "--classes",
        default="auto",
        metavar="C",
        help="classes scored: 'soccernet-v2' (the devkit's 17), 'labels' (those "
        "of the ground truth) or comma-separated names; 'auto' (default) is "
        "soccernet-v2 when a label is a SoccerNet-v2 class, else labels",
    )
    parser.add_argument(
        "--unknown-labels",
        choices=("raise", "drop"),
        default="raise",
        help="a predicted label outside the classes is an error (raise, the "
        "default) or the prediction is dropped with a warning giving their "
        "number (drop; the devkit drops them silently)",
    )


def _where(meta, i):
    return f"game {meta['game'].iloc[i]!r}, half {meta['half'].iloc[i]}"


def resolve_classes(choice, y_true, meta):
    """The classes scored, from ``--classes`` and the ground truth.

    Parameters
    ----------
    choice : str
        ``"auto"``, ``"soccernet-v2"``, ``"labels"`` or comma-separated names.
    y_true : list of pandas.DataFrame
        The labels of each video.
    meta : pandas.DataFrame
        ``game`` and ``half`` of each video, to name them in errors.

    Returns
    -------
    classes : list of str

    Raises
    ------
    CommandError
        If the labels hold no event, or a label is not among the classes
        (naming its game and half): under "auto", one label outside
        SoccerNet-v2 among SoccerNet-v2 labels is taken for a typo.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.cli._evaluate import resolve_classes
    >>> meta = pd.DataFrame({"game": ["lg/s/g"], "half": [1]})
    >>> y_true = [pd.DataFrame({"time": [1.0, 2.0], "label": ["Goal", "Goal "]})]
    >>> resolve_classes("labels", y_true, meta)
    ['Goal', 'Goal ']
    >>> resolve_classes("auto", y_true, meta)
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.CommandError: game 'lg/s/g', half 1: label 'Goal ' of the ground truth is not among the 17 SoccerNet-v2 classes; fix the labels file, or pass --classes labels to score the labels as they are.
    """  # noqa: E501
    from ..datasets import SOCCERNET_V2_CLASSES

    seen = sorted({label for table in y_true for label in table["label"]})
    if not seen and choice in ("auto", "labels"):
        raise CommandError(
            "the ground truth holds no event, so there is nothing to score; pass "
            "--classes to score the predictions against no labels."
        )
    if choice == "auto":
        soccernet = set(SOCCERNET_V2_CLASSES).intersection(seen)
        choice = "soccernet-v2" if soccernet else "labels"
    if choice == "labels":
        return seen
    if choice == "soccernet-v2":
        classes, what = list(SOCCERNET_V2_CLASSES), "the 17 SoccerNet-v2 classes"
        advice = "fix the labels file, or pass --classes labels to score the "
        advice += "labels as they are."
    else:
        classes = [name.strip() for name in choice.split(",")]
        if not all(classes) or len(set(classes)) != len(classes):
            raise UsageError(
                f"--classes expects 'auto', 'soccernet-v2', 'labels' or distinct "
                f"comma-separated names, got {choice!r}."
            )
        what, advice = "the classes given by --classes", "add it to --classes."
    allowed = set(classes)
    for i, table in enumerate(y_true):
        unknown = sorted(set(table["label"]) - allowed)
        if unknown:
            raise CommandError(
                f"{_where(meta, i)}: label {unknown[0]!r} of the ground truth is "
                f"not among {what}; {advice}"
            )
    return classes


def check_predicted_labels(y_pred, meta, classes, unknown_labels):
    """Predictions whose labels are all among ``classes``.

    Parameters
    ----------
    y_pred : list of pandas.DataFrame
        Predictions of each video.
    meta : pandas.DataFrame
        ``game`` and ``half`` of each video, to name them in errors.
    classes : list of str
        The classes scored.
    unknown_labels : {"raise", "drop"}
        Raise naming the first game, half and label outside ``classes``, or
        drop those predictions with one warning giving their number.

    Returns
    -------
    y_pred : list of pandas.DataFrame

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sk_spotting.cli._evaluate import check_predicted_labels
    >>> meta = pd.DataFrame({"game": ["lg/s/g"], "half": [2]})
    >>> y_pred = [pd.DataFrame({"time": [1.0, 2.0], "label": ["Goal", "Dunk"],
    ...                         "confidence": [0.9, 0.8]})]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     kept = check_predicted_labels(y_pred, meta, ["Goal"], "drop")
    >>> len(kept[0]), str(caught[0].message)
    (1, "1 prediction(s) with label(s) ['Dunk'] not among the classes were dropped (--unknown-labels drop), first in game 'lg/s/g', half 2.")
    """  # noqa: E501
    allowed = set(classes)
    kept, n_dropped, names, first = [], 0, set(), None
    for i, table in enumerate(y_pred):
        known = table["label"].isin(allowed).to_numpy()
        if known.all():
            kept.append(table)
            continue
        unknown = sorted(set(table["label"][~known]))
        if unknown_labels == "raise":
            raise CommandError(
                f"{_where(meta, i)}: predicted label {unknown[0]!r} is not among "
                f"the {len(classes)} classes of the ground truth; fix the results "
                f"file, or pass --unknown-labels drop to drop such predictions."
            )
        n_dropped += int((~known).sum())
        names.update(unknown)
        first = first or _where(meta, i)
        kept.append(table[known].reset_index(drop=True))
    if n_dropped:
        warnings.warn(
            f"{n_dropped} prediction(s) with label(s) {sorted(names)} not among "
            f"the classes were dropped (--unknown-labels drop), first in {first}.",
            UserWarning,
            stacklevel=2,
        )
    return kept


def load_truth_and_predictions(args):
    """Labels, predictions, meta and classes of ``args.data_root``/``results``."""
    from ..datasets import read_soccernet_predictions

    X, y_true, meta = load_data(
        args.data_root,
        split=args.split,
        features=args.features,
        frame_rate=args.frame_rate or 2.0,
        require_labels=True,
    )
    durations = [x.shape[0] for x in X]
    del X
    classes = resolve_classes(args.classes, y_true, meta)
    y_pred = read_soccernet_predictions(args.results, meta)
    y_pred = check_predicted_labels(y_pred, meta, classes, args.unknown_labels)
    meta = meta.assign(n_frames=durations)
    return y_true, y_pred, meta, classes


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


def format_evaluation(result, y_true, name, interval=None):
    """Tables of an evaluation as text (headline, per tolerance, per class).

    Parameters
    ----------
    result : SpottingEvaluation
        Detailed evaluation.
    y_true : list of pandas.DataFrame
        The labels scored, for the per-class counts.
    name : str
        Name of the tolerance set, printed in the headline.
    interval : BootstrapResult, default=None
        Bootstrap intervals of the evaluation: a line under the headline and
        two columns of the per-class table.

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
    ]
    if interval is not None:
        lines.append(
            f"{100 * interval.confidence_level:g}% bootstrap interval: "
            f"{100 * interval.low:.2f} to {100 * interval.high:.2f} "
            f"({interval.n_resamples} resamples of {interval.n_groups} games)"
        )
    lines += ["", "mAP per tolerance:"]
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
    if interval is not None:
        per_class["AP low"] = np.round(100 * interval.per_class["low"].to_numpy(), 2)
        per_class["AP high"] = np.round(100 * interval.per_class["high"].to_numpy(), 2)
    lines += ["", "AP per class (averaged over the tolerances):"]
    lines += ["  " + row for row in per_class.to_string(index=False).splitlines()]
    return "\n".join(lines)


def run(args):
    """Score and print; returns the exit code."""
    from ..metrics import average_map_score

    y_true, y_pred, meta, classes = load_truth_and_predictions(args)
    result = average_map_score(
        y_true,
        y_pred,
        tolerances=args.tolerances,
        classes=classes,
        return_details=True,
    )
    interval = None
    if args.ci:
        if args.n_resamples < 1:
            raise UsageError("--ci needs --n-resamples of at least 1.")
        interval = bootstrap_intervals(
            y_true,
            y_pred,
            game_groups(meta, len(y_true)),
            n_resamples=args.n_resamples,
            confidence_level=args.confidence_level,
            tolerances=args.tolerances,
            classes=classes,
        )
    if args.json:
        data = evaluation_to_dict(result, n_videos=len(y_true))
        if interval is not None:
            data["confidence_interval"] = interval_to_dict(interval)
        echo(json.dumps(data, indent=2))
    else:
        name = args.tolerances if isinstance(args.tolerances, str) else "custom"
        echo(f"{plural(len(y_true), 'video')} scored")
        echo(format_evaluation(result, y_true, name, interval))
    return 0
