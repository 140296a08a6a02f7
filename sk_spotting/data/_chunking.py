"""Inference-time chunking of a video into overlapping windows, and stitching.

A video longer than a network's chunk is predicted in overlapping windows of
``chunk_frames`` frames.  Each window keeps only its centre, away from the
``border`` frames at each side where the receptive field runs off the chunk;
the first window also keeps its left border and the last one keeps everything
up to the end of the video (docs/method.md).  Later windows overwrite earlier ones
where they overlap, which only happens at the last window, whose start is
clamped to ``n_frames - chunk_frames``.

Shape legend: ``t`` frames of the video, ``T`` frames of a chunk
(``chunk_frames``), ``n`` chunks, ``d`` features, ``c`` classes (or any
trailing shape of a network output).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

__all__ = [
    "InferenceWindows",
    "border_frames",
    "gather_windows",
    "inference_windows",
    "stitch_windows",
    "window_sources",
]


class InferenceWindows(NamedTuple):
    """Where the inference chunks of one video start and what each one keeps.

    All three are int64 arrays of shape ``(n_chunks,)``.  ``starts`` are video
    frames; ``keep_start`` and ``keep_stop`` are chunk coordinates, so chunk
    ``i`` writes its frames ``[keep_start[i], keep_stop[i])`` to the video
    frames ``starts[i] + keep_start[i]`` up to ``starts[i] + keep_stop[i]``.
    """

    starts: np.ndarray
    keep_start: np.ndarray
    keep_stop: np.ndarray


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _check_seconds(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}.")
    return value


def border_frames(chunk_frames, frame_rate, border_seconds, min_accepted_seconds=10.0):
    """Frames discarded at each side of an inference chunk.

    ``min(ceil(frame_rate * border_seconds),
    (chunk_frames - floor(frame_rate * min_accepted_seconds)) // 2)``, so that
    at least ``min_accepted_seconds`` of every chunk are kept (docs/method.md).
    Where the chunk is shorter than ``min_accepted_seconds`` the formula goes
    negative; the border is then 0 (chunks tile the video without overlap).
    The border is also capped at ``(chunk_frames - 1) // 2`` so that every
    chunk keeps at least one frame (this only binds when
    ``min_accepted_seconds`` is below one frame).

    Parameters
    ----------
    chunk_frames : int
        Frames per chunk (``T``), >= 1.
    frame_rate : float
        Frames per second, > 0.
    border_seconds : float
        Requested border in seconds, >= 0: 50 s at test time, 20 s during
        validation in the reference setup.
    min_accepted_seconds : float, default=10.0
        Seconds at the centre of each chunk that are always kept.

    Returns
    -------
    border : int
        Frames dropped at each side of a chunk, ``0 <= 2 * border < T``.

    Examples
    --------
    >>> from sk_spotting.data._chunking import border_frames
    >>> border_frames(224, 2.0, 50.0)
    100
    >>> border_frames(112, 1.0, 50.0)
    50
    >>> border_frames(224, 2.0, 20.0)
    40
    """
    chunk_frames = _check_int(chunk_frames, "chunk_frames", 1)
    frame_rate = _check_seconds(frame_rate, "frame_rate")
    if frame_rate == 0:
        raise ValueError("frame_rate must be > 0 frames per second, got 0.0.")
    border_seconds = _check_seconds(border_seconds, "border_seconds")
    min_accepted_seconds = _check_seconds(min_accepted_seconds, "min_accepted_seconds")
    requested = math.ceil(frame_rate * border_seconds)
    largest = (chunk_frames - math.floor(frame_rate * min_accepted_seconds)) // 2
    return max(0, min(requested, largest, (chunk_frames - 1) // 2))


def inference_windows(n_frames, chunk_frames, border):
    """Starts and kept ranges of the inference chunks of one video.

    Starts are ``0, s, 2s, ...`` with the stride ``s = chunk_frames - 2 *
    border``.  The first start at which a chunk would reach or pass the end of
    the video is clamped to ``n_frames - chunk_frames`` and that chunk is the
    last one.  The first chunk keeps ``[0, T - border)``, the middle ones
    ``[border, T - border)`` and the last one ``[border, T)``; a single chunk
    keeps all of itself.  A video shorter than the chunk is one zero-padded
    chunk that keeps only its ``n_frames`` valid frames (docs/method.md, Inference).

    Parameters
    ----------
    n_frames : int
        Frames in the video, >= 1.
    chunk_frames : int
        Frames per chunk (``T``), >= 1.
    border : int
        Frames dropped at each side of a chunk, ``0 <= 2 * border < T``; see
        :func:`border_frames`.

    Returns
    -------
    windows : InferenceWindows
        ``starts``, ``keep_start`` and ``keep_stop``, int64 arrays of shape
        ``(n_chunks,)``.  Every video frame is covered; where two chunks keep
        the same frame the later chunk wins (see :func:`stitch_windows`).

    Examples
    --------
    >>> from sk_spotting.data._chunking import inference_windows
    >>> w = inference_windows(5400, 224, 100)
    >>> len(w.starts), w.starts[:3].tolist(), w.starts[-2:].tolist()
    (217, [0, 24, 48], [5160, 5176])
    >>> w.keep_start[[0, 1, -1]].tolist(), w.keep_stop[[0, 1, -1]].tolist()
    ([0, 100, 100], [124, 124, 224])
    >>> inference_windows(50, 224, 100)
    InferenceWindows(starts=array([0]), keep_start=array([0]), keep_stop=array([50]))
    """
    n_frames = _check_int(n_frames, "n_frames", 1)
    chunk_frames = _check_int(chunk_frames, "chunk_frames", 1)
    border = _check_int(border, "border", 0)
    if 2 * border >= chunk_frames:
        raise ValueError(
            f"2 * border must be < chunk_frames so that chunks keep at least one "
            f"frame, got border={border} and chunk_frames={chunk_frames}."
        )
    if n_frames <= chunk_frames:
        # One chunk (zero-padded when the video is shorter) keeps all it has.
        keep = min(n_frames, chunk_frames)
        return InferenceWindows(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            np.full(1, keep, dtype=np.int64),
        )
    stride = chunk_frames - 2 * border
    last_start = n_frames - chunk_frames
    # Regular starts are those whose chunk ends strictly before the video does.
    n_regular = -(-last_start // stride)  # ceil(last_start / stride) >= 1
    starts = np.empty(n_regular + 1, dtype=np.int64)
    starts[:-1] = np.arange(n_regular, dtype=np.int64) * stride
    starts[-1] = last_start
    keep_start = np.full_like(starts, border)
    keep_start[0] = 0
    keep_stop = np.full_like(starts, chunk_frames - border)
    keep_stop[-1] = chunk_frames
    return InferenceWindows(starts, keep_start, keep_stop)


def gather_windows(video, starts, chunk_frames):
    """Cut the chunks starting at ``starts`` out of a video, in one batch.

    Parameters
    ----------
    video : array-like of shape (t, d) or (t, ...)
        Per-frame features; an ``np.ndarray`` or an ``np.memmap`` (only the
        frames inside the chunks are read, and each read once per chunk).
    starts : array-like of int of shape (n,)
        First frame of each chunk; each chunk must lie inside the video, except
        for a video shorter than ``chunk_frames``, whose only start is 0.
    chunk_frames : int
        Frames per chunk (``T``).

    Returns
    -------
    chunks : ndarray of shape (n, T, d)
        A new array of the video's dtype.  For a video shorter than ``T`` the
        chunk is zero-padded on the right.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.data._chunking import gather_windows
    >>> video = np.arange(10.0).reshape(5, 2)
    >>> gather_windows(video, [0, 2], 3)[:, :, 0]
    array([[0., 2., 4.],
           [4., 6., 8.]])
    >>> gather_windows(video, [0], 7)[0, :, 1]
    array([1., 3., 5., 7., 9., 0., 0.])
    """
    if not hasattr(video, "shape") or not hasattr(video, "dtype"):
        video = np.asarray(video)
    if video.ndim < 1:
        raise ValueError("video must have a frame axis, got a 0-d array.")
    chunk_frames = _check_int(chunk_frames, "chunk_frames", 1)
    starts = np.asarray(starts)
    if starts.ndim != 1 or (
        starts.size and not np.issubdtype(starts.dtype, np.integer)
    ):
        raise ValueError("starts must be a 1-D array of ints.")
    starts = starts.astype(np.intp, copy=False)
    n_frames = video.shape[0]
    if n_frames < chunk_frames:
        if starts.size and np.any(starts != 0):
            raise ValueError(
                f"A video of {n_frames} frames, shorter than chunk_frames="
                f"{chunk_frames}, has a single chunk that starts at 0."
            )
        chunks = np.zeros((starts.size, chunk_frames, *video.shape[1:]), video.dtype)
        if starts.size:
            chunks[:, :n_frames] = np.asarray(video[:n_frames])
        return chunks
    if starts.size and (starts.min() < 0 or starts.max() > n_frames - chunk_frames):
        raise ValueError(
            f"Chunk starts must be in [0, {n_frames - chunk_frames}] for a video of "
            f"{n_frames} frames and chunk_frames={chunk_frames}."
        )
    frames = starts[:, None] + np.arange(chunk_frames, dtype=np.intp)
    # Fancy indexing along the frame axis reads only the rows it needs (from
    # the page cache for a memmap) and returns a plain, contiguous ndarray.
    return np.asarray(video[frames])


def window_sources(windows, n_frames, chunk_frames):
    """Which chunk, and which of its frames, gives each video frame.

    The rule of :func:`stitch_windows`: each chunk contributes its kept range
    ``[keep_start, keep_stop)``, and where kept ranges overlap the later chunk
    wins.  Inference on a device gathers the stitched outputs with these
    indices without copying whole chunks back to the host.

    Parameters
    ----------
    windows : InferenceWindows
        As returned by :func:`inference_windows` for this video.
    n_frames : int
        Frames in the video.
    chunk_frames : int
        Frames per chunk (``T``).

    Returns
    -------
    owner : ndarray of shape (n_frames,), dtype intp
        Chunk of each video frame.
    position : ndarray of shape (n_frames,), dtype intp
        Frame within that chunk.

    Examples
    --------
    >>> from sk_spotting.data._chunking import inference_windows, window_sources
    >>> windows = inference_windows(10, chunk_frames=6, border=1)
    >>> owner, position = window_sources(windows, 10, chunk_frames=6)
    >>> owner.tolist(), position.tolist()
    ([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 1, 2, 3, 4, 5])
    """
    n_frames = _check_int(n_frames, "n_frames", 1)
    chunk_frames = _check_int(chunk_frames, "chunk_frames", 1)
    starts = np.asarray(windows.starts, dtype=np.intp)
    keep_start = np.asarray(windows.keep_start, dtype=np.intp)
    keep_stop = np.asarray(windows.keep_stop, dtype=np.intp)
    if (
        starts.shape[0] == 0
        or np.any(keep_start < 0)
        or np.any(keep_stop > chunk_frames)
    ):
        raise ValueError(
            f"windows do not fit chunks of {chunk_frames} frames "
            f"({starts.shape[0]} windows)."
        )
    # Video frames kept by each chunk start at first_kept; the owner of a frame
    # is the last chunk whose kept range starts at or before it (kept ranges
    # are sorted and cover the video, so later chunks overwrite earlier ones).
    first_kept = starts + keep_start
    last_kept = starts + keep_stop  # exclusive
    if np.any(np.diff(first_kept) < 0) or np.any(np.diff(last_kept) < 0):
        raise ValueError("windows must be sorted by start.")
    if last_kept[-1] != n_frames:
        raise ValueError(
            f"windows were built for a video of {int(last_kept[-1])} frames, not "
            f"{n_frames}; build them with inference_windows(n_frames, ...)."
        )
    frames = np.arange(n_frames, dtype=np.intp)
    owner = np.searchsorted(first_kept, frames, side="right") - 1
    if owner[0] < 0 or np.any(frames >= last_kept[owner]):
        raise ValueError(
            f"windows do not cover all {n_frames} frames of the video; build them "
            f"with inference_windows(n_frames, ...)."
        )
    return owner, frames - starts[owner]


def stitch_windows(chunk_outputs, windows, n_frames):
    """Put per-chunk network outputs back onto the video's frames.

    Each chunk contributes its kept range ``[keep_start, keep_stop)``; where
    kept ranges overlap, the later chunk wins.

    Parameters
    ----------
    chunk_outputs : array-like of shape (n, T, c) or (n, T, ...)
        Outputs of the chunks described by ``windows``, in the same order.
    windows : InferenceWindows
        As returned by :func:`inference_windows` for this video.
    n_frames : int
        Frames in the video.

    Returns
    -------
    outputs : ndarray of shape (t, c) or (t, ...)
        ``t = n_frames``; a new array of the outputs' dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.data._chunking import inference_windows, stitch_windows
    >>> windows = inference_windows(10, 6, 1)
    >>> windows.starts.tolist()
    [0, 4]
    >>> chunk_outputs = np.array([[10, 11, 12, 13, 14, 15], [20, 21, 22, 23, 24, 25]])
    >>> stitch_windows(chunk_outputs[:, :, None], windows, 10)[:, 0]
    array([10, 11, 12, 13, 14, 21, 22, 23, 24, 25])
    """
    n_frames = _check_int(n_frames, "n_frames", 1)
    chunk_outputs = np.asarray(chunk_outputs)
    n_chunks = np.asarray(windows.starts).shape[0]
    if chunk_outputs.ndim < 2 or chunk_outputs.shape[0] != n_chunks:
        raise ValueError(
            f"chunk_outputs must have shape (n_chunks={n_chunks}, chunk_frames, "
            f"...), got {chunk_outputs.shape}."
        )
    owner, position = window_sources(windows, n_frames, chunk_outputs.shape[1])
    return chunk_outputs[owner, position]
