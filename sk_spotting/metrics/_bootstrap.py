"""Bootstrap confidence intervals of the SoccerNet average-mAP over games.

The average-mAP of a test set is one draw: on other games the same spotter
would score differently.  :func:`bootstrap_average_map` resamples the games
with replacement (the halves of a game together) and reports percentile
intervals of the average-mAP and of each class's AP.

Every number the devkit's AP needs is a sum over videos: matching is per
video, class and tolerance, so the true positives and detections of a class at
each of the 200 thresholds, and its number of labels, add up video by video.
Those counts are tabulated once per group of videos (a game), shape legend
g groups, r resamples, t tolerances, c classes, h the 200 thresholds; a
resample drawing game ``i`` ``w_i`` times has the counts ``w @ tables``, one
matrix product for a chunk of resamples, then the metric's own AP formula.  The
counts are integers, exact in float64, so a resample's score equals
:func:`average_map_score` on the explicitly resampled lists to the last bit.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._spotting import (
    _N_BINS,
    _N_FRAMES,
    _average_over_tolerances,
    _check_prediction_labels,
    _counts_at_thresholds,
    _interpolated_ap,
    _match_events,
    _read_events,
    average_map_score,
)

__all__ = ["BootstrapResult", "bootstrap_average_map"]

_METRIC_OPTIONS = ("tolerances", "classes", "unknown_labels")
# Counts of one chunk of resamples (r * t * c * h float64): 32 MiB.
_CHUNK_ELEMENTS = 2**22


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Average-mAP with bootstrap percentile intervals, overall and per class.

    Returned by :func:`bootstrap_average_map`.

    Attributes
    ----------
    score : float
        Average-mAP of the test set itself (equal to
        :func:`average_map_score`).
    low, high : float
        Bounds of the percentile interval of the average-mAP.
    per_class : pandas.DataFrame
        Indexed by class: ``average_ap`` (the AP of the test set averaged over
        the tolerances), ``low`` and ``high`` (its interval).
    scores : ndarray of shape (n_resamples,)
        Average-mAP of each resample, in drawing order.
    confidence_level : float
        Share of the resamples between ``low`` and ``high``.
    n_resamples : int
        Number of resamples.
    n_groups : int
        Number of groups (games) resampled.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import bootstrap_average_map
    >>> y_true = [pd.DataFrame({"time": [30.0], "label": ["Goal"]}),
    ...           pd.DataFrame({"time": [60.0], "label": ["Goal"]})]
    >>> y_pred = [pd.DataFrame({"time": [30.5], "label": ["Goal"],
    ...                         "confidence": [0.8]}),
    ...           pd.DataFrame({"time": [90.0], "label": ["Goal"],
    ...                         "confidence": [0.9]})]
    >>> result = bootstrap_average_map(y_true, y_pred, n_resamples=200,
    ...                                random_state=0)
    >>> round(result.score, 4), result.n_groups
    (0.3058, 2)
    >>> result.per_class.columns.tolist()
    ['average_ap', 'low', 'high']
    """

    score: float
    low: float
    high: float
    per_class: pd.DataFrame
    scores: np.ndarray
    confidence_level: float
    n_resamples: int
    n_groups: int


class _CountTables(NamedTuple):
    """Counts of each group at the thresholds, as float64 (exact integers)."""

    tp: np.ndarray  # (g, t, c, h) true positives
    n_detections: np.ndarray  # (g, c, h) detections
    n_labels: np.ndarray  # (g, c) labels


