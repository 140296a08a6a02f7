"""From dense network outputs to a table of spotted actions (docs/method.md, Inference).

Shape legend: t frames, c classes.
"""

from __future__ import annotations

import numbers

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..data import dense_to_events
from ._decode import apply_displacement
from ._nms import nms, window_frames

__all__ = ["scores_to_events"]


@validate_params(
    {
        "confidence": ["array-like"],
        "displacement": ["array-like", None],
        "classes": ["array-like"],
        "frame_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "nms_method": [StrOptions({"hard", "soft"})],
        "nms_window": [Interval(numbers.Real, 0, None, closed="neither"), "array-like"],
    },
    prefer_skip_nested_validation=True,
)
def scores_to_events(
    confidence,
    displacement=None,
    *,
    classes,
    frame_rate,
    nms_method="hard",
    nms_window=20.0,
):
    """Spotted actions of one video from its dense confidences.

    Confidences are moved by their displacement (when given), then per-class
    NMS keeps the peaks; every surviving cell is one action.

    Parameters
    ----------
    confidence : ndarray of shape (n_frames, n_classes)
        Per-anchor confidences in [0, 1].
    displacement : ndarray of shape (n_frames, n_classes), default=None
        Per-anchor displacement in frames; None skips this step ("w/o D").
    classes : sequence of str
        Class names of the columns.
    frame_rate : float
        Frames per second.
    nms_method : {"hard", "soft"}, default="hard"
        Greedy hard NMS or linear soft-NMS.
    nms_window : float or sequence of float, default=20.0
        Full NMS window in seconds, one for all classes or one per class.

    Returns
    -------
    events : pandas.DataFrame
        Columns ``time`` (seconds), ``label`` and ``confidence``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.postprocessing import scores_to_events
    >>> confidence = np.zeros((40, 1)); confidence[10, 0] = 0.9
    >>> displacement = np.zeros((40, 1)); displacement[10, 0] = 2.0
    >>> events = scores_to_events(confidence, displacement, classes=["Goal"],
    ...                           frame_rate=2.0, nms_window=20.0)
    >>> events.sort_values("confidence").iloc[-1].to_dict()
    {'time': 6.0, 'label': 'Goal', 'confidence': 0.9}
    """
    scores = confidence
    if displacement is not None:
        scores = apply_displacement(confidence, displacement)
    scores = nms(scores, window_frames(nms_window, frame_rate), method=nms_method)
    return dense_to_events(scores, classes=list(classes), frame_rate=frame_rate)
