"""Decoding with the true targets: displacement is what makes spotting precise."""

import numpy as np

from sk_spotting.data import events_to_dense
from sk_spotting.datasets import make_spotting_data
from sk_spotting.metrics import average_map_score
from sk_spotting.postprocessing import scores_to_events
from sk_spotting.targets import confidence_targets, displacement_targets


def test_oracle_displacement_lifts_tight_average_map():
    X, y = make_spotting_data(2, n_features=4, minutes=45.0, random_state=0)
    classes = sorted({label for e in y for label in e["label"]})
    rng = np.random.default_rng(0)
    with_d, without_d = [], []
    for video, events in zip(X, y):
        labels = events_to_dense(
            events, n_frames=len(video), classes=classes, frame_rate=2.0
        )
        # a confidence plateau of +-3 s whose peak is anywhere inside it
        confidence = confidence_targets(labels, 6.0) * rng.uniform(0.5, 1, labels.shape)
        displacement, _ = displacement_targets(labels, 12.0)
        kwargs = {"classes": classes, "frame_rate": 2.0, "nms_window": 20.0}
        with_d.append(scores_to_events(confidence, displacement, **kwargs))
        without_d.append(scores_to_events(confidence, None, **kwargs))

    def score(predictions, tolerances):
        return average_map_score(y, predictions, tolerances=tolerances, classes=classes)

    assert score(with_d, "tight") > 0.95
    assert score(without_d, "tight") < 0.6
    assert abs(score(with_d, "loose") - score(without_d, "loose")) < 0.05