def _count_tables(truth, predictions, tolerances, classes, group_of_video, n_groups):
    """Per-group counts of the average-mAP of all videos (not the variants)."""
    n_classes, n_tolerances, n_thresholds = len(classes), len(tolerances), _N_BINS - 1
    label_keys, _, detection_keys, bins, (tolerance, detection) = _match_events(
        truth, predictions, tolerances, classes
    )
    video_class = detection_keys // _N_FRAMES
    group = group_of_video[video_class // n_classes]
    class_index = video_class % n_classes
    n_detections = _counts_at_thresholds(
        group * n_classes + class_index, bins, n_groups * n_classes
    )
    tp = _counts_at_thresholds(
        (group[detection] * n_tolerances + tolerance) * n_classes
        + class_index[detection],
        bins[detection],
        n_groups * n_tolerances * n_classes,
    )
    label_cells = label_keys // _N_FRAMES
    label_rows = group_of_video[label_cells // n_classes] * n_classes
    n_labels = np.bincount(
        label_rows + label_cells % n_classes, minlength=n_groups * n_classes
    )
    return _CountTables(
        tp.reshape(n_groups, n_tolerances, n_classes, n_thresholds).astype(float),
        n_detections.reshape(n_groups, n_classes, n_thresholds).astype(float),
        n_labels.reshape(n_groups, n_classes).astype(float),
    )


def _resample_scores(tables, weights):
    """Average-mAP (r,) and average AP per class (r, c) of weighted groups.

    ``weights[k, i]`` is how many times resample ``k`` holds group ``i``;
    the operations and their order are those of :func:`average_map_score`.
    """
    n_groups, n_tolerances, n_classes, n_thresholds = tables.tp.shape
    n_resamples = len(weights)
    tp = weights @ tables.tp.reshape(n_groups, -1)
    n_detections = weights @ tables.n_detections.reshape(n_groups, -1)
    n_labels = weights @ tables.n_labels
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = _interpolated_ap(
            tp.reshape(n_resamples, n_tolerances, n_classes, n_thresholds),
            n_detections.reshape(n_resamples, 1, n_classes, n_thresholds),
            n_labels.reshape(n_resamples, 1, n_classes),
        )
    map_per_tolerance = ap.mean(axis=-1)  # (r, t), as np.mean of each (c,) row
    average_map = _average_over_tolerances(map_per_tolerance.T)
    average_ap_per_class = _average_over_tolerances(np.moveaxis(ap, 1, 0))
    return np.asarray(average_map, dtype=float), np.asarray(average_ap_per_class)


def _check_groups(groups, n_videos):
    """Group index of each video and the number of groups."""
    if groups is None:
        return np.arange(n_videos), n_videos
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__len__"):
        raise TypeError(
            f"groups must be an array-like of one game id per video, got "
            f"{type(groups).__name__}."
        )
    values = np.asarray(groups, dtype=object)
    if values.ndim != 1 or len(values) != n_videos:
        raise ValueError(
            f"groups must hold one game id per video: got shape {values.shape} "
            f"for {n_videos} videos."
        )
    missing = pd.isna(values)
    if missing.any():
        video = int(np.flatnonzero(missing)[0])
        raise ValueError(f"groups[{video}] (video {video}) is missing.")
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), len(uniques)


def _check_options(n_resamples, confidence_level, metric_options):
    if (
        isinstance(n_resamples, (bool, np.bool_))
        or not isinstance(n_resamples, numbers.Integral)
        or n_resamples < 1
    ):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}.")
    if (
        isinstance(confidence_level, (bool, np.bool_))
        or not isinstance(confidence_level, numbers.Real)
        or not 0 < confidence_level < 1
    ):
        raise ValueError(
            f"confidence_level must be a number in (0, 1), got {confidence_level!r}."
        )
    unknown = sorted(set(metric_options) - set(_METRIC_OPTIONS))
    if unknown:
        raise TypeError(
            f"bootstrap_average_map got unexpected metric option(s) {unknown}; "
            f"it passes {list(_METRIC_OPTIONS)} to average_map_score."
        )


def _weight_chunks(rng, n_groups, n_resamples, chunk_size):
    """Draw counts (k, g) of each group, chunk by chunk, in drawing order.

    Resample ``k`` draws ``rng.randint(n_groups, size=n_groups)``; drawing a
    chunk at once consumes the generator exactly as one resample at a time.
    """
    for start in range(0, n_resamples, chunk_size):
        size = min(chunk_size, n_resamples - start)
        draws = rng.randint(n_groups, size=(size, n_groups))
        draws += n_groups * np.arange(size)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_groups)
        yield counts.reshape(size, n_groups).astype(float)


