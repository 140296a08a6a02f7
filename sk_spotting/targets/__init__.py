"""What the networks are asked to predict: targets and loss weights."""

from ._confidence import confidence_targets, dilate_frames
from ._displacement import displacement_targets
from ._weights import (
    confidence_class_weights,
    displacement_class_weights,
    displacement_weighting,
)

__all__ = [
    "confidence_class_weights",
    "confidence_targets",
    "dilate_frames",
    "displacement_class_weights",
    "displacement_targets",
    "displacement_weighting",
]
