"""Conversions between event tables and dense per-frame arrays.

Shape legend: t frames, c classes.

An event at ``time`` seconds sits on frame ``floor(time * frame_rate)``, clipped
to the last frame.  At 2 fps this is the frame the official SoccerNet evaluator
gives to a position in milliseconds (``int(2 * ms / 1000)``), so that what the
networks are trained on and what the metric scores agree to the frame.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, validate_params

from ._validation import check_frame_rate

__all__ = ["time_to_frame", "frame_to_time", "events_to_dense", "dense_to_events"]

# Guards floor() against float error such as 1.1 * 10 = 11.000000000000002 or
# 0.29 * 100 = 28.999999999999996: well below one millisecond at any sane rate.
_FLOOR_EPSILON = 1e-6


def time_to_frame(times, frame_rate, n_frames=None):
    """Frame index of each time in seconds.

    Parameters
    ----------
    times : array-like of float
        Times in seconds (non-negative).
    frame_rate : float
        Frames per second.
    n_frames : int, default=None
        If given, indices are clipped to ``n_frames - 1`` (an event at the very
        end of a video lands on its last frame).

    Returns
    -------
    frames : ndarray of int64

    Examples
    --------
    >>> from sk_spotting.data import time_to_frame
    >>> time_to_frame([0.0, 0.49, 0.5, 10.0], frame_rate=2.0, n_frames=20)
    array([ 0,  0,  1, 19])
    """
    frame_rate = check_frame_rate(frame_rate)
    times = np.asarray(times, dtype=float)
    frames = np.floor(times * frame_rate + _FLOOR_EPSILON).astype(np.int64)
    if n_frames is not None:
        frames = np.minimum(frames, n_frames - 1)
    return frames


def frame_to_time(frames, frame_rate):
    """Time in seconds of each frame index.

    Parameters
    ----------
    frames : array-like of int
        Frame indices.
    frame_rate : float
        Frames per second.

    Returns
    -------
    times : ndarray of float64

    Examples
    --------
    >>> from sk_spotting.data import frame_to_time
    >>> frame_to_time([0, 1, 3], frame_rate=2.0)
    array([0. , 0.5, 1.5])
    """
    return np.asarray(frames, dtype=np.float64) / check_frame_rate(frame_rate)


@validate_params(
    {
        "events": [object],
        "n_frames": [Interval(numbers.Integral, 0, None, closed="left")],
        "classes": ["array-like"],
        "frame_rate": [Interval(numbers.Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def events_to_dense(events, *, n_frames, classes, frame_rate):
    """Mark the frame of each event in a ``(n_frames, n_classes)`` array.

    Several events of one class on one frame collapse to a single mark.

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``time`` (seconds) and ``label``; labels must be in ``classes``.
    n_frames : int
        Number of frames of the video.
    classes : sequence of str
        Class names; column ``k`` of the result is ``classes[k]``.
    frame_rate : float
        Frames per second.

    Returns
    -------
    dense : ndarray of shape (n_frames, n_classes), dtype bool

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.data import events_to_dense
    >>> events = pd.DataFrame({"time": [1.0, 1.2], "label": ["b", "b"]})
    >>> events_to_dense(events, n_frames=4, classes=["a", "b"], frame_rate=2.0)
    array([[False, False],
           [False, False],
           [False,  True],
           [False, False]])
    """
    class_index = {name: k for k, name in enumerate(classes)}
    dense = np.zeros((n_frames, len(class_index)), dtype=bool)
    if len(events) == 0:
        return dense
    unknown = set(events["label"]) - set(class_index)
    if unknown:
        raise ValueError(
            f"events have unknown label(s) {sorted(unknown)}; known classes are "
            f"{list(classes)}."
        )
    frames = time_to_frame(events["time"].to_numpy(), frame_rate, n_frames)
    columns = events["label"].map(class_index).to_numpy(dtype=np.int64)
    dense[frames, columns] = True
    return dense


@validate_params(
    {
        "scores": ["array-like"],
        "classes": ["array-like"],
        "frame_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "min_score": [numbers.Real],
    },
    prefer_skip_nested_validation=True,
)
def dense_to_events(scores, *, classes, frame_rate, min_score=0.0):
    """Turn a dense ``(n_frames, n_classes)`` score array into an event table.

    Every cell with a score ``>= min_score`` becomes one event; after
    non-maximum suppression, suppressed cells hold ``-1`` and so are left out.

    Parameters
    ----------
    scores : ndarray of shape (n_frames, n_classes)
        Per-frame, per-class scores.
    classes : sequence of str
        Class names of the columns.
    frame_rate : float
        Frames per second.
    min_score : float, default=0.0
        Cells below this score are not events.

    Returns
    -------
    events : pandas.DataFrame
        Columns ``time``, ``label`` and ``confidence``, sorted by time then
        class order.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.data import dense_to_events
    >>> scores = np.array([[-1.0, 0.2], [0.9, -1.0]])
    >>> dense_to_events(scores, classes=["a", "b"], frame_rate=2.0)
       time label  confidence
    0   0.0     b         0.2
    1   0.5     a         0.9
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(
            f"scores must have shape (n_frames, {len(classes)}), got {scores.shape}."
        )
    frames, columns = np.nonzero(scores >= min_score)
    return pd.DataFrame(
        {
            "time": frame_to_time(frames, frame_rate),
            "label": np.asarray(classes, dtype=object)[columns],
            "confidence": scores[frames, columns].astype(np.float64),
        }
    )
