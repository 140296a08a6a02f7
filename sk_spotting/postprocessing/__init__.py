"""Post-processing: from dense network outputs to detections.

:func:`apply_displacement` moves each anchor's confidence to the frame its
displacement points to, and :func:`nms` (hard or linear soft, per class) keeps
the peaks; cells with a post-NMS score >= 0 are the detections.
"""

from ._decode import apply_displacement
from ._events import scores_to_events
from ._nms import NMS_METHODS, hard_nms, nms, soft_nms, window_frames

__all__ = [
    "scores_to_events",
    "NMS_METHODS",
    "apply_displacement",
    "hard_nms",
    "nms",
    "soft_nms",
    "window_frames",
]
