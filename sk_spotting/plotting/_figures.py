"""The four figures of a spotting report, drawn with matplotlib.

Each function draws on ``ax`` when given, else on a new
:class:`matplotlib.figure.Figure` made without :mod:`matplotlib.pyplot` (no
global state, no window, nothing to close), and returns the Axes; its figure
is ``ax.figure``, saved with ``ax.figure.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from ..data import check_events
from ..metrics import LOOSE_TOLERANCES, TIGHT_TOLERANCES

__all__ = [
    "plot_map_vs_tolerance",
    "plot_per_class_ap",
    "plot_timeline",
    "plot_displacement_errors",
]

_TIGHT_COLOR = "#d62728"
_LOOSE_COLOR = "#1f77b4"
# Tick length and pad, tick labels, label pad and label at the default sizes.
_LEGEND_DROP_POINTS = 36


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure.add_subplot()


def _legend_below(ax, **kwargs):
    """Legend centred under the x-axis label, where it cannot cover the data.

    Anchored a fixed distance (in points) below the axes, past the tick labels
    and the axis label; a constrained layout makes room for it.
    """
    below = ScaledTranslation(0, -_LEGEND_DROP_POINTS / 72, ax.figure.dpi_scale_trans)
    return ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=ax.transAxes + below,
        fontsize="small",
        frameon=False,
        **kwargs,
    )


def _named(evaluations, default_name):
    """A mapping name -> evaluation from one evaluation or a mapping."""
    if isinstance(evaluations, Mapping):
        if not evaluations:
            raise ValueError("evaluations is empty: give at least one evaluation.")
        return dict(evaluations)
    return {default_name: evaluations}


def plot_map_vs_tolerance(evaluations, *, ax=None, title=None):
    """mAP against the matching tolerance (the paper's Figure 2).

    One curve per evaluation; the tolerance ranges averaged by the tight
    (1-5 s) and loose (5-60 s) average-mAP are shaded.

    Parameters
    ----------
    evaluations : SpottingEvaluation or dict of str to SpottingEvaluation
        Results of :func:`sk_spotting.metrics.average_map_score` with
        ``return_details=True``, evaluated at many tolerances (for example
        ``range(1, 61)``); a dict draws one labelled curve per entry.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None makes a new figure.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    See Also
    --------
    plot_per_class_ap : Average AP of each class.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import average_map_score
    >>> from sk_spotting.plotting import plot_map_vs_tolerance
    >>> y_true = [pd.DataFrame({"time": [10.0, 50.0], "label": ["Goal", "Goal"]})]
    >>> y_pred = [pd.DataFrame({"time": [11.0, 58.0], "label": ["Goal", "Goal"],
    ...                         "confidence": [0.9, 0.6]})]
    >>> result = average_map_score(y_true, y_pred, tolerances=range(1, 61),
    ...                            return_details=True)
    >>> ax = plot_map_vs_tolerance({"model": result})
    >>> ax.get_xlabel()
    'tolerance δ (s)'
    """
    ax = _new_axes(ax, (6.4, 4.0))
    ax.axvspan(
        min(TIGHT_TOLERANCES),
        max(TIGHT_TOLERANCES),
        color=_TIGHT_COLOR,
        alpha=0.08,
        label="tight range (1-5 s)",
    )
    ax.axvspan(
        min(LOOSE_TOLERANCES),
        max(LOOSE_TOLERANCES),
        color=_LOOSE_COLOR,
        alpha=0.05,
        label="loose range (5-60 s)",
    )
    for name, result in _named(evaluations, None).items():
        tolerances = np.asarray(result.tolerances, dtype=float)
        order = np.argsort(tolerances)
        ax.plot(
            tolerances[order],
            100 * np.asarray(result.map_per_tolerance)[order],
            marker="." if len(tolerances) < 25 else None,
            linewidth=2,
            label=name,
        )
    ax.set_xlabel("tolerance δ (s)")
    ax.set_ylabel("mAP (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def _matching_intervals(intervals, named):
    """Intervals keyed like ``named``, each checked against its evaluation."""
    if intervals is None:
        return {}
    if not isinstance(intervals, Mapping):
        intervals = dict.fromkeys(named, intervals) if len(named) == 1 else None
    if intervals is None or set(intervals) != set(named):
        raise ValueError(
            f"intervals must be given for the same names as evaluations, {list(named)}."
        )
    for name, interval in intervals.items():
        if interval.score != named[name].average_map:
            raise ValueError(
                f"intervals[{name!r}] has score {interval.score!r} but its "
                f"evaluation's average-mAP is {named[name].average_map!r}: "
                f"bootstrap the same tables, tolerances and classes."
            )
    return dict(intervals)


def plot_per_class_ap(evaluations, *, intervals=None, ax=None, title=None):
    """Average AP of each class as grouped horizontal bars.

    Parameters
    ----------
    evaluations : SpottingEvaluation or dict of str to SpottingEvaluation
        Detailed results, usually ``{"loose": ..., "tight": ...}``; bars show
        ``average_ap_per_class`` of each, for the classes of the first.
    intervals : BootstrapResult or dict of str to BootstrapResult, default=None
        Bootstrap intervals of the same evaluations (from
        :func:`sk_spotting.metrics.bootstrap_average_map`, same names): each
        bar gets an error bar, and a first row shows the average-mAP with
        its interval.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None makes a new figure sized to the classes.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If ``intervals`` has other names than ``evaluations`` or a score that
        is not its evaluation's average-mAP.

    See Also
    --------
    plot_map_vs_tolerance : mAP against the tolerance.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import average_map_score, bootstrap_average_map
    >>> from sk_spotting.plotting import plot_per_class_ap
    >>> y_true = [pd.DataFrame({"time": [10.0, 50.0], "label": ["Goal", "Foul"]})]
    >>> y_pred = [pd.DataFrame({"time": [11.0, 52.0], "label": ["Goal", "Foul"],
    ...                         "confidence": [0.9, 0.6]})]
    >>> results = {name: average_map_score(y_true, y_pred, tolerances=name,
    ...                                    return_details=True)
    ...            for name in ("loose", "tight")}
    >>> ax = plot_per_class_ap(results)
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['Foul', 'Goal']

    With bootstrap intervals over videos (here two copies of the video):

    >>> intervals = {name: bootstrap_average_map(y_true * 2, y_pred * 2,
    ...                                          tolerances=name, random_state=0)
    ...              for name in ("loose", "tight")}
    >>> ax = plot_per_class_ap(results, intervals=intervals)
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['average-mAP', 'Foul', 'Goal']
    """
    named = _named(evaluations, None)
    intervals = _matching_intervals(intervals, named)
    classes = list(next(iter(named.values())).classes)
    rows = (["average-mAP"] if intervals else []) + classes
    ax = _new_axes(ax, (6.4, 1.6 + 0.32 * len(rows) * max(1, len(named) / 2)))
    height = 0.8 / len(named)
    positions = np.arange(len(rows))
    colors = {"loose": _LOOSE_COLOR, "tight": _TIGHT_COLOR}
    for i, (name, result) in enumerate(named.items()):
        lookup = dict(zip(result.classes, result.average_ap_per_class))
        values = np.array([lookup.get(c, np.nan) for c in classes])
        offset = (i - (len(named) - 1) / 2) * height
        label = name if name is None else f"{name} (mAP {100 * result.average_map:.1f})"
        if name in intervals:
            interval = intervals[name]
            values = np.r_[result.average_map, values]
            low = np.r_[interval.low, interval.per_class["low"].reindex(classes)]
            high = np.r_[interval.high, interval.per_class["high"].reindex(classes)]
            level = f"{100 * interval.confidence_level:g}%"
            label = (
                f"{name} (mAP {100 * result.average_map:.1f}, {level} interval "
                f"{100 * interval.low:.1f}-{100 * interval.high:.1f})"
            )
        ax.barh(
            positions + offset,
            100 * values,
            height=height,
            label=label,
            color=colors.get(name),
        )
        if name in intervals:
            # centred on the interval: a percentile interval need not hold
            # the score itself
            ax.errorbar(
                50 * (low + high),
                positions + offset,
                xerr=50 * (high - low),
                fmt="none",
                ecolor="black",
                elinewidth=1,
                capsize=2,
                label=None,
            )
    ax.set_yticks(positions, rows)
    if intervals:
        ax.axhline(0.5, color="gray", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("average AP (%)")
    ax.set_xlim(0, 100)
    ax.grid(True, axis="x", alpha=0.3)
    if any(name is not None for name in named):
        _legend_below(ax, ncols=1)
    if title:
        ax.set_title(title)
    return ax


def plot_timeline(
    y_true,
    y_pred,
    *,
    classes=None,
    duration=None,
    min_confidence=0.1,
    ax=None,
    title=None,
):
    """Ground truth against detections along one video.

    One row per class: true actions are red vertical ticks, detections are
    dots coloured (and sized) by confidence, the most confident drawn on top.

    Parameters
    ----------
    y_true : pandas.DataFrame
        True events of the video (``time``, ``label``).
    y_pred : pandas.DataFrame
        Detections of the video (``time``, ``label``, ``confidence``).
    classes : sequence of str, default=None
        Rows, top to bottom; None takes the sorted labels of both tables.
    duration : float, default=None
        Seconds shown; None ends at the last event.
    min_confidence : float, default=0.1
        Detections below this confidence are not drawn (NMS keeps many
        near-zero ones).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None makes a new figure sized to the classes.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    See Also
    --------
    plot_displacement_errors : Time errors of the matched detections.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.plotting import plot_timeline
    >>> y_true = pd.DataFrame({"time": [10.0, 50.0], "label": ["Goal", "Foul"]})
    >>> y_pred = pd.DataFrame({"time": [11.0, 52.0], "label": ["Goal", "Foul"],
    ...                        "confidence": [0.9, 0.6]})
    >>> ax = plot_timeline(y_true, y_pred, duration=60.0)
    >>> ax.get_xlabel()
    'time (min)'
    """
    (truth,) = check_events([y_true], name="y_true")
    (pred,) = check_events([y_pred], require_confidence=True, name="y_pred")
    if classes is None:
        classes = sorted(set(truth["label"]) | set(pred["label"]))
    classes = list(classes)
    row = {c: i for i, c in enumerate(classes)}
    ax = _new_axes(ax, (10.0, 1.4 + 0.3 * max(len(classes), 1)))
    keep = (pred["confidence"] >= min_confidence) & pred["label"].isin(row)
    pred = pred[keep].sort_values("confidence", kind="stable")
    truth = truth[truth["label"].isin(row)]
    points = ax.scatter(
        pred["time"] / 60,
        pred["label"].map(row),
        c=pred["confidence"],
        s=10 + 40 * pred["confidence"],
        cmap="viridis",
        vmin=0,
        vmax=1,
        edgecolors="none",
        label=f"detections (confidence ≥ {min_confidence:g})",
        zorder=2,
    )
    ax.scatter(
        truth["time"] / 60,
        truth["label"].map(row),
        marker="|",
        s=300,
        linewidths=2,
        color="#d62728",
        label="ground truth",
        zorder=3,
    )
    ax.figure.colorbar(points, ax=ax, label="confidence", pad=0.01, aspect=30)
    ax.set_yticks(range(len(classes)), classes, fontsize="small")
    ax.set_ylim(len(classes) - 0.5, -0.5)
    ax.set_xlabel("time (min)")
    end = duration
    if end is None:
        times = np.concatenate([truth["time"], pred["time"], [0.0]])
        end = float(times.max())
    ax.set_xlim(0, max(end, 1e-3) / 60)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncols=2,
        fontsize="small",
        frameon=False,
    )
    if title:
        ax.set_title(title, loc="left")
    return ax


def matched_time_errors(y_true, y_pred, *, tolerance=10.0, classes=None):
    """Time errors of the detections matched to true actions.

    Matching follows the metric's rule, in seconds: per video and class,
    labels in time order each take the most confident detection not yet
    taken within ``tolerance / 2`` seconds (ties to the earliest).

    Parameters
    ----------
    y_true : list of pandas.DataFrame
        True events per video.
    y_pred : list of pandas.DataFrame
        Detections per video, with ``confidence``.
    tolerance : float, default=10.0
        Full matching window in seconds.
    classes : sequence of str, default=None
        Classes to match; None matches all.

    Returns
    -------
    errors : ndarray of shape (n_matches,)
        ``detection time - action time`` in seconds.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.plotting import matched_time_errors
    >>> y_true = [pd.DataFrame({"time": [10.0, 50.0], "label": ["Goal", "Foul"]})]
    >>> y_pred = [pd.DataFrame({"time": [11.0, 49.5, 70.0],
    ...                         "label": ["Goal", "Foul", "Foul"],
    ...                         "confidence": [0.9, 0.6, 0.8]})]
    >>> matched_time_errors(y_true, y_pred)  # classes in sorted order
    array([-0.5,  1. ])
    """
    truth = check_events(y_true, name="y_true")
    pred = check_events(
        y_pred, n_videos=len(truth), require_confidence=True, name="y_pred"
    )
    half = float(tolerance) / 2
    errors = []
    for labels, detections in zip(truth, pred):
        for label, group in labels.groupby("label", sort=True):
            if classes is not None and label not in classes:
                continue
            found = detections[detections["label"] == label].sort_values(
                "time", kind="stable"
            )
            times = found["time"].to_numpy()
            scores = found["confidence"].to_numpy(dtype=float).copy()
            for t in np.sort(group["time"].to_numpy()):
                lo = np.searchsorted(times, t - half, side="left")
                hi = np.searchsorted(times, t + half, side="right")
                if hi <= lo or scores[lo:hi].max() < 0:
                    continue
                best = lo + int(np.argmax(scores[lo:hi]))
                errors.append(times[best] - t)
                scores[best] = -np.inf
    return np.asarray(errors, dtype=float)


def plot_displacement_errors(
    y_true,
    y_pred,
    *,
    tolerance=10.0,
    bin_width=0.5,
    classes=None,
    ax=None,
    title=None,
):
    """Histogram of the time errors of matched detections.

    A detection's error is its time minus its action's time; detections are
    matched as in :func:`matched_time_errors`.  A dict of predictions draws
    one outlined histogram per entry, e.g. with and without displacement.

    Parameters
    ----------
    y_true : list of pandas.DataFrame
        True events per video.
    y_pred : list of pandas.DataFrame or dict of str to list
        Detections per video, or several named sets of them.
    tolerance : float, default=10.0
        Full matching window in seconds; errors lie within ±tolerance/2.
    bin_width : float, default=0.5
        Histogram bin width in seconds (one frame at 2 fps).
    classes : sequence of str, default=None
        Classes to include; None includes all.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None makes a new figure.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    See Also
    --------
    matched_time_errors : The errors themselves.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.plotting import plot_displacement_errors
    >>> y_true = [pd.DataFrame({"time": [10.0, 50.0], "label": ["Goal", "Foul"]})]
    >>> y_pred = [pd.DataFrame({"time": [11.0, 49.5], "label": ["Goal", "Foul"],
    ...                         "confidence": [0.9, 0.6]})]
    >>> ax = plot_displacement_errors(y_true, y_pred)
    >>> ax.get_xlabel()
    'detection time − action time (s)'
    """
    ax = _new_axes(ax, (6.4, 4.2))
    named = _named(y_pred, None) if isinstance(y_pred, Mapping) else {None: y_pred}
    half = float(tolerance) / 2
    n_bins = max(1, int(np.ceil(half / bin_width)))
    edges = np.arange(-n_bins, n_bins + 1) * bin_width
    edges = np.concatenate([edges - bin_width / 2, [edges[-1] + bin_width / 2]])
    edges = edges[(edges >= -half - bin_width) & (edges <= half + bin_width)]
    for name, tables in named.items():
        errors = matched_time_errors(
            y_true, tables, tolerance=tolerance, classes=classes
        )
        spread = np.mean(np.abs(errors)) if len(errors) else np.nan
        label = f"{len(errors)} matches, mean |error| {spread:.2f} s"
        if name is not None:
            label = f"{name}: {label}"
        ax.hist(
            errors,
            bins=edges,
            histtype="stepfilled" if len(named) == 1 else "step",
            linewidth=2,
            alpha=0.8 if len(named) == 1 else 1.0,
            label=label,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("detection time − action time (s)")
    ax.set_ylabel("matched detections")
    ax.set_xlim(-half - bin_width, half + bin_width)
    _legend_below(ax)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax
