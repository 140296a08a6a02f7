"""A table without rows is a video without events, whatever its dtypes.

``pd.DataFrame(columns=["time", "label"])`` and a header-only CSV have object
columns; every place that takes ``y`` or ``y_pred`` accepts them.
"""

import io

import numpy as np
import pandas as pd
import pytest

from sk_spotting import DenseAnchorSpotter
from sk_spotting.data import check_events
from sk_spotting.datasets import (
    make_spotting_data,
    read_soccernet_predictions,
    write_soccernet_predictions,
)
from sk_spotting.metrics import (
    average_map_score,
    average_map_scorer,
    make_spotting_scorer,
)
from sk_spotting.plotting import (
    matched_time_errors,
    plot_displacement_errors,
    plot_timeline,
)


def _constructed(columns):
    return pd.DataFrame(columns=columns)


def _header_only_csv(columns):
    return pd.read_csv(io.StringIO(",".join(columns) + "\n"))


MAKERS = [_constructed, _header_only_csv]
TRUTH = ["time", "label"]
PREDICTIONS = ["time", "label", "confidence"]


@pytest.fixture(params=MAKERS, ids=["DataFrame(columns=...)", "header-only CSV"])
def empty(request):
    table = request.param(PREDICTIONS)
    assert table["time"].dtype == object and len(table) == 0
    return request.param


def test_check_events_gives_numeric_columns(empty):
    table = empty(PREDICTIONS + ["visibility"])
    (out,) = check_events([table], require_confidence=True)
    assert len(out) == 0
    assert out["time"].dtype == np.float64
    assert out["confidence"].dtype == np.float64


def test_rows_of_the_wrong_type_are_still_rejected():
    with pytest.raises(TypeError, match="'time' must hold numbers"):
        check_events([pd.DataFrame({"time": ["1.5"], "label": ["Goal"]})])


def test_metric_and_scorers(empty):
    y_true = [pd.DataFrame({"time": [3.0], "label": ["Goal"]}), empty(TRUTH)]
    found = pd.DataFrame({"time": [3.0], "label": ["Goal"], "confidence": [0.9]})
    assert average_map_score(y_true, [found, empty(PREDICTIONS)]) == 1.0
    assert average_map_score(y_true, [empty(PREDICTIONS)] * 2) == 0.0

    class Oracle:
        classes_ = ["Goal"]

        def predict(self, X):
            return [found, empty(PREDICTIONS)]

    X = [np.zeros((20, 2))] * 2
    assert average_map_scorer(Oracle(), X, y_true) == 1.0
    assert make_spotting_scorer("tight")(Oracle(), X, y_true) == 1.0


def test_soccernet_writers(empty, tmp_path):
    meta = pd.DataFrame({"game": ["lg/s/g"] * 2, "half": [1, 2], "n_frames": 40})
    found = pd.DataFrame({"time": [3.0], "label": ["Goal"], "confidence": [0.9]})
    y_pred = [empty(PREDICTIONS), found]
    write_soccernet_predictions(
        y_pred, meta, tmp_path / "out", frame_rate=2.0, zip_path=tmp_path / "s.zip"
    )
    back = read_soccernet_predictions(tmp_path / "s.zip", meta)
    assert len(back[0]) == 0 and back[1]["time"].tolist() == [3.0]


def test_plotting(empty):
    truth, pred = empty(TRUTH), empty(PREDICTIONS)
    assert plot_timeline(truth, pred, classes=["Goal"]).get_title() == ""
    assert len(matched_time_errors([truth], [pred], classes=["Goal"])) == 0
    plot_displacement_errors([truth], {"model": [pred]})


def test_fit_and_score(empty):
    X, y = make_spotting_data(3, n_features=4, minutes=1.0, random_state=0)
    assert len(y[0]) > 0
    y[1] = empty(TRUTH)
    spotter = DenseAnchorSpotter(
        chunk_duration=8.0,
        unet_levels=1,
        epochs=1,
        chunks_per_epoch=4,
        batch_size=4,
        random_state=0,
    ).fit(X, y)
    assert 0.0 <= spotter.score(X, y) <= 1.0
