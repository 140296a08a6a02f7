"""The data contract of sk_spotting, defined and checked in one place.

``X`` is a list of videos, each a 2-D float array ``(n_frames_i, n_features)``
(a numpy array or an ``np.memmap``; never copied whole).  ``y`` is a list of
per-video event tables, one :class:`pandas.DataFrame` per video with the
columns ``time`` (seconds, float) and ``label`` (str), optionally
``visibility`` (``"visible"`` or ``"not shown"``); predictions add
``confidence``.  A table without rows means "no events" whatever the dtypes
of its columns (``pd.DataFrame(columns=["time", "label"])``, a header-only
CSV).  A ``frame_rate`` (Hz) ties frames to seconds.

Every check raises a :class:`ValueError` or :class:`TypeError` whose message
names the video index and the field at fault; nothing is silently dropped.
"""

from __future__ import annotations

import contextlib
import numbers
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "EVENT_COLUMNS",
    "VISIBILITY_VALUES",
    "check_frame_rate",
    "check_videos",
    "check_events",
    "check_videos_and_events",
    "video_duration",
]

EVENT_COLUMNS = ("time", "label")
VISIBILITY_VALUES = ("visible", "not shown")

# Hints of an error for times beyond the end of a video: the latest time is
# this many times the video's length.  A few seconds past the end (as in the
# SoccerNet labels) gets no hint; milliseconds give a factor near 1,000, and
# a frame rate of 25 for 2 fps features one near 12.
_FRAME_RATE_FACTOR = 1.5
_MILLISECONDS_FACTOR = 100

# Rows checked at once for NaN/inf, so that memory-mapped videos are streamed
# rather than materialised (a 5,400 x 512 float32 half is about 11 MB).
_FINITE_CHECK_ROWS = 65536


def check_frame_rate(frame_rate):
    """Validate a frame rate in Hz and return it as a float.

    Parameters
    ----------
    frame_rate : float
        Frames (anchors) per second; must be finite and positive.

    Returns
    -------
    frame_rate : float

    Examples
    --------
    >>> from sk_spotting.data import check_frame_rate
    >>> check_frame_rate(2)
    2.0
    """
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, numbers.Real):
        raise TypeError(
            f"frame_rate must be a positive number of frames per second, "
            f"got {frame_rate!r} of type {type(frame_rate).__name__}."
        )
    frame_rate = float(frame_rate)
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be finite and > 0, got {frame_rate}.")
    return frame_rate


def video_duration(n_frames, frame_rate):
    """Duration in seconds of a video of ``n_frames`` frames.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    frame_rate : float
        Frames per second.

    Returns
    -------
    duration : float

    Examples
    --------
    >>> from sk_spotting.data import video_duration
    >>> video_duration(5400, 2.0)
    2700.0
    """
    return n_frames / check_frame_rate(frame_rate)


def _check_list(obj, name, *, allow_empty=False):
    """Check that ``obj`` is a list-like of videos and return it as a list."""
    if isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.dtype != object:
        raise TypeError(
            f"{name} must be a list of per-video arrays, got a single 2-D array of "
            f"shape {obj.shape}. Give one (n_frames, n_features) array per video, "
            f"{name}=[video] for one video; in a Pipeline, wrap per-frame "
            f"transformers such as PCA in sk_spotting.preprocessing.PerFrame so "
            f"that they keep the list of videos."
        )
    if isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"{name} must be a list of per-video tables, got a single DataFrame. "
            f"Wrap one video in a list: {name}=[events]."
        )
    if isinstance(obj, (str, bytes)) or not isinstance(obj, (Sequence, np.ndarray)):
        raise TypeError(
            f"{name} must be a list with one entry per video, got {type(obj).__name__}."
        )
    items = list(obj)
    if not items and not allow_empty:
        raise ValueError(f"{name} is empty: at least one video is required.")
    return items


