"""Dense confidence targets (docs/method.md, Targets).

Shape legend: t frames, c classes.

Anchor ``(t, k)`` is a positive of class ``k`` when a class-``k`` action lies
within the confidence radius of frame ``t``.  A radius of ``r`` frames covers
frames ``ceil(i - r) ... floor(i + r)`` around an action on frame ``i``, clipped
to the video.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["confidence_targets", "dilate_frames"]


@validate_params(
    {
        "marks": ["array-like"],
        "half_width": [Interval(numbers.Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def dilate_frames(marks, half_width):
    """Mark every frame within ``half_width`` frames of a marked frame.

    Parameters
    ----------
    marks : ndarray of shape (n_frames, n_classes), dtype bool
        Marked frames per class.
    half_width : int
        Non-negative number of frames on each side.

    Returns
    -------
    dilated : ndarray of shape (n_frames, n_classes), dtype bool

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import dilate_frames
    >>> marks = np.zeros((7, 1), dtype=bool); marks[3] = True
    >>> dilate_frames(marks, 1)[:, 0].astype(int)
    array([0, 0, 1, 1, 1, 0, 0])
    """
    marks = np.asarray(marks, dtype=bool)
    if half_width < 0:
        raise ValueError(f"half_width must be >= 0, got {half_width}.")
    n_frames = marks.shape[0]
    # Count marks in [t - h, t + h] with one cumulative sum: no loop over frames.
    counts = np.zeros((n_frames + 1,) + marks.shape[1:], dtype=np.int64)
    np.cumsum(marks, axis=0, out=counts[1:])
    frames = np.arange(n_frames)
    upper = np.minimum(frames + half_width + 1, n_frames)
    lower = np.maximum(frames - half_width, 0)
    return (counts[upper] - counts[lower]) > 0


@validate_params(
    {
        "labels": ["array-like"],
        "radius": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def confidence_targets(labels, radius):
    """Binary confidence targets from per-frame action marks.

    Parameters
    ----------
    labels : ndarray of shape (n_frames, n_classes), dtype bool
        ``True`` on the frame of each action (see
        :func:`sk_spotting.data.events_to_dense`).
    radius : float
        Confidence radius in frames (``confidence_radius * frame_rate``).

    Returns
    -------
    targets : ndarray of shape (n_frames, n_classes), dtype bool
        ``True`` within ``floor(radius)`` frames of an action of that class.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import confidence_targets
    >>> labels = np.zeros((10, 2), dtype=bool); labels[4, 1] = True
    >>> confidence_targets(labels, radius=2.0).astype(int).T
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]])
    """
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be finite and >= 0 frames, got {radius}.")
    return dilate_frames(labels, int(np.floor(radius + 1e-9)))