def bootstrap_average_map(
    y_true,
    y_pred,
    *,
    groups=None,
    n_resamples=1000,
    confidence_level=0.95,
    random_state=None,
    **metric_options,
):
    """Average-mAP with bootstrap confidence intervals over games.

    Resamples the groups (games) with replacement, the videos of a group
    (the two halves of a game) together, and scores every resample with
    :func:`average_map_score`'s rules; the interval is the percentile
    interval of the resampled scores, for the average-mAP and for the AP of
    each class averaged over the tolerances.  Vectorised: 1,000 resamples of
    a 200-half test set take seconds (see Notes).

    Parameters
    ----------
    y_true : list of pandas.DataFrame
        Ground truth per video, as in :func:`average_map_score`.
    y_pred : list of pandas.DataFrame
        Predictions per video, aligned with ``y_true``.
    groups : array-like of shape (n_videos,), default=None
        Game id of each video: videos with the same id are drawn together.
        None makes each video its own group.  Needs at least 2 groups.
    n_resamples : int, default=1000
        Number of resamples.
    confidence_level : float, default=0.95
        Share of the resampled scores inside the interval: the bounds are
        their ``(1 - confidence_level) / 2`` and ``(1 + confidence_level) /
        2`` quantiles (linear interpolation).
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; an int gives identical results on every run.
    **metric_options
        ``tolerances`` and ``classes``, passed to :func:`average_map_score`
        (``classes`` matters here too: a class without labels counts as AP 0).

    Returns
    -------
    result : BootstrapResult
        The average-mAP of the test set, its interval, the per-class table
        and every resample's score.

    Raises
    ------
    ValueError
        If ``groups`` does not give one id per video or holds fewer than 2
        groups, ``n_resamples`` or ``confidence_level`` is out of range, or
        :func:`average_map_score` rejects the input.
    TypeError
        If a metric option other than ``tolerances``, ``classes`` and
        ``unknown_labels`` is given.

    See Also
    --------
    average_map_score : The metric being resampled.

    Notes
    -----
    Resample ``k`` draws ``random_state.randint(n_groups, size=n_groups)``
    (one RandomState for all, resamples in order; groups numbered in order of
    first appearance) and holds each drawn group's videos once per draw, in
    drawing order; its score equals
    :func:`average_map_score` on those lists exactly (the counts the AP needs
    are sums over videos; see the module ``sk_spotting.metrics._bootstrap``).

    Like the metric, a resample whose games hold no label of a class gives
    that class AP 0, which still counts in the mean over classes: rare
    classes have wide, downward-stretched intervals.  Only the headline
    average-mAP is resampled, not its visible/unshown variants.

    Percentile intervals from few games are too narrow (the resamples cannot
    vary more than the games at hand), so take them with care below about 20
    games.  The resampled scores also run slightly above the test set's own
    (the AP takes a maximum of precisions, which noisier resamples raise), so
    the score can sit near the low end of its interval.

    Measured on the 2-core development box (benchmarks/RESULTS.md,
    ``python benchmarks/bench_bootstrap.py``): 1,000 resamples of 100 games
    (200 halves, 17 classes) take 2.9 s of CPU for the loose average-mAP and
    1.3 s for the tight one, whatever the number of detections.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sk_spotting.metrics import average_map_score, bootstrap_average_map
    >>> rng = np.random.default_rng(0)
    >>> y_true, y_pred = [], []
    >>> for _ in range(20):
    ...     times = np.sort(rng.uniform(0, 2700, 10))
    ...     y_true.append(pd.DataFrame({"time": times, "label": "Goal"}))
    ...     y_pred.append(pd.DataFrame({"time": times + rng.normal(0, 3, 10),
    ...                                 "label": "Goal",
    ...                                 "confidence": rng.uniform(size=10)}))
    >>> result = bootstrap_average_map(y_true, y_pred, groups=np.arange(20) // 2,
    ...                                tolerances="tight", random_state=0)
    >>> result.score == average_map_score(y_true, y_pred, tolerances="tight")
    True
    >>> bool(result.low < result.score < result.high)
    True
    >>> result.scores.shape
    (1000,)
    """
    _check_options(n_resamples, confidence_level, metric_options)
    details = average_map_score(y_true, y_pred, **metric_options, return_details=True)
    truth = _read_events(y_true, "y_true", require_confidence=False)
    predictions = _read_events(y_pred, "y_pred", require_confidence=True)
    with warnings.catch_warnings():  # average_map_score warned of drops once
        warnings.simplefilter("ignore")
        predictions = _check_prediction_labels(
            predictions,
            details.classes,
            metric_options.get("unknown_labels", "raise"),
            metric_options.get("classes") is None,
        )
    group_of_video, n_groups = _check_groups(groups, truth.n_videos)
    if n_groups < 2:
        raise ValueError(
            f"bootstrap_average_map needs at least 2 groups to resample, got "
            f"{n_groups}: one game says nothing of how scores vary across games."
        )
    tables = _count_tables(
        truth,
        predictions,
        details.tolerances,
        details.classes,
        group_of_video,
        n_groups,
    )
    rng = check_random_state(random_state)
    chunk_size = max(1, _CHUNK_ELEMENTS // tables.tp[0].size)
    scores, per_class = [], []
    # The products take little of the time; BLAS threads waiting on busy
    # shared cores made small tables 50x slower (measured), so one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        for weights in _weight_chunks(rng, n_groups, n_resamples, chunk_size):
            # few games repeat resamples (2 games: 3 distinct ones): score each once
            distinct, inverse = np.unique(weights, axis=0, return_inverse=True)
            average_map, average_ap_per_class = _resample_scores(tables, distinct)
            scores.append(average_map[inverse.ravel()])
            per_class.append(average_ap_per_class[inverse.ravel()])
    scores, per_class = np.concatenate(scores), np.concatenate(per_class)
    quantiles = [(1 - confidence_level) / 2, (1 + confidence_level) / 2]
    low, high = np.quantile(scores, quantiles)
    class_low, class_high = np.quantile(per_class, quantiles, axis=0)
    return BootstrapResult(
        score=details.average_map,
        low=float(low),
        high=float(high),
        per_class=pd.DataFrame(
            {
                "average_ap": details.average_ap_per_class,
                "low": class_low,
                "high": class_high,
            },
            index=pd.Index(details.classes),
        ),
        scores=scores,
        confidence_level=float(confidence_level),
        n_resamples=int(n_resamples),
        n_groups=int(n_groups),
    )