def _check_finite(video, index, name):
    """Raise if ``video`` holds NaN or infinity, streaming over its rows."""
    for start in range(0, video.shape[0], _FINITE_CHECK_ROWS):
        block = np.asarray(video[start : start + _FINITE_CHECK_ROWS])
        if not np.isfinite(block).all():
            bad = np.argwhere(~np.isfinite(block))[0]
            value = block[tuple(bad)]
            raise ValueError(
                f"{name}[{index}] (video {index}) has a non-finite feature value "
                f"{value} at frame {start + bad[0]}, feature {bad[1]}; features "
                f"must be finite."
            )


def check_videos(X, *, n_features=None, min_frames=1, name="X", names=None):
    """Validate a list of per-video feature arrays.

    Parameters
    ----------
    X : list of array-like of shape (n_frames_i, n_features)
        One 2-D numeric array per video.  numpy arrays and memory maps are kept
        as they are (no copy); other array-likes are converted with
        :func:`numpy.asarray`.
    n_features : int, default=None
        If given, every video must have this many features (e.g. the number
        seen during ``fit``).
    min_frames : int, default=1
        Minimum number of frames of each video.
    name : str, default="X"
        Name used in error messages.
    names : sequence of str, default=None
        A name for each video, used in error messages instead of
        ``X[i] (video i)`` (the command line passes ``game '...', half 1``).

    Returns
    -------
    videos : list of ndarray
        The videos, uncopied where they already were numpy arrays.

    Raises
    ------
    TypeError
        If ``X`` is not a list, a video is not numeric.
    ValueError
        If ``X`` is empty, a video is not 2-D, has too few frames, holds NaN or
        infinity, or the number of features differs between videos or from
        ``n_features``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.data import check_videos
    >>> videos = check_videos([np.zeros((10, 3)), np.ones((7, 3))])
    >>> [v.shape for v in videos]
    [(10, 3), (7, 3)]
    >>> check_videos([np.zeros((10, 3)), np.ones((7, 2))], names=["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: b has 2 features, expected 3 as a.
    """
    if names is not None:
        with _named_videos(name, names):
            return check_videos(
                X, n_features=n_features, min_frames=min_frames, name=name
            )
    items = _check_list(X, name)
    videos = []
    expected = n_features
    for i, video in enumerate(items):
        if not isinstance(video, np.ndarray):
            try:
                video = np.asarray(video)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{name}[{i}] (video {i}) cannot be read as an array: {exc}"
                ) from None
        if video.dtype == object or not (
            np.issubdtype(video.dtype, np.floating)
            or np.issubdtype(video.dtype, np.integer)
        ):
            raise TypeError(
                f"{name}[{i}] (video {i}) has dtype {video.dtype}; features must "
                f"be real numbers (float or integer)."
            )
        if video.ndim != 2:
            raise ValueError(
                f"{name}[{i}] (video {i}) must be 2-D (n_frames, n_features), got "
                f"{video.ndim}-D with shape {video.shape}."
            )
        if video.shape[0] < min_frames:
            raise ValueError(
                f"{name}[{i}] (video {i}) has {video.shape[0]} frames; at least "
                f"{min_frames} are required."
            )
        if expected is None:
            expected = video.shape[1]
        elif video.shape[1] != expected:
            source = (
                "as seen during fit"
                if n_features is not None
                else f"as {name}[0] (video 0)"
            )
            raise ValueError(
                f"{name}[{i}] (video {i}) has {video.shape[1]} features, expected "
                f"{expected} {source}."
            )
        if np.issubdtype(video.dtype, np.floating):
            _check_finite(video, i, name)
        videos.append(video)
    return videos


def _finite_numbers(column, i, name, what):
    """A numeric column as finite float64 values, or a clear error.

    A column without rows is valid whatever its dtype: ``pd.DataFrame(
    columns=["time", "label"])`` and a header-only CSV give object columns.
    """
    if len(column) == 0:
        return np.zeros(0)
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise TypeError(
            f"{name}[{i}] (video {i}): column {column.name!r} must hold {what}, "
            f"got dtype {column.dtype}."
        )
    values = column.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(
            f"{name}[{i}] (video {i}): column {column.name!r} has a non-finite "
            f"value at row {row}."
        )
    return values


