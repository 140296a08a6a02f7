"""SoccerNet average-mAP, computed exactly as the official devkit does.

The reference is ``SoccerNet.Evaluation.ActionSpotting.evaluate`` of the
``SoccerNet`` 0.2.0 package (functions ``label2vector``,
``predictions2vector``, the "closest" array built in ``evaluate``,
``compute_class_scores``, ``compute_precision_recall_curve``, ``compute_mAP``
and ``average_mAP``).  Every step is vectorised: there is no Python loop over
frames, detections or thresholds, only over the 11 recall levels and the
tolerances, where the devkit's sequential float sums are repeated in the same
order so that the results are bit-identical.

Shape legend: d detections, g ground-truth labels, c classes, t tolerances,
h the 200 confidence thresholds.

Notes
-----
Reproduced devkit behaviour (quirks included, on purpose):

1. **Frames.** Evaluation is at 2 fps on 2-hour arrays.  A time in seconds is
   first turned into the milliseconds the SoccerNet JSON stores,
   ``ms = rint(1000 * time)`` (what a writer doing ``round(1000 * time)``
   writes), then into ``frame = (2 * ms) // 1000``, which equals the devkit's
   ``int(2 * (ms / 1000))`` for every non-negative integer ``ms`` (checked
   exhaustively up to the cap in the tests).  Frames are capped at 14399
   (2 hours), for labels **and** predictions: everything after 2 hours
   collapses onto the last frame.
2. **Duplicates.** One frame holds one value per class: when several labels
   (or predictions) of a class fall on the same frame of a video, the last one
   in table order wins, for labels including its visibility.
3. **Detections** are the cells with confidence ``>= 0``.  A prediction with a
   negative confidence is not a detection, and as the last duplicate of its
   frame it erases an earlier, valid one.  Confidences above 1 count at every
   threshold.
4. **Matching.** Per video, class and tolerance, with ``delta = 2 *
   tolerance`` (the tolerance in frames at 2 fps, a float), labels are
   visited in frame order; each takes the highest-scoring detection not yet
   taken with ``|frame_pred - frame_gt| <= delta / 2`` (strict ``>`` in the
   devkit's scan, so ties go to the earliest frame).  A tolerance is thus the
   full width of the window in seconds: 5 s reaches +-2.5 s (5 frames),
   inclusive.
5. **Thresholds.** 200 thresholds ``linspace(0, 1, 200)``, a detection counts
   at those with ``confidence >= threshold``; precision ``TP / n_detections``
   and recall ``TP / n_labels`` go through ``nan_to_num`` (0/0 is 0).
6. **AP** is the 11-point interpolated AP: the mean over recall levels
   ``arange(11) / 10`` of the highest precision at recall ``>=`` the level
   (0 when none).  A class without any label scores AP 0 and still counts in
   the mAP, which is ``np.mean`` over the classes.
7. **Average over tolerances** is the devkit's trapezoid
   ``sum((mAP_i + mAP_{i+1}) / 2) / (n - 1)``, in the given order; a single
   tolerance returns its mAP as is.
8. **Visible / unshown variants.** Each frame of a video and class is given
   the visibility of its "closest" label: label ``i`` owns the frames from
   ``(f_{i-1} + f_i) // 2`` up to ``(f_i + f_{i+1}) // 2`` (the first from
   frame 0, the last to the end).  A video with no label of a class is marked
   "not shown" there, so its detections count in the unshown variant, never in
   the visible one.  The variants keep only the detections whose closest label
   has that visibility, but their true positives are the shared match flags:
   a detection matched to an unshown label yet nearer to a visible one is a
   visible true positive (recall may then exceed 1).  Recall divides by the
   number of labels of that visibility.
9. **Unshown scaling.** With several tolerances the unshown average-mAP is
   multiplied by 17/13, a constant hard-coded in the devkit, whatever the
   classes; per-class values and a single tolerance are not scaled.

Deliberate differences: labels outside ``classes`` raise a ``ValueError``
(the devkit skips them silently; ``unknown_labels="drop"`` skips predicted
ones with a warning), classes default to the labels of the ground truth, and
the class order is the given one (the mean over classes is a pairwise float
sum, so bit-identity with the devkit needs its class order,
``EVENT_DICTIONARY_V2``).

Algorithm.  Events become cells keyed ``(video * c + class) * 14400 + frame``
(one sort).  The devkit's greedy matching is sequential per label, but a label
only competes with its neighbours whose windows share detections: labels are
grouped into such clusters, and round ``k`` gives the ``k``-th label of every
cluster (of every video, class and tolerance) its best untaken detection at
once, so the number of rounds is the largest cluster, not the number of
labels.  Counts at the 200 thresholds come from one histogram of threshold
bins and a reversed cumulative sum.  Input tables are checked against the data
contract column-wise; anything irregular is handed to
:func:`sk_spotting.data.check_events`, whose error is raised.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ..data import EVENT_COLUMNS, VISIBILITY_VALUES, check_events

__all__ = [
    "LOOSE_TOLERANCES",
    "TIGHT_TOLERANCES",
    "SpottingEvaluation",
    "average_map_score",
]

#: Tolerances of the "loose" average-mAP, in seconds (SoccerNet v1/v2).
LOOSE_TOLERANCES = tuple(float(t) for t in range(5, 65, 5))
#: Tolerances of the "tight" average-mAP, in seconds (SoccerNet v3 onwards).
TIGHT_TOLERANCES = tuple(float(t) for t in range(1, 6))

_FRAME_RATE = 2  # the devkit always evaluates at 2 fps
_N_FRAMES = 120 * 60 * _FRAME_RATE  # its fixed 2-hour arrays
_MAX_MS = 1e12  # far past the frame cap; keeps the int cast finite
_THRESHOLDS = np.linspace(0, 1, 200)
_THRESHOLD_EDGES = np.concatenate([[-np.inf], _THRESHOLDS, [np.inf]])
_N_BINS = len(_THRESHOLDS) + 1
_RECALL_LEVELS = np.arange(11) / 10
_NOT_SHOWN = "not shown"


@dataclass(frozen=True, eq=False)
class SpottingEvaluation:
    """Every number of a SoccerNet average-mAP evaluation.

    Returned by :func:`average_map_score` with ``return_details=True``.  Per
    class arrays follow ``classes``; per tolerance arrays follow
    ``tolerances``.  The ``*_visible`` and ``*_unshown`` fields are the
    devkit's visibility variants (see the module Notes).

    Attributes
    ----------
    average_map : float
        Average-mAP over the tolerances (the headline number).
    tolerances : ndarray of shape (n_tolerances,)
        Tolerances in seconds (full window widths).
    classes : tuple of str
        Class names, in the order of the per-class arrays.
    map_per_tolerance : ndarray of shape (n_tolerances,)
        mAP at each tolerance.
    ap_per_class : ndarray of shape (n_tolerances, n_classes)
        11-point interpolated AP of each class at each tolerance.
    average_ap_per_class : ndarray of shape (n_classes,)
        AP of each class averaged over the tolerances.
    average_map_visible, average_map_unshown : float
        Average-mAP of the visible and unshown variants; the unshown one is
        multiplied by 17/13 when there are several tolerances, as the devkit
        does.
    map_per_tolerance_visible, map_per_tolerance_unshown : ndarray
        mAP of the variants at each tolerance.
    ap_per_class_visible, ap_per_class_unshown : ndarray
        AP of the variants, shape (n_tolerances, n_classes).
    average_ap_per_class_visible, average_ap_per_class_unshown : ndarray
        AP of the variants averaged over the tolerances (never rescaled).

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import average_map_score
    >>> y_true = [pd.DataFrame({"time": [30.0], "label": ["Goal"]})]
    >>> y_pred = [pd.DataFrame({"time": [30.5], "label": ["Goal"],
    ...                         "confidence": [0.8]})]
    >>> result = average_map_score(y_true, y_pred, return_details=True)
    >>> result.average_map
    1.0
    >>> result.to_frame()
          average_ap  average_ap_visible  average_ap_unshown
    Goal         1.0                 1.0                 0.0
    """

    average_map: float
    tolerances: np.ndarray
    classes: tuple
    map_per_tolerance: np.ndarray
    ap_per_class: np.ndarray
    average_ap_per_class: np.ndarray
    average_map_visible: float
    map_per_tolerance_visible: np.ndarray
    ap_per_class_visible: np.ndarray
    average_ap_per_class_visible: np.ndarray
    average_map_unshown: float
    map_per_tolerance_unshown: np.ndarray
    ap_per_class_unshown: np.ndarray
    average_ap_per_class_unshown: np.ndarray

    def to_frame(self):
        """Per-class average AP of the three variants as a DataFrame.

        Returns
        -------
        table : pandas.DataFrame
            Indexed by class, columns ``average_ap``, ``average_ap_visible``
            and ``average_ap_unshown``.
        """
        return pd.DataFrame(
            {
                "average_ap": self.average_ap_per_class,
                "average_ap_visible": self.average_ap_per_class_visible,
                "average_ap_unshown": self.average_ap_per_class_unshown,
            },
            index=pd.Index(self.classes, name=None),
        )


def _check_tolerances(tolerances):
    """Return the tolerances in seconds as a float array."""
    if isinstance(tolerances, str):
        named = {"loose": LOOSE_TOLERANCES, "tight": TIGHT_TOLERANCES}
        if tolerances not in named:
            raise ValueError(
                f"tolerances must be 'loose', 'tight' or a sequence of seconds, "
                f"got {tolerances!r}."
            )
        return np.array(named[tolerances])
    if not isinstance(tolerances, (Sequence, np.ndarray)) or np.ndim(tolerances) != 1:
        raise ValueError(
            f"tolerances must be 'loose', 'tight' or a 1-D sequence of seconds, "
            f"got {tolerances!r}; wrap a single tolerance in a list."
        )
    values = list(tolerances)
    bad = [
        v
        for v in values
        if isinstance(v, bool)
        or not isinstance(v, numbers.Real)
        or not np.isfinite(v)
        or v <= 0
    ]
    if not values or bad:
        raise ValueError(
            f"tolerances must be a non-empty sequence of finite positive seconds, "
            f"got {list(values)!r}."
        )
    return np.array(values, dtype=float)


def _check_classes(classes):
    """Return ``classes`` as a tuple of unique strings."""
    if isinstance(classes, str) or not isinstance(classes, (Sequence, np.ndarray)):
        raise TypeError(
            f"classes must be a sequence of class names, got {type(classes).__name__}."
        )
    classes = tuple(classes)
    if not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError(
            f"classes must be a non-empty sequence of str, got {list(classes)!r}."
        )
    if len(set(classes)) != len(classes):
        duplicated = sorted({c for c in classes if classes.count(c) > 1})
        raise ValueError(f"classes has duplicated name(s) {duplicated}.")
    return classes


class _Events(NamedTuple):
    """Validated events of all videos, concatenated (one entry per row)."""

    video: np.ndarray  # int64, index of the row's video
    time: np.ndarray  # float64 seconds
    label_codes: np.ndarray  # int64 index into label_names
    label_names: np.ndarray  # object array of str
    shown: np.ndarray  # bool, False where visibility is "not shown"
    confidence: np.ndarray | None  # float64, None without the column
    n_videos: int


def _is_number_column(series):
    dtype = series.dtype
    return is_numeric_dtype(dtype) and not is_bool_dtype(dtype)


def _table_columns(table, require_confidence):
    """The columns of one table as arrays, or None if a check_events rule fails."""
    if not isinstance(table, pd.DataFrame) or not table.columns.is_unique:
        return None
    required = EVENT_COLUMNS + (("confidence",) if require_confidence else ())
    if any(column not in table.columns for column in required):
        return None
    columns = {"n_rows": len(table)}
    try:
        for column in ("time", "confidence"):
            if column in table.columns:
                if not _is_number_column(table[column]):
                    return None
                columns[column] = table[column].to_numpy(dtype=float)
    except (TypeError, ValueError):  # e.g. missing values of a nullable dtype
        return None
    columns["label"] = table["label"].to_numpy(dtype=object)
    if "visibility" in table.columns:
        columns["visibility"] = table["visibility"].to_numpy(dtype=object)
    return columns


def _factorize_strings(values, allowed=None):
    """Codes and names of an object array of str; None for a non-str or an
    ``allowed`` violation."""
    codes, names = pd.factorize(values)
    if (codes < 0).any() or not all(isinstance(name, str) for name in names):
        return None
    if allowed is not None and not set(names) <= set(allowed):
        return None
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def _concatenate(parts, column, fill):
    """One column of all tables; ``fill`` for the tables without it."""
    return np.concatenate(
        [p[column] if column in p else np.full(p["n_rows"], fill) for p in parts]
    )


def _shown(parts):
    """False where visibility is "not shown"; None if a value is not allowed."""
    shown = np.ones(sum(p["n_rows"] for p in parts), dtype=bool)
    if not any("visibility" in p for p in parts):
        return shown
    ends = np.cumsum([p["n_rows"] for p in parts])
    rows = np.concatenate(
        [
            np.arange(end - p["n_rows"], end)
            for p, end in zip(parts, ends)
            if "visibility" in p
        ]
    )
    visibility = _factorize_strings(
        np.concatenate([p["visibility"] for p in parts if "visibility" in p]),
        VISIBILITY_VALUES,
    )
    if visibility is None:
        return None
    shown[rows] = visibility[1][visibility[0]] != _NOT_SHOWN
    return shown


def _read_fast(tables, require_confidence):
    """Concatenated events, checking the rules of ``check_events`` on the whole
    columns at once; None when a rule fails or the input is unusual."""
    if not isinstance(tables, (list, tuple)) or not tables:
        return None
    parts = [_table_columns(table, require_confidence) for table in tables]
    if any(p is None for p in parts):
        return None
    times = _concatenate(parts, "time", np.nan)
    confidence = _concatenate(parts, "confidence", 0.0)
    labels = _factorize_strings(_concatenate(parts, "label", None))
    shown = _shown(parts)
    if labels is None or shown is None or not np.isfinite(confidence).all():
        return None
    if not (np.isfinite(times) & (times >= 0)).all():
        return None
    video = np.repeat(np.arange(len(parts)), [p["n_rows"] for p in parts])
    confidence = confidence if all("confidence" in p for p in parts) else None
    return _Events(video, times, *labels, shown, confidence, len(parts))


def _read_events(tables, name, require_confidence):
    """Validated, concatenated events of a list of tables.

    Well-formed input is checked column-wise at once (fast); anything else goes
    through :func:`sk_spotting.data.check_events`, which raises the contract's
    error (naming video and field) or normalises the tables.
    """
    events = _read_fast(tables, require_confidence)
    if events is None:
        checked = check_events(tables, require_confidence=require_confidence, name=name)
        events = _read_fast(checked, require_confidence)
    if events is None:  # pragma: no cover - check_events output always passes
        raise ValueError(f"{name} does not follow the event table contract.")
    return events


def _time_to_frame(times):
    """Devkit frame of each time: via the JSON's integer milliseconds, capped."""
    ms = np.rint(np.minimum(times * 1000.0, _MAX_MS)).astype(np.int64)
    return np.minimum((2 * ms) // 1000, _N_FRAMES - 1)


def _unknown_label_error(events, unknown, classes, name, advice):
    """The error naming the first video with a label outside ``classes``."""
    video = int(events.video[np.flatnonzero(unknown[events.label_codes])[0]])
    codes = events.label_codes[events.video == video]
    names = sorted(set(events.label_names[codes[unknown[codes]]]))
    return ValueError(
        f"{name}[{video}] (video {video}): column 'label' has label(s) {names} "
        f"that are not in classes {list(classes)}. {advice}"
    )


def _class_index(events, classes, name):
    """Class index of each event; raise naming the first video with an unknown label."""
    lookup = pd.Index(classes).get_indexer(events.label_names)
    unknown = lookup < 0
    if unknown[events.label_codes].any():
        raise _unknown_label_error(
            events,
            unknown,
            classes,
            name,
            "Pass classes that include them (the SoccerNet devkit would silently "
            "skip them).",
        )
    return lookup[events.label_codes]


def _check_prediction_labels(predictions, classes, unknown_labels, inferred):
    """Predictions whose labels are all in ``classes``: raise on the first
    video with another label, or drop those rows with a warning."""
    unknown = pd.Index(classes).get_indexer(predictions.label_names) < 0
    if not unknown.any():
        return predictions
    if unknown_labels == "raise":
        source = "the labels of y_true, " if inferred else ""
        raise _unknown_label_error(
            predictions,
            unknown,
            classes,
            "y_pred",
            f"The classes ({source}which define what is scored) must hold every "
            f"predicted label: fix the label, pass classes that include it, or "
            f"pass unknown_labels='drop' to drop such predictions with a warning.",
        )
    keep = ~unknown[predictions.label_codes]
    names = sorted(set(predictions.label_names[unknown]))
    warnings.warn(
        f"{int((~keep).sum())} prediction(s) with label(s) {names} not in classes "
        f"were dropped (unknown_labels='drop').",
        UserWarning,
        stacklevel=3,
    )
    confidence = predictions.confidence
    return predictions._replace(
        video=predictions.video[keep],
        time=predictions.time[keep],
        label_codes=predictions.label_codes[keep],
        shown=predictions.shown[keep],
        confidence=None if confidence is None else confidence[keep],
    )


def _last_per_cell(keys, values):
    """Sort unique ``keys``; for repeated keys keep the last value in input order."""
    n_rows = len(keys)
    if n_rows and int(keys.max()) < np.iinfo(np.int64).max // (2 * n_rows):
        # the row number makes keys unique: a plain (SIMD) sort is then stable
        ranked = np.sort(keys * n_rows + np.arange(n_rows))
        order, keys = ranked % n_rows, ranked // n_rows
    else:
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
    values = values[order]
    last = np.ones(n_rows, dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return keys[last], values[last]


def _event_cells(events, classes, name, values):
    """Devkit cells of events: sorted unique keys ``(video * c + class) * 14400
    + frame`` and one value each, the last of a cell's duplicates winning."""
    class_index = _class_index(events, classes, name)
    frames = _time_to_frame(events.time)
    keys = (events.video * len(classes) + class_index) * _N_FRAMES + frames
    return _last_per_cell(keys, values)


def _closest_visibility(label_keys, label_values, detection_keys, n_groups):
    """Visibility (+1/-1) of the label whose region holds each detection.

    Label ``i`` of a video and class (a group) owns the frames from
    ``(f_{i-1} + f_i) // 2`` to ``(f_i + f_{i+1}) // 2``; detections in a group
    without labels get -1 (the devkit's initial value).
    """
    label_groups = label_keys // _N_FRAMES
    detection_groups = detection_keys // _N_FRAMES
    n_labels = np.bincount(label_groups, minlength=n_groups)
    first_label = np.cumsum(n_labels) - n_labels
    same_group = label_groups[1:] == label_groups[:-1]
    # (g*N + a + g*N + b) // 2 == g*N + (a + b) // 2: the boundary, as a key
    boundaries = ((label_keys[:-1] + label_keys[1:]) // 2)[same_group]
    n_boundaries = np.bincount(label_groups[1:][same_group], minlength=n_groups)
    boundaries_before = np.cumsum(n_boundaries) - n_boundaries
    at = np.searchsorted(detection_keys, boundaries)  # first detection past each
    n_passed = np.cumsum(np.bincount(at, minlength=len(detection_keys) + 1))[:-1]
    owner = (
        first_label[detection_groups] + n_passed - boundaries_before[detection_groups]
    )
    has_label = n_labels[detection_groups] > 0
    closest = np.full(len(detection_keys), -1.0)
    closest[has_label] = label_values[owner[has_label]]
    return closest


def _windows(label_keys, detection_keys, radii):
    """Ranges ``[lo, hi)`` of detections within each label's window.

    One row per tolerance and label (tolerance-major); detection indices of
    tolerance ``t`` are offset by ``t * n_detections`` so that every tolerance
    has its own copy of the detections.
    """
    frames = label_keys % _N_FRAMES
    group_start = label_keys - frames
    first = group_start + np.maximum(frames - radii[:, None], 0)
    last = group_start + np.minimum(frames + radii[:, None], _N_FRAMES - 1)
    offsets = (np.arange(len(radii)) * len(detection_keys))[:, None]
    lo = np.searchsorted(detection_keys, first.ravel()).reshape(first.shape)
    hi = np.searchsorted(detection_keys, last.ravel(), side="right")
    return (lo + offsets).ravel(), (hi.reshape(last.shape) + offsets).ravel()


def _rank_in_cluster(lo, hi):
    """Rank of each label in its cluster of labels sharing detections.

    Windows have equal widths and follow the label order, so a label shares
    detections with an earlier one only through its predecessor; a cluster
    starts where the window holds no detection of the previous window.
    """
    starts = np.ones(len(lo), dtype=bool)
    starts[1:] = lo[1:] >= hi[:-1]
    first_of_cluster = np.flatnonzero(starts)
    return np.arange(len(lo)) - first_of_cluster[np.cumsum(starts) - 1]


def _match_round(lo, hi, scores, matched):
    """Give each (disjoint) window its best untaken detection; return them.

    The best is the highest score, the earliest frame among ties: detections
    are sorted by frame, as the devkit scans them.
    """
    n_in_window = hi - lo
    segment = np.cumsum(n_in_window) - n_in_window
    n_total = int(segment[-1] + n_in_window[-1])
    flat = np.repeat(lo - segment, n_in_window) + np.arange(n_total)
    window_scores = np.where(matched[flat], -1.0, scores[flat % len(scores)])
    best = np.maximum.reduceat(window_scores, segment)
    is_best = window_scores == np.repeat(best, n_in_window)
    first_best = np.minimum.reduceat(
        np.where(is_best, np.arange(n_total), n_total), segment
    )
    taken = flat[first_best[best >= 0]]
    matched[taken] = True
    return taken


def _greedy_match(label_keys, detection_keys, scores, radii):
    """Devkit greedy matching at every tolerance.

    Labels at the same rank of their cluster have disjoint windows, so round
    ``k`` resolves the ``k``-th label of every cluster of every video, class
    and tolerance at once.

    Returns
    -------
    tolerance, detection : ndarray of int64
        Index pairs of the matched detections.
    """
    n_detections = len(detection_keys)
    matched = np.zeros(len(radii) * n_detections, dtype=bool)
    lo, hi = _windows(label_keys, detection_keys, radii)
    rank = _rank_in_cluster(lo, hi)
    busy = np.flatnonzero(hi > lo)
    busy = busy[np.argsort(rank[busy], kind="stable")]
    n_rounds = int(rank[busy[-1]]) + 1 if len(busy) else 0
    bounds = np.searchsorted(rank[busy], np.arange(n_rounds + 1))
    taken = [np.zeros(0, dtype=np.int64)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        members = busy[start:stop]
        taken.append(_match_round(lo[members], hi[members], scores, matched))
    taken = np.concatenate(taken)
    return taken // max(n_detections, 1), taken % max(n_detections, 1)


def _threshold_bins(scores):
    """Number of thresholds at or below each score in [0, inf).

    Equals ``searchsorted(thresholds, scores, side="right")`` (checked in the
    tests) without the search: a guess from the uniform spacing, corrected by
    one comparison on each side.
    """
    n_thresholds = len(_THRESHOLDS)
    guess = np.floor(np.minimum(scores, 2.0) * (n_thresholds - 1)).astype(np.int64)
    bins = np.minimum(guess + 1, n_thresholds)
    bins -= _THRESHOLD_EDGES[bins] > scores
    bins += _THRESHOLD_EDGES[bins + 1] <= scores
    return bins


def _counts_at_thresholds(rows, bins, n_rows):
    """Number of items of each row at each threshold, from their threshold bin.

    ``bins`` is the number of thresholds at or below each confidence, so an
    item counts at threshold ``j`` when ``bins > j``.
    """
    hist = np.bincount(rows * _N_BINS + bins, minlength=n_rows * _N_BINS)
    at_least = np.cumsum(hist.reshape(n_rows, _N_BINS)[:, ::-1], axis=1)[:, ::-1]
    return at_least[:, 1:]


def _interpolated_ap(tp, n_detections, n_labels):
    """11-point AP from counts at thresholds (last axis); shape ``tp.shape[:-1]``.

    ``n_detections`` broadcasts against ``tp``, ``n_labels`` against
    ``tp.shape[:-1]``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / n_detections)
        recall = np.nan_to_num(tp / n_labels[..., None])
    ap = np.zeros(tp.shape[:-1])
    for level in _RECALL_LEVELS:  # sequential sum, as in the devkit
        ap += np.where(recall >= level, precision, 0.0).max(axis=-1)
    return ap / 11


def _ap_by_visibility(matches, closest, classes_of, bins, n_labels, n_tolerances):
    """AP tables (t, c) of the three variants: all, visible, unshown.

    Every detection's closest label is either visible or unshown, so the
    counts of all detections are the sums of the two variants' counts.
    ``n_labels`` has shape (2, c): visible then unshown label counts.
    """
    n_classes = n_labels.shape[1]
    unshown = (closest < 0).astype(np.int64)
    n_detections = _counts_at_thresholds(
        unshown * n_classes + classes_of, bins, 2 * n_classes
    ).reshape(2, n_classes, -1)
    tolerance, detection = matches
    rows = (tolerance * 2 + unshown[detection]) * n_classes + classes_of[detection]
    tp = _counts_at_thresholds(rows, bins[detection], n_tolerances * 2 * n_classes)
    tp = tp.reshape(n_tolerances, 2, n_classes, -1)
    return (
        _interpolated_ap(tp.sum(axis=1), n_detections.sum(axis=0), n_labels.sum(0)),
        _interpolated_ap(tp[:, 0], n_detections[0], n_labels[0]),
        _interpolated_ap(tp[:, 1], n_detections[1], n_labels[1]),
    )


def _average_over_tolerances(values):
    """The devkit's trapezoid average over the first axis (same float order)."""
    if len(values) == 1:
        return values[0]
    integral = 0.0
    for current, following in zip(values[:-1], values[1:]):
        integral = integral + (current + following) / 2
    return integral / (len(values) - 1)


def _details(tolerances, classes, aps):
    """Assemble a :class:`SpottingEvaluation` from the AP tables (t, c)."""
    fields = {"tolerances": tolerances, "classes": classes}
    for suffix, ap in zip(("", "_visible", "_unshown"), aps):
        map_per_tolerance = np.array([np.mean(row) for row in ap])  # devkit order
        average_map = float(_average_over_tolerances(map_per_tolerance))
        if suffix == "_unshown" and len(tolerances) > 1:
            average_map = average_map * 17 / 13  # hard-coded in the devkit
        fields["average_map" + suffix] = average_map
        fields["map_per_tolerance" + suffix] = map_per_tolerance
        fields["ap_per_class" + suffix] = ap
        fields["average_ap_per_class" + suffix] = np.array(_average_over_tolerances(ap))
    return SpottingEvaluation(**fields)


def _resolve_classes(classes, truth):
    """Given classes, or the sorted labels of the ground truth."""
    if classes is not None:
        return _check_classes(classes)
    if not len(truth.label_codes):
        raise ValueError(
            "y_true holds no event, so the classes cannot be inferred from it; "
            "pass classes."
        )
    return tuple(sorted(set(truth.label_names)))


class _Matching(NamedTuple):
    """Label and detection cells of an evaluation and their greedy matches."""

    label_keys: np.ndarray  # sorted cell keys (video * c + class) * 14400 + frame
    label_values: np.ndarray  # +1 visible, -1 not shown
    detection_keys: np.ndarray  # sorted cell keys of the detections
    bins: np.ndarray  # threshold bin of each detection's confidence
    matches: tuple  # (tolerance, detection) index pairs of the true positives


def _match_events(truth, predictions, tolerances, classes):
    """Cells of the events and the devkit's greedy matches at every tolerance."""
    visibility = np.where(truth.shown, 1.0, -1.0)
    label_keys, label_values = _event_cells(truth, classes, "y_true", visibility)
    detection_keys, scores = _event_cells(
        predictions, classes, "y_pred", predictions.confidence
    )
    is_detection = scores >= 0
    detection_keys, scores = detection_keys[is_detection], scores[is_detection]
    delta = tolerances * _FRAME_RATE  # the devkit's tolerance in frames
    radii = np.floor(np.minimum(delta / 2, _N_FRAMES)).astype(np.int64)
    matches = _greedy_match(label_keys, detection_keys, scores, radii)
    bins = _threshold_bins(scores)
    return _Matching(label_keys, label_values, detection_keys, bins, matches)


def _evaluate(truth, predictions, tolerances, classes):
    """AP tables (t, c) of the three variants: all, visible, unshown."""
    label_keys, label_values, detection_keys, bins, matches = _match_events(
        truth, predictions, tolerances, classes
    )
    n_groups = truth.n_videos * len(classes)
    closest = _closest_visibility(label_keys, label_values, detection_keys, n_groups)
    classes_of = detection_keys // _N_FRAMES % len(classes)
    label_classes = label_keys // _N_FRAMES % len(classes)
    n_labels = np.stack(
        [
            np.bincount(label_classes[label_values > 0], minlength=len(classes)),
            np.bincount(label_classes[label_values < 0], minlength=len(classes)),
        ]
    )
    return _ap_by_visibility(
        matches, closest, classes_of, bins, n_labels, len(tolerances)
    )


def average_map_score(
    y_true,
    y_pred,
    *,
    tolerances="loose",
    classes=None,
    unknown_labels="raise",
    return_details=False,
):
    """SoccerNet average-mAP of spotted events, identical to the official devkit.

    Computes what ``SoccerNet.Evaluation.ActionSpotting.evaluate`` computes
    (SoccerNet 0.2.0) from event tables instead of JSON files, vectorised and
    bit-identical (given the devkit's class order); the reproduced rules and
    quirks are listed in docs/method.md, The metric.
    Each video is one half of a game; events are evaluated at 2 fps.

    Parameters
    ----------
    y_true : list of pandas.DataFrame
        Ground truth per video: ``time`` (seconds), ``label`` and optionally
        ``visibility`` (``"visible"``/``"not shown"``, default visible).
    y_pred : list of pandas.DataFrame
        Predictions per video, aligned with ``y_true``: ``time``, ``label``
        and ``confidence``.  Rows with a negative confidence are not
        detections.
    tolerances : {"loose", "tight"} or sequence of float, default="loose"
        Full window widths in seconds: "loose" is 5, 10, ..., 60 s (SoccerNet
        v2), "tight" is 1, ..., 5 s; the average runs over them in the given
        order.
    classes : sequence of str, default=None
        Classes to score, in the order of the per-class results.  ``None``
        takes the sorted labels of ``y_true``: the ground truth defines the
        classes, so a misspelled predicted label cannot add a class.  The
        official SoccerNet-v2 number needs the 17 SoccerNet-v2 classes,
        ``classes=sk_spotting.datasets.SOCCERNET_V2_CLASSES`` (the devkit's
        order, which bit-identity needs): classes without ground truth count
        as AP 0 in the mean.
    unknown_labels : {"raise", "drop"}, default="raise"
        What to do with a prediction whose label is not in the classes:
        ``"raise"`` a ``ValueError`` naming its video and label, or
        ``"drop"`` it and warn with the number dropped (the devkit skips such
        predictions silently).  Labels of ``y_true`` outside ``classes``
        always raise.
    return_details : bool, default=False
        Return a :class:`SpottingEvaluation` instead of the average-mAP.

    Returns
    -------
    score : float or SpottingEvaluation
        The average-mAP in [0, 1], or all the numbers of the evaluation.

    Raises
    ------
    ValueError
        If the tolerances or classes are invalid, the tables break the data
        contract (see :func:`sk_spotting.data.check_events`), their numbers
        differ, or a label is not in the classes (naming the video; the devkit
        would skip it), predictions only with ``unknown_labels="raise"``.
    TypeError
        If the tables are not a list of DataFrames with columns of the right
        types (the errors of :func:`sk_spotting.data.check_events`).

    Warns
    -----
    UserWarning
        With ``unknown_labels="drop"``, when predictions were dropped (their
        number and labels).

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.metrics import average_map_score
    >>> y_true = [pd.DataFrame({"time": [10.0, 300.0], "label": ["Goal", "Corner"]})]
    >>> y_pred = [pd.DataFrame({"time": [11.0, 303.0, 900.0],
    ...                         "label": ["Goal", "Corner", "Corner"],
    ...                         "confidence": [0.9, 0.6, 0.7]})]
    >>> average_map_score(y_true, y_pred, tolerances="tight")
    0.4375

    The Corner found 3 s late counts from a 6 s tolerance (+-3 s) on:

    >>> result = average_map_score(y_true, y_pred, tolerances=[2.0, 7.0],
    ...                            return_details=True)
    >>> result.classes
    ('Corner', 'Goal')
    >>> result.ap_per_class
    array([[0. , 1. ],
           [0.5, 1. ]])
    >>> result.average_map
    0.625

    A predicted label outside the classes (here those of ``y_true``) is an
    error; ``unknown_labels="drop"`` drops it with a warning instead:

    >>> y_typo = [y_pred[0].assign(label=["Goal ", "Corner", "Corner"])]
    >>> average_map_score(y_true, y_typo)
    Traceback (most recent call last):
    ...
    ValueError: y_pred[0] (video 0): column 'label' has label(s) ['Goal '] that are not in classes ['Corner', 'Goal']. ...
    """  # noqa: E501
    if unknown_labels not in ("raise", "drop"):
        raise ValueError(
            f"unknown_labels must be 'raise' or 'drop', got {unknown_labels!r}."
        )
    tolerances = _check_tolerances(tolerances)
    truth = _read_events(y_true, "y_true", require_confidence=False)
    predictions = _read_events(y_pred, "y_pred", require_confidence=True)
    if predictions.n_videos != truth.n_videos:
        raise ValueError(
            f"y_pred has {predictions.n_videos} entries but y_true has "
            f"{truth.n_videos}; give one prediction table per video (an empty one "
            f"for a video without predictions)."
        )
    inferred = classes is None
    classes = _resolve_classes(classes, truth)
    _class_index(truth, classes, "y_true")  # the ground truth's errors first
    predictions = _check_prediction_labels(
        predictions, classes, unknown_labels, inferred
    )
    aps = _evaluate(truth, predictions, tolerances, classes)
    result = _details(tolerances, classes, aps)
    return result if return_details else result.average_map
