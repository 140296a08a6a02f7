"""tune_nms_windows: exact per-class choice on validation, no refit."""

import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_spotting import DenseAnchorSpotter
from sk_spotting.metrics import average_map_score
from sk_spotting.model_selection import tune_nms_windows
from sk_spotting.preprocessing import PerFrame

from .conftest import tiny_spotter

WINDOWS = [2.0, 6.0, 12.0, 30.0]


@pytest.fixture(scope="module")
def fitted(videos):
    X, y = videos
    return tiny_spotter(epochs=3, nms_window=20.0).fit(X[:4], y[:4])


@pytest.fixture
def counted(monkeypatch):
    """Count predict_scores calls; fail on any fit."""
    calls = []
    original = DenseAnchorSpotter.predict_scores

    def predict_scores(self, X):
        calls.append(len(X))
        return original(self, X)

    def fit(self, *args, **kwargs):
        raise AssertionError("the networks were refitted")

    monkeypatch.setattr(DenseAnchorSpotter, "predict_scores", predict_scores)
    monkeypatch.setattr(DenseAnchorSpotter, "fit", fit)
    return calls


@pytest.mark.parametrize("tolerances", ["loose", "tight"])
def test_chosen_windows_maximise_each_class_as_the_spotter_decodes(
    fitted, videos, counted, tolerances
):
    X, y = videos
    before = copy.deepcopy(fitted.get_params())
    windows, scores = tune_nms_windows(
        fitted, X[4:], y[4:], windows=WINDOWS, tolerances=tolerances, return_scores=True
    )
    assert counted == [2]  # one pass over the validation videos, no fit
    assert fitted.get_params() == before  # the spotter itself is not changed
    assert list(scores.columns) == sorted(WINDOWS + [20.0])  # the current one too
    assert list(windows) == ["a", "b"]
    # the spotter, decoding every class with its own window, gets each class's
    # best average AP of the grid: the per-class search is exact
    tuned = copy.deepcopy(fitted).set_params(nms_window=windows)
    evaluation = average_map_score(
        y[4:],
        tuned.predict(X[4:]),
        tolerances=tolerances,
        classes=["a", "b"],
        return_details=True,
    )
    np.testing.assert_allclose(
        evaluation.average_ap_per_class, scores.max(axis=1).to_numpy()
    )
    for window in scores.columns:  # no single window does better
        single = copy.deepcopy(fitted).set_params(nms_window=window)
        score = average_map_score(
            y[4:], single.predict(X[4:]), tolerances=tolerances, classes=["a", "b"]
        )
        assert evaluation.average_map >= score - 1e-12


def test_ties_keep_the_current_window(fitted, videos):
    X, y = videos
    # class b has no event in these validation videos: AP 0 at every window
    y_a = [events[events["label"] == "a"] for events in y[4:]]
    spotter = copy.deepcopy(fitted).set_params(nms_window={"a": 20.0, "b": 7.0})
    windows = tune_nms_windows(spotter, X[4:], y_a, windows=WINDOWS)
    assert windows["b"] == 7.0


def test_pipeline_transforms_the_validation_videos(videos):
    X, y = videos
    pipe = make_pipeline(
        PerFrame(StandardScaler()), tiny_spotter(epochs=1, use_displacement=False)
    ).fit(X[:4], y[:4])
    windows = tune_nms_windows(pipe, X[4:], y[4:], windows=[4.0, 40.0])
    pipe.set_params(denseanchorspotter__nms_window=windows)
    assert set(windows.values()) <= {4.0, 20.0, 40.0}
    assert len(pipe.predict(X[4:])) == 2


@pytest.mark.parametrize("windows", [[], [0.0], [-1.0, 2.0], ["5"], [float("inf")]])
def test_bad_windows_are_refused(fitted, videos, windows):
    X, y = videos
    with pytest.raises(ValueError, match="windows"):
        tune_nms_windows(fitted, X[4:], y[4:], windows=windows)


def test_unfitted_spotter_is_refused(videos):
    X, y = videos
    with pytest.raises(NotFittedError):
        tune_nms_windows(tiny_spotter(), X[4:], y[4:])