def _check_time_column(times, i, name, duration):
    values = _finite_numbers(times, i, name, "numbers of seconds")
    if (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise ValueError(
            f"{name}[{i}] (video {i}): column 'time' has a negative time "
            f"{values[row]} s at row {row}."
        )
    if duration is not None and (values > duration).any():
        row = int(np.flatnonzero(values > duration)[0])
        hint = _time_hint(values, duration)
        raise ValueError(
            f"{name}[{i}] (video {i}): column 'time' has {values[row]} s at row "
            f"{row}, beyond the end of the video ({duration} s).{hint}"
        )
    return values


def _time_hint(times, duration):
    """Why times may lie beyond a video: milliseconds, or a wrong frame rate."""
    latest = float(times.max())
    factor = latest / duration if duration > 0 else np.inf
    if factor >= _MILLISECONDS_FACTOR and latest / 1000 <= duration:
        return (
            f" The times look like milliseconds (the latest, {latest:g}, is "
            f"{factor:,.0f} times the video's length, and every time fits once "
            f"divided by 1,000): give seconds."
        )
    if factor >= _FRAME_RATE_FACTOR:
        return (
            f" The latest event is at {latest:g} s, {factor:.3g} times the "
            f"video's length: if the times are right, frame_rate may be wrong "
            f"(the length is n_frames / frame_rate)."
        )
    return ""


def _check_label_column(labels, i, name, classes):
    values = labels.to_numpy(dtype=object)
    bad = [k for k, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        raise TypeError(
            f"{name}[{i}] (video {i}): column 'label' must hold strings, got "
            f"{values[bad[0]]!r} at row {bad[0]}."
        )
    if classes is not None and len(values):
        unknown = sorted(set(values) - set(classes))
        if unknown:
            raise ValueError(
                f"{name}[{i}] (video {i}): column 'label' has unknown label(s) "
                f"{unknown}; known classes are {list(classes)}."
            )
    return values


def check_events(
    y,
    *,
    n_videos=None,
    durations=None,
    classes=None,
    require_confidence=False,
    name="y",
    names=None,
):
    """Validate a list of per-video event tables.

    Parameters
    ----------
    y : list of pandas.DataFrame
        One table per video with columns ``time`` (seconds) and ``label``
        (str), and optionally ``visibility`` (``"visible"``/``"not shown"``)
        and ``confidence`` (float).  A table without rows is a video without
        events, whatever the dtypes of its columns.
    n_videos : int, default=None
        If given, ``y`` must have exactly this many entries (one per video of
        ``X``).
    durations : sequence of float, default=None
        Duration in seconds of each video; times beyond it are rejected.
    classes : sequence of str, default=None
        If given, labels must be among these classes.
    require_confidence : bool, default=False
        Require a finite numeric ``confidence`` column (predictions).
    name : str, default="y"
        Name used in error messages.
    names : sequence of str, default=None
        A name for each video, used in error messages instead of
        ``y[i] (video i)``.

    Returns
    -------
    events : list of pandas.DataFrame
        Validated tables with a fresh ``RangeIndex``, ``time`` as float64 and
        ``label`` as str; other columns are kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.data import check_events
    >>> events = check_events([pd.DataFrame({"time": [1.5], "label": ["Goal"]})])
    >>> events[0]
       time label
    0   1.5  Goal
    """
    if names is not None:
        with _named_videos(name, names):
            return check_events(
                y,
                n_videos=n_videos,
                durations=durations,
                classes=classes,
                require_confidence=require_confidence,
                name=name,
            )
    items = _check_list(y, name, allow_empty=n_videos == 0)
    if n_videos is not None and len(items) != n_videos:
        raise ValueError(
            f"{name} has {len(items)} entries but X has {n_videos} videos; give one "
            f"event table per video (an empty DataFrame for a video without events)."
        )
    required = EVENT_COLUMNS + (("confidence",) if require_confidence else ())
    checked = []
    for i, table in enumerate(items):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(
                f"{name}[{i}] (video {i}) must be a pandas DataFrame with columns "
                f"{list(required)}, got {type(table).__name__}."
            )
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise ValueError(
                f"{name}[{i}] (video {i}) is missing column(s) {missing}; it has "
                f"{list(table.columns)}."
            )
        duration = None if durations is None else float(durations[i])
        table = table.reset_index(drop=True)
        times = _check_time_column(table["time"], i, name, duration)
        labels = _check_label_column(table["label"], i, name, classes)
        table = table.assign(time=times, label=labels.astype(str))
        if len(table) == 0:
            table = table.astype({"label": object})
        if "visibility" in table.columns:
            vis = table["visibility"].to_numpy(dtype=object)
            bad = [k for k, v in enumerate(vis) if v not in VISIBILITY_VALUES]
            if bad:
                raise ValueError(
                    f"{name}[{i}] (video {i}): column 'visibility' has "
                    f"{vis[bad[0]]!r} at row {bad[0]}; allowed values are "
                    f"{list(VISIBILITY_VALUES)}."
                )
        if "confidence" in table.columns:
            values = _finite_numbers(table["confidence"], i, name, "numbers")
            table = table.assign(confidence=values)
        checked.append(table)
    return checked


def check_videos_and_events(
    X, y, *, frame_rate, classes=None, n_features=None, min_frames=1, names=None
):
    """Validate videos and their event tables together.

    Checks ``X`` with :func:`check_videos`, then ``y`` with
    :func:`check_events`, requiring one table per video and every event inside
    its video (``0 <= time <= n_frames / frame_rate``).

    Parameters
    ----------
    X : list of array-like of shape (n_frames_i, n_features)
        The videos.
    y : list of pandas.DataFrame
        The event tables.
    frame_rate : float
        Frames per second of the videos.
    classes : sequence of str, default=None
        If given, labels must be among these classes.
    n_features : int, default=None
        Required number of features, if known.
    min_frames : int, default=1
        Minimum number of frames per video.
    names : sequence of str, default=None
        A name for each video, used in error messages instead of
        ``X[i] (video i)`` and ``y[i] (video i)``.

    Returns
    -------
    videos : list of ndarray
    events : list of pandas.DataFrame

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sk_spotting.data import check_videos_and_events
    >>> X = [np.zeros((20, 4))]
    >>> y = [pd.DataFrame({"time": [12.0], "label": ["Goal"]})]
    >>> check_videos_and_events(X, y, frame_rate=2.0)
    Traceback (most recent call last):
    ...
    ValueError: y[0] (video 0): column 'time' has 12.0 s at row 0, beyond the end of the video (10.0 s).
    """  # noqa: E501
    frame_rate = check_frame_rate(frame_rate)
    videos = check_videos(X, n_features=n_features, min_frames=min_frames, names=names)
    durations = [v.shape[0] / frame_rate for v in videos]
    events = check_events(
        y, n_videos=len(videos), durations=durations, classes=classes, names=names
    )
    return videos, events


@contextlib.contextmanager
def _named_videos(name, names):
    """Name video ``i`` as ``names[i]`` in the errors raised inside.

    The checks above write ``{name}[i] (video i)``; this rewrites that text
    only, so that every message keeps its wording.
    """
    names = [str(n) for n in names]
    pattern = re.compile(rf"{re.escape(name)}\[(\d+)\] \(video \d+\)")

    def rename(match):
        i = int(match.group(1))
        return names[i] if i < len(names) else match.group(0)

    try:
        yield
    except (TypeError, ValueError) as exc:
        raise type(exc)(pattern.sub(rename, str(exc))) from None
