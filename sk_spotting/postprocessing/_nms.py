"""Per-class temporal non-maximum suppression of detection scores (docs/method.md).

Both variants are greedy per class: repeatedly take the best remaining frame,
write it to the output and weaken its neighbourhood.  In the output, kept
frames carry their score and every other cell is -1, so that "score >= 0"
marks a detection.

Hard NMS is computed without a loop over peaks: cells are decided in rounds
(see :func:`hard_nms`).  Soft-NMS has to follow the greedy order, so it loops
over peaks, all classes at once, and touches only the window around each peak.

Shape legend: ``t`` frames, ``c`` classes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["hard_nms", "nms", "soft_nms", "window_frames"]

NMS_METHODS = ("hard", "soft")

# Sparse rounds of hard NMS are used once the cells they look at number less
# than this fraction of a dense round's (measured on 5,400 x 17 score arrays).
_SPARSE_FRACTION = 0.1


def window_frames(window_seconds, frame_rate):
    """Convert NMS windows from seconds to frames.

    The window is the **full** width, and the conversion is ``window_seconds *
    frame_rate`` without rounding, as for the per-class ``nms_windows.csv``
    windows of the reference implementation.  Hard NMS then suppresses
    ``floor(window / 2)`` frames on each side, which equals the reference
    fallback of ``2 * int(window_seconds * frame_rate / 2)`` frames; soft-NMS
    uses the unrounded width as its radius.

    Parameters
    ----------
    window_seconds : float or array-like of float of shape (c,)
        Full window width(s) in seconds, > 0; one per class or one for all.
    frame_rate : float
        Frames per second, > 0.

    Returns
    -------
    window : float or ndarray of shape (c,)
        Full window width(s) in frames (a float for a scalar input).

    Examples
    --------
    >>> from sk_spotting.postprocessing import window_frames
    >>> window_frames(20.0, 2.0)
    40.0
    >>> window_frames([3.0, 4.0], 2.0)
    array([6., 8.])
    """
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, numbers.Real):
        raise TypeError(f"frame_rate must be a number, got {frame_rate!r}.")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be finite and > 0, got {frame_rate}.")
    seconds = _check_window_values(window_seconds, "window_seconds")
    frames = seconds * float(frame_rate)
    return float(frames) if frames.ndim == 0 else frames


def _check_window_values(window, name):
    try:
        values = np.asarray(window, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a number or a 1-D sequence of numbers, got {window!r}."
        ) from None
    if values.ndim > 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {values.shape}.")
    if values.size == 0 and values.ndim == 1:
        raise ValueError(f"{name} must not be empty.")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {window!r}.")
    return values


def _check_scores(scores):
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(
            f"scores must be 2-D (n_frames, n_classes), got shape {scores.shape}."
        )
    if not (
        np.issubdtype(scores.dtype, np.floating)
        or np.issubdtype(scores.dtype, np.integer)
        or scores.dtype == np.bool_
    ):
        raise TypeError(f"scores must be numeric, got dtype {scores.dtype}.")
    scores = scores.astype(np.result_type(scores.dtype, np.float32), copy=False)
    if np.isnan(scores).any():
        raise ValueError("scores must not contain NaN.")
    return scores


def _per_class_window(window, n_classes):
    """Window width in frames for each class, shape (c,)."""
    values = _check_window_values(window, "window")
    if values.ndim == 1 and values.shape[0] != n_classes:
        raise ValueError(
            f"window must be a scalar or have one value per class "
            f"({n_classes}), got {values.shape[0]} values."
        )
    return np.broadcast_to(values, (n_classes,))


def _sliding_max(x, half_width, fill):
    """Maximum over ``[i - half_width, i + half_width]`` along the last axis.

    Out-of-range cells count as ``fill``.  Doubling: ``log2`` passes of
    ``np.maximum`` instead of one pass per window cell.
    """
    n_rows, n_cols = x.shape
    size = 2 * half_width + 1
    padded = np.full((n_rows, n_cols + 2 * half_width), fill, dtype=x.dtype)
    padded[:, half_width : half_width + n_cols] = x
    span = 1  # running[:, i] = max(padded[:, i : i + span])
    running = padded
    while 2 * span <= size:
        running = np.maximum(running[:, :-span], running[:, span:])
        span *= 2
    return np.maximum(
        running[:, :n_cols], running[:, size - span : size - span + n_cols]
    )


def _priority(rows):
    """A unique int64 priority per cell of each row, -1 for negative scores.

    Higher score first, then lower frame first (the tie-break of
    ``np.argmax``).  For float32 scores (and narrower) the non-negative
    float's bit pattern, which sorts like the float, is packed with the frame;
    wider floats are ranked by a stable sort.
    """
    n_rows, n_frames = rows.shape
    if rows.dtype.itemsize <= 4:
        # + 0.0 turns -0.0 into 0.0; negative cells are overwritten below.
        bits = (rows.astype(np.float32) + np.float32(0.0)).view(np.int32)
        key = bits.astype(np.int64) << 32
        key |= np.int64(0xFFFFFFFF) - np.arange(n_frames, dtype=np.int64)
    else:
        order = np.argsort(-rows, axis=1, kind="stable")
        key = np.empty((n_rows, n_frames), dtype=np.int64)
        rank = np.arange(n_frames, 0, -1, dtype=np.int64)
        np.put_along_axis(key, order, np.broadcast_to(rank, order.shape), axis=1)
    key[rows < 0] = -1
    return key


def _hard_nms_kept(key, half_width):
    """Which cells greedy hard NMS keeps, for rows of priorities ``key``.

    A cell is *alive* while undecided.  In each round, every alive cell whose
    priority is the largest among the alive cells within ``half_width`` of it
    is kept, and the alive cells within ``half_width`` of a kept cell are
    suppressed.  This equals the greedy loop: all higher-priority cells near
    a kept cell are already suppressed, i.e. not kept by greedy either, and a
    suppressed cell had a kept, higher-priority neighbour.  Two kept cells of
    one round are never neighbours, and the best alive cell is always kept.

    Rounds start dense (the whole array).  A cell's status can only change
    when a neighbour dies, i.e. within ``2 * half_width`` of a newly kept
    cell, so once few cells are kept per round (long monotone runs or
    plateaus of equal scores, which take many rounds), only those are looked
    at.
    """
    n_rows, n_frames = key.shape
    h = half_width
    pad = 2 * h  # flat neighbourhoods of real cells never leave their row
    width = n_frames + 2 * pad
    work = np.full((n_rows, width), -1, dtype=np.int64)
    work[:, pad : pad + n_frames] = key
    flat = work.reshape(-1)
    kept = np.zeros(n_rows * width, dtype=bool)
    near = np.arange(-h, h + 1)
    reach = np.arange(-2 * h, 2 * h + 1)
    sparse_limit = _SPARSE_FRACTION * n_rows * width
    new = None  # newly kept flat indices in sparse mode; None: dense round
    while True:
        if new is None:
            alive = work >= 0
            new_mask = alive & (work == _sliding_max(work, h, -1))
            n_new = int(np.count_nonzero(new_mask))
            if n_new == 0:
                break
            kept |= new_mask.reshape(-1)
            work[alive & _sliding_max(new_mask, h, False)] = -1
            if n_new * reach.size <= sparse_limit:
                new = np.flatnonzero(new_mask)
            continue
        candidates = np.unique((new[:, None] + reach).reshape(-1))
        candidates = candidates[flat[candidates] >= 0]
        if candidates.size == 0:
            break
        local_max = flat[candidates[:, None] + near].max(axis=1)
        new = candidates[flat[candidates] == local_max]
        kept[new] = True
        dead = (new[:, None] + near).reshape(-1)
        flat[dead[flat[dead] >= 0]] = -1
        if new.size * reach.size > sparse_limit:
            new = None
    return kept.reshape(n_rows, width)[:, pad : pad + n_frames]


def hard_nms(scores, window):
    """Greedy hard NMS per class: keep peaks, suppress their neighbourhood.

    Per class, the best remaining frame ``m`` (the earliest one on ties) is
    kept with its score and ``[m - floor(W / 2), m + floor(W / 2)]`` is
    suppressed, until no cell with a score >= 0 remains.  There is no score
    threshold: every surviving cell, 0-score cells included, is a detection.

    The result equals that greedy loop but is computed in vectorised rounds;
    each round keeps every cell that beats all still-undecided cells within
    ``floor(W / 2)`` frames of it.

    Parameters
    ----------
    scores : array-like of shape (t, c)
        Detection scores, e.g. from :func:`apply_displacement`.  Negative
        cells are never detections.
    window : float or array-like of float of shape (c,)
        Full window width(s) in frames, > 0; see :func:`window_frames`.

    Returns
    -------
    nms_scores : ndarray of shape (t, c)
        The score at kept frames, -1 elsewhere; float (at least float32).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.postprocessing import hard_nms
    >>> scores = np.array([0.1, 0.9, 0.8, 0.0, 0.0, 0.0, 0.0, 0.7])[:, None]
    >>> hard_nms(scores, 4)[:, 0]
    array([-1. ,  0.9, -1. , -1. ,  0. , -1. , -1. ,  0.7])
    """
    scores = _check_scores(scores)
    window = _per_class_window(window, scores.shape[1])
    rows = np.ascontiguousarray(scores.T)
    n_classes, n_frames = rows.shape
    out = np.full_like(rows, -1)
    if rows.size == 0:
        return out.T
    half_widths = np.minimum(np.floor(window / 2), n_frames).astype(np.int64)
    for half_width in np.unique(half_widths):
        classes = np.flatnonzero(half_widths == half_width)
        group = rows[classes]
        kept = _hard_nms_kept(_priority(group), int(half_width))
        out[classes] = np.where(kept, group, -1)
    return out.T


@validate_params(
    {
        "scores": ["array-like"],
        "window": [Interval(numbers.Real, 0, None, closed="neither"), "array-like"],
        "min_score": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def soft_nms(scores, window, *, min_score=1e-5):
    """Greedy linear soft-NMS per class.

    Per class, the best remaining frame ``m`` (the earliest one on ties) is
    written to the output, every score within ``ceil(rho)`` frames of it is
    multiplied by ``clip(|frame - m| / rho, 0, 1)`` with the radius ``rho =
    W`` (the window expanded twofold), and ``m`` itself is set to -1.  This
    stops when the best remaining score is below ``min_score``.

    Parameters
    ----------
    scores : array-like of shape (t, c)
        Detection scores, e.g. from :func:`apply_displacement`.
    window : float or array-like of float of shape (c,)
        Full window width(s) in frames, > 0; see :func:`window_frames`.
    min_score : float, default=1e-5
        Scores below this are never detections; >= 0.

    Returns
    -------
    nms_scores : ndarray of shape (t, c)
        The (decayed) score at which each detection was taken, -1 elsewhere;
        float (at least float32).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.postprocessing import soft_nms
    >>> scores = np.array([0.0, 0.9, 0.8, 0.0, 0.5])[:, None]
    >>> soft_nms(scores, 2)[:, 0]
    array([-1. ,  0.9,  0.4, -1. ,  0.5])
    """
    scores = _check_scores(scores)
    window = _per_class_window(window, scores.shape[1])
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, numbers.Real)
        or not math.isfinite(min_score)
        or min_score < 0
    ):
        raise ValueError(f"min_score must be a finite number >= 0, got {min_score!r}.")
    n_frames, n_classes = scores.shape
    out = np.full((n_classes, n_frames), -1, dtype=scores.dtype)
    if scores.size == 0:
        return out.T
    radius = window.astype(np.float64)
    reach = int(min(math.ceil(radius.max()), n_frames))
    displacement = np.arange(-reach, reach + 1)
    decay = np.clip(np.abs(displacement)[None, :] / radius[:, None], 0.0, 1.0)
    # Rows padded by ``reach`` cells of -1 on both sides, cut into blocks that
    # each hold a whole window, so a peak's window spans at most two blocks;
    # block maxima find each class's best cell without scanning the row.
    block = max(2 * reach + 1, 32)
    n_blocks = -(-(n_frames + 2 * reach) // block)
    work = np.full((n_classes, n_blocks * block), -1, dtype=scores.dtype)
    work[:, reach : reach + n_frames] = scores.T
    blocks = work.reshape(n_classes, n_blocks, block)
    block_max = blocks.max(axis=2)
    classes = np.arange(n_classes)
    while True:
        best_block = block_max[classes].argmax(axis=1)
        best = block_max[classes, best_block]
        active = best >= min_score
        if not active.all():
            classes, best_block, best = (
                classes[active],
                best_block[active],
                best[active],
            )
            if classes.size == 0:
                break
        peak = best_block * block + blocks[classes, best_block].argmax(axis=1)
        out[classes, peak - reach] = best
        columns = peak[:, None] + displacement
        work[classes[:, None], columns] *= decay[classes]
        work[classes, peak] = -1
        for touched in ((peak - reach) // block, (peak + reach) // block):
            block_max[classes, touched] = blocks[classes, touched].max(axis=1)
    return out.T


@validate_params(
    {
        "scores": ["array-like"],
        "window": [Interval(numbers.Real, 0, None, closed="neither"), "array-like"],
        "method": [StrOptions({"hard", "soft"})],
        "min_score": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def nms(scores, window, *, method="hard", min_score=1e-5):
    """Per-class temporal NMS of detection scores, hard or linear soft.

    Parameters
    ----------
    scores : array-like of shape (t, c)
        Detection scores.
    window : float or array-like of float of shape (c,)
        Full window width(s) in frames, > 0; see :func:`window_frames`.
    method : {"hard", "soft"}, default="hard"
        :func:`hard_nms` or linear :func:`soft_nms`.
    min_score : float, default=1e-5
        Soft-NMS only: scores below this are never detections.

    Returns
    -------
    nms_scores : ndarray of shape (t, c)
        Score at each detection, -1 elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.postprocessing import nms
    >>> scores = np.array([[0.2, 0.0], [0.9, 0.3], [0.4, 0.6]])
    >>> nms(scores, [2, 4], method="hard")
    array([[-1. , -1. ],
           [ 0.9, -1. ],
           [-1. ,  0.6]])
    """
    if method == "hard":
        return hard_nms(scores, window)
    if method == "soft":
        return soft_nms(scores, window, min_score=min_score)
    raise ValueError(f"method must be one of {NMS_METHODS}, got {method!r}.")
