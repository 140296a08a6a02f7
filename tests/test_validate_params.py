"""Public functions check their arguments with scikit-learn's validate_params."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sk_spotting.data import dense_to_events, events_to_dense
from sk_spotting.postprocessing import nms, scores_to_events, soft_nms
from sk_spotting.targets import (
    confidence_class_weights,
    confidence_targets,
    dilate_frames,
    displacement_class_weights,
    displacement_targets,
    displacement_weighting,
)

LABELS = np.zeros((10, 2), bool)
SCORES = np.zeros((10, 2))
EVENTS = pd.DataFrame({"time": [1.0], "label": ["a"]})


@pytest.mark.parametrize(
    "function, kwargs, name",
    [
        (dilate_frames, {"marks": LABELS, "half_width": -1}, "half_width"),
        (confidence_targets, {"labels": LABELS, "radius": -1.0}, "radius"),
        (displacement_targets, {"labels": LABELS, "radius": "6"}, "radius"),
        (
            confidence_class_weights,
            {"targets": [LABELS], "positive_weight": 1.5},
            "positive_weight",
        ),
        (
            displacement_class_weights,
            {"masks": [LABELS], "class_weight": "balance"},
            "class_weight",
        ),
        (
            displacement_weighting,
            {"labels": [LABELS], "batch_frames": 0},
            "batch_frames",
        ),
        (nms, {"scores": SCORES, "window": 4, "method": "medium"}, "method"),
        (soft_nms, {"scores": SCORES, "window": 4, "min_score": -1.0}, "min_score"),
        (
            scores_to_events,
            {"confidence": SCORES, "classes": ["a", "b"], "frame_rate": 0},
            "frame_rate",
        ),
        (
            events_to_dense,
            {"events": EVENTS, "n_frames": -2, "classes": ["a"], "frame_rate": 2.0},
            "n_frames",
        ),
        (
            dense_to_events,
            {"scores": SCORES, "classes": ["a", "b"], "frame_rate": -2.0},
            "frame_rate",
        ),
    ],
)
def test_bad_arguments_name_the_parameter_and_the_function(function, kwargs, name):
    with pytest.raises(InvalidParameterError) as info:
        function(**kwargs)
    assert f"The {name!r} parameter of {function.__name__} must be" in str(info.value)
