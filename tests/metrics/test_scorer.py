"""The average-mAP scorers inside scikit-learn model selection."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sk_spotting.metrics import (
    average_map_score,
    average_map_scorer,
    make_spotting_scorer,
    tight_average_map_scorer,
)

CLASSES = ["Goal", "Corner", "Foul"]


class ShiftedOracle(BaseEstimator):
    """Predicts the stored true events of each video, shifted by ``shift``
    seconds, with random confidences; a video is recognised by its features
    (first feature = video number)."""

    def __init__(self, catalog=None, shift=0.0, seed=0):
        self.catalog = catalog
        self.shift = shift
        self.seed = seed

    def fit(self, X, y):
        assert len(X) == len(y)
        self.classes_ = list(CLASSES)
        return self

    def predict(self, X):
        rng = np.random.default_rng(self.seed)
        tables = []
        for video in X:
            truth = self.catalog[int(video[0, 0])]
            tables.append(
                pd.DataFrame(
                    {
                        "time": truth["time"].to_numpy() + self.shift,
                        "label": truth["label"].to_numpy(dtype=object),
                        "confidence": rng.uniform(0.2, 1.0, len(truth)),
                    }
                )
            )
        return tables


@pytest.fixture
def videos():
    """Six videos (lists of 2-D arrays) and their events (lists of DataFrames)."""
    rng = np.random.default_rng(0)
    X, y = [], []
    for number in range(6):
        n_frames = int(rng.integers(300, 500))
        X.append(np.full((n_frames, 4), float(number)))
        n = int(rng.integers(2, 8))
        y.append(
            pd.DataFrame(
                {
                    "time": np.sort(rng.uniform(0, n_frames / 2 - 10, n)),
                    "label": rng.choice(["Goal", "Corner"], n),
                }
            )
        )
    return X, y


def test_scorers_in_cross_validate(videos):
    X, y = videos
    scoring = {"loose": average_map_scorer, "tight": tight_average_map_scorer}
    exact = cross_validate(ShiftedOracle(catalog=y), X, y, scoring=scoring, cv=KFold(3))
    # "Foul" is in classes_ but never happens: AP 0 in the mean of 3 classes
    np.testing.assert_allclose(exact["test_loose"], 2 / 3)
    np.testing.assert_allclose(exact["test_tight"], 2 / 3)
    shifted = cross_validate(
        ShiftedOracle(catalog=y, shift=4.0), X, y, scoring=scoring, cv=KFold(3)
    )
    assert (shifted["test_tight"] < shifted["test_loose"]).all()
    assert (shifted["test_loose"] < exact["test_loose"] + 1e-12).all()


def test_scorers_in_grid_search(videos):
    X, y = videos
    search = GridSearchCV(
        ShiftedOracle(catalog=y),
        {"shift": [30.0, 0.0, 3.0]},
        scoring=tight_average_map_scorer,
        cv=KFold(2),
    )
    search.fit(X, y)
    assert search.best_params_ == {"shift": 0.0}
    assert search.best_score_ == pytest.approx(2 / 3)
    assert search.score(X, y) == pytest.approx(2 / 3)


def test_made_scorer_equals_the_metric(videos):
    X, y = videos
    estimator = ShiftedOracle(catalog=y, shift=1.0).fit(X, y)
    scorer = make_spotting_scorer(tolerances=[1.0, 3.0], classes=["Goal", "Corner"])
    expected = average_map_score(
        y, estimator.predict(X), tolerances=[1.0, 3.0], classes=["Goal", "Corner"]
    )
    assert scorer(estimator, X, y) == expected
    # without classes, the estimator's classes_ are scored
    assert make_spotting_scorer()(estimator, X, y) == average_map_scorer(
        estimator, X, y
    )
    # an estimator without classes_ is scored on the labels present
    del estimator.classes_
    assert make_spotting_scorer(tolerances="tight")(estimator, X, y) == (
        average_map_score(y, estimator.predict(X), tolerances="tight")
    )


def test_made_scorer_checks_its_arguments():
    with pytest.raises(ValueError, match="tolerances"):
        make_spotting_scorer(tolerances="medium")
    with pytest.raises(ValueError, match="duplicated"):
        make_spotting_scorer(classes=["Goal", "Goal"])


class CountingOracle(ShiftedOracle):
    """ShiftedOracle that records the number of videos of each predict call
    (on the class: cross_validate scores clones)."""

    calls = []

    def predict(self, X):
        CountingOracle.calls.append(len(X))
        return super().predict(X)


def test_scorers_share_one_predict_per_split(videos, monkeypatch):
    X, y = videos
    monkeypatch.setattr(CountingOracle, "calls", [])
    scoring = {
        "loose": average_map_scorer,
        "tight": tight_average_map_scorer,
        "short": make_spotting_scorer(tolerances=[2.0]),
    }
    result = cross_validate(
        CountingOracle(catalog=y, shift=1.0), X, y, scoring=scoring, cv=KFold(3)
    )
    # scikit-learn's multi-metric scorer cached predict for the three scorers
    assert CountingOracle.calls == [2, 2, 2]
    estimator = CountingOracle(catalog=y, shift=1.0).fit(X, y)
    for name, scorer in scoring.items():
        expected = [scorer(estimator, X[i : i + 2], y[i : i + 2]) for i in (0, 2, 4)]
        assert result[f"test_{name}"].tolist() == expected
    # a grid search with several scorers predicts once per split and candidate
    CountingOracle.calls.clear()
    GridSearchCV(
        CountingOracle(catalog=y),
        {"shift": [0.0, 3.0]},
        scoring=scoring,
        refit="tight",
        cv=KFold(2),
    ).fit(X, y)
    assert CountingOracle.calls == [3, 3, 3, 3]  # 2 candidates x 2 splits


def test_scorers_pickle_and_reject_sample_weight(videos):
    X, y = videos
    estimator = ShiftedOracle(catalog=y).fit(X, y)
    for scorer in (
        average_map_scorer,
        make_spotting_scorer(classes=["Corner", "Goal"]),
    ):
        copy = pickle.loads(pickle.dumps(scorer))
        assert repr(copy) == repr(scorer)
        assert copy(estimator, X, y) == scorer(estimator, X, y)
        with pytest.raises(TypeError, match="no sample weights"):
            scorer(estimator, X, y, sample_weight=np.ones(len(X)))
