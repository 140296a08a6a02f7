"""Temporal displacement targets (docs/method.md, Targets).

Shape legend: t frames, c classes.

For every anchor ``(t, k)`` within the displacement radius ``R`` (frames) of a
class-``k`` action, the target is the signed number of frames ``s - t`` to the
nearest such action ``s`` (positive: the action is later).  On a tie the
earlier action wins, as in the reference implementation.  Anchors farther away
get no target (mask ``False``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["displacement_targets"]


def _nearest_marks(labels):
    """Frame of the previous and next mark of each anchor (-1 / n if none)."""
    n_frames, n_classes = labels.shape
    frames = np.arange(n_frames)[:, None]
    marked = np.where(labels, frames, -1)
    previous = np.maximum.accumulate(marked, axis=0)
    marked_next = np.where(labels, frames, n_frames)
    following = np.minimum.accumulate(marked_next[::-1], axis=0)[::-1]
    return previous, following


@validate_params(
    {
        "labels": ["array-like"],
        "radius": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def displacement_targets(labels, radius):
    """Displacement (in frames) from each anchor to its nearest action.

    Parameters
    ----------
    labels : ndarray of shape (n_frames, n_classes), dtype bool
        ``True`` on the frame of each action.
    radius : float
        Displacement radius in frames (``displacement_radius * frame_rate``).

    Returns
    -------
    displacement : ndarray of shape (n_frames, n_classes), dtype float32
        ``s - t`` for the nearest action ``s`` of the class, ``0`` where masked.
    mask : ndarray of shape (n_frames, n_classes), dtype bool
        ``True`` where an action lies within ``floor(radius)`` frames.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import displacement_targets
    >>> labels = np.zeros((9, 1), dtype=bool); labels[[2, 6], 0] = True
    >>> displacement, mask = displacement_targets(labels, radius=2.0)
    >>> displacement[:, 0]
    array([ 2.,  1.,  0., -1., -2.,  1.,  0., -1., -2.], dtype=float32)
    >>> mask[:, 0].astype(int)
    array([1, 1, 1, 1, 1, 1, 1, 1, 1])
    """
    labels = np.asarray(labels, dtype=bool)
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be finite and >= 0 frames, got {radius}.")
    frames = np.arange(labels.shape[0])[:, None]
    previous, following = _nearest_marks(labels)
    to_previous = np.where(previous >= 0, frames - previous, np.iinfo(np.int64).max)
    to_following = np.where(
        following < labels.shape[0], following - frames, np.iinfo(np.int64).max
    )
    take_previous = to_previous <= to_following
    displacement = np.where(take_previous, -to_previous, to_following)
    distance = np.minimum(to_previous, to_following)
    mask = distance <= int(np.floor(radius + 1e-9))
    displacement = np.where(mask, displacement, 0).astype(np.float32)
    return displacement, mask
