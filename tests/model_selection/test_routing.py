"""Validation data through scikit-learn's meta-estimators, sliced or not.

``GridSearchCV`` and ``cross_validate`` cut every fit argument as long as
``X`` with the training indices of the split (with metadata routing on or
off): a list of validation videos of that length is silently sliced.  A
:class:`~sk_spotting.ValidationSet` is not array-like and goes through whole;
a ``Pipeline(..., transform_input=["X_valid"])`` transforms it like ``X``.
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline

from sk_spotting import DenseAnchorSpotter, ValidationSet
from sk_spotting.base import SpotterMixin
from sk_spotting.datasets import SOCCERNET_V2_CLASSES, make_spotting_data
from sk_spotting.metrics import tight_average_map_scorer
from sk_spotting.preprocessing import PerFrame

TINY = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 1,
    "chunks_per_epoch": 8,
    "batch_size": 4,
    "validation_interval": 1,
    "random_state": 0,
}


CLASSES = list(SOCCERNET_V2_CLASSES)


@pytest.fixture(scope="module")
def data():
    X, y = make_spotting_data(8, n_features=6, minutes=1.0, random_state=4)
    classes = sorted({label for table in y for label in table["label"]})
    return X[:4], y[:4], X[4:], y[4:], classes


class Spy(SpotterMixin, BaseEstimator):
    """Records what its fit receives as validation data."""

    seen = []

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y, X_valid=None, y_valid=None):
        if isinstance(X_valid, ValidationSet):
            X_valid = X_valid.X
        Spy.seen.append(
            (len(X), None if X_valid is None else [v.shape for v in X_valid])
        )
        self.classes_ = np.array(CLASSES)
        return self

    def predict(self, X):
        import pandas as pd

        return [pd.DataFrame({"time": [], "label": [], "confidence": []}) for _ in X]


@pytest.fixture
def spy():
    Spy.seen = []
    return Spy


@pytest.mark.parametrize("routing", [False, True])
def test_a_list_as_long_as_X_is_sliced_but_a_validation_set_is_not(data, spy, routing):
    X, y, X_valid, y_valid, _ = data
    with sklearn.config_context(enable_metadata_routing=routing):
        estimator = spy()
        if routing:
            estimator.set_fit_request(X_valid=True, y_valid=True)
        cv = KFold(2)
        cross_validate(
            estimator, X, y, cv=cv, params={"X_valid": X_valid, "y_valid": y_valid}
        )
        sliced = [valid for _, valid in spy.seen]
        assert [len(v) for v in sliced] == [2, 2]  # the trap: 4 videos cut to 2
        spy.seen = []
        cross_validate(
            estimator, X, y, cv=cv, params={"X_valid": ValidationSet(X_valid, y_valid)}
        )
        assert [len(v) for _, v in spy.seen] == [4, 4]
        spy.seen = []
        search = GridSearchCV(estimator, {"alpha": [1.0, 2.0]}, cv=cv)
        search.fit(X, y, X_valid=ValidationSet(X_valid, y_valid))
        # 2 candidates x 2 folds + the refit, each with all 4 validation videos
        assert [len(v) for _, v in spy.seen] == [4] * 5


def test_pipeline_transforms_a_validation_set_with_routing(data, spy):
    X, y, X_valid, y_valid, _ = data
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = Pipeline(
            [
                ("pca", PerFrame(PCA(3))),
                ("spotter", spy().set_fit_request(X_valid=True)),
            ],
            transform_input=["X_valid"],
        )
        pipeline.fit(X, y, X_valid=ValidationSet(X_valid, y_valid))
        # the validation videos reached the spotter through the fitted PCA
        assert spy.seen[-1][1] == [(v.shape[0], 3) for v in X_valid]
        spy.seen = []
        GridSearchCV(
            pipeline,
            {"pca__transformer__n_components": [2]},
            cv=2,
            scoring=tight_average_map_scorer,
        ).fit(X, y, X_valid=ValidationSet(X_valid, y_valid))
        assert [[s[1] for s in v] for _, v in spy.seen] == [[2] * 4] * 3


def test_the_spotter_fits_the_same_from_a_validation_set(data):
    X, y, X_valid, y_valid, classes = data
    lists = DenseAnchorSpotter(**TINY, classes=classes).fit(
        X, y, X_valid=X_valid, y_valid=y_valid
    )
    packed = DenseAnchorSpotter(**TINY, classes=classes).fit(
        X, y, X_valid=ValidationSet(X_valid, y_valid)
    )
    assert (
        lists.confidence_net_.history[-1]["valid_average_map"]
        == packed.confidence_net_.history[-1]["valid_average_map"]
    )
    np.testing.assert_array_equal(
        lists.predict_scores(X[:1])[0].confidence,
        packed.predict_scores(X[:1])[0].confidence,
    )
    with pytest.raises(ValueError, match="leave y_valid unset"):
        DenseAnchorSpotter(**TINY).fit(
            X, y, X_valid=ValidationSet(X_valid, y_valid), y_valid=y_valid
        )


def test_a_real_spotter_in_a_routed_grid_search(data):
    X, y, X_valid, y_valid, classes = data
    with sklearn.config_context(enable_metadata_routing=True):
        spotter = DenseAnchorSpotter(**TINY, classes=classes)
        spotter.set_fit_request(X_valid=True)
        pipeline = Pipeline(
            [("pca", PerFrame(PCA(3))), ("spotter", spotter)],
            transform_input=["X_valid"],
        )
        search = GridSearchCV(
            pipeline,
            {"spotter__learning_rate": [1e-3]},
            cv=2,
            scoring=tight_average_map_scorer,
        )
        search.fit(X, y, X_valid=ValidationSet(X_valid, y_valid))
    best = search.best_estimator_[-1]
    assert "valid_average_map" in best.confidence_net_.history[-1]


def test_validation_set_checks_its_contents(data):
    X, y, *_ = data
    with pytest.raises(ValueError, match="one event table per video"):
        ValidationSet(X, y[:2])
    with pytest.raises(ValueError, match="both videos"):
        ValidationSet(X, None)
    valid = ValidationSet(X, y)
    assert not hasattr(valid, "__len__") and not hasattr(valid, "__array__")
    narrow = valid.with_videos([x[:, :2] for x in X])
    assert all(a is b for a, b in zip(narrow.y, valid.y))
    assert narrow.X[0].shape[1] == 2


def test_tuning_uses_routing_for_a_routed_pipeline(data):
    """tune_in_turn lets routing transform the validation videos when the
    pipeline asks for it (transform_input), instead of doing it by hand."""
    from sk_spotting.model_selection import tune_in_turn

    X, y, X_valid, y_valid, classes = data
    seen = []

    class Recorder(PerFrame):
        def transform(self, X):
            seen.append(type(X).__name__)
            return super().transform(X)

    spotter = DenseAnchorSpotter(**TINY, classes=classes)
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = Pipeline(
            [("pca", Recorder(PCA(3))), ("spotter", spotter)],
            transform_input=["X_valid"],
        )
        result = tune_in_turn(
            pipeline,
            X,
            y,
            X_valid=X_valid,
            y_valid=y_valid,
            params=["learning_rate"],
            search_spaces={"learning_rate": [1e-3, 2e-3]},
            n_trials_per_param=2,
            random_state=0,
        )
    # the validation set went through the fitted PCA as one ValidationSet
    assert "ValidationSet" in seen
    best = result.best_estimator[-1]
    assert "valid_average_map" in best.confidence_net_.history[-1]
