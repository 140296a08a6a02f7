"""DenseAnchorSpotter end to end on tiny models: the scikit-learn contract and more."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)
from skorch.exceptions import DeviceWarning

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data

from ._tiny import TINY


@pytest.fixture(scope="module")
def data():
    X, y = make_spotting_data(3, n_features=24, minutes=2.0, random_state=1)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return DenseAnchorSpotter(**TINY).fit(X, y)


@pytest.mark.parametrize(
    "check",
    [
        check_estimator_cloneable,
        check_estimator_repr,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
        check_do_not_raise_errors_in_init_or_set_params,
    ],
)
def test_sklearn_data_free_checks(check):
    check("DenseAnchorSpotter", DenseAnchorSpotter())


def test_tags_are_honest_about_list_input():
    tags = DenseAnchorSpotter().__sklearn_tags__()
    assert tags.input_tags.two_d_array is False
    assert tags.target_tags.required is True


def test_fit_returns_self_and_leaves_params_alone(data):
    X, y = data
    spotter = DenseAnchorSpotter(**TINY)
    before = spotter.get_params()
    assert spotter.fit(X, y) is spotter
    assert spotter.get_params() == before
    assert spotter.n_features_in_ == 24
    assert set(spotter.classes_) == {lab for e in y for lab in e["label"]}


def test_not_fitted_error(data):
    with pytest.raises(NotFittedError):
        DenseAnchorSpotter().predict(data[0])


def test_n_features_mismatch_at_predict(fitted):
    with pytest.raises(ValueError, match=r"X\[0\].*expected 24 as seen during fit"):
        fitted.predict([np.zeros((100, 5), np.float32)])


def test_predictions_are_events(fitted, data):
    X, _ = data
    events = fitted.predict(X)
    assert len(events) == len(X)
    for video, table in zip(X, events):
        assert list(table.columns) == ["time", "label", "confidence"]
        assert table["time"].between(0, video.shape[0] / 2.0).all()
        assert set(table["label"]) <= set(fitted.classes_)
        assert table["confidence"].between(0, 1).all()


def test_predict_scores_shapes(fitted, data):
    X, _ = data
    scores = fitted.predict_scores(X)
    n_classes = len(fitted.classes_)
    for video, (confidence, displacement) in zip(X, scores):
        assert confidence.shape == (video.shape[0], n_classes)
        assert displacement.shape == (video.shape[0], n_classes)
        assert np.all((confidence >= 0) & (confidence <= 1))
        assert np.all(np.abs(displacement) <= 12.0)


def test_score_is_average_map(fitted, data):
    X, y = data
    loose = fitted.score(X, y)
    tight = fitted.score(X, y, tolerances="tight")
    assert 0.0 <= tight <= loose <= 1.0


def _dump_as_if_fitted_on_cuda(spotter, path, monkeypatch):
    """joblib.dump with every tensor tagged "cuda:0", as a GPU machine writes.

    torch records each storage's device through ``location_tag`` and restores
    it on load; a CPU-only machine cannot restore a "cuda:0" storage unless a
    ``map_location`` is given.  The nets' ``device`` is set to "cuda" too,
    as after a fit on a GPU.
    """
    real = torch.serialization.location_tag
    with monkeypatch.context() as patch:
        patch.setattr(
            torch.serialization,
            "location_tag",
            lambda storage: "cuda:0" if real(storage) == "cpu" else real(storage),
        )
        nets = [spotter.confidence_net_, spotter.displacement_net_]
        for net in nets:
            patch.setattr(net, "device", "cuda")
        joblib.dump(spotter, path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only load")
def test_cuda_tagged_tensors_cannot_load_on_cpu_by_themselves(tmp_path, monkeypatch):
    # the simulation is effective: a bare module saved this way does not load
    module = torch.nn.Linear(2, 1)
    with monkeypatch.context() as patch:
        real = torch.serialization.location_tag
        patch.setattr(
            torch.serialization, "location_tag", lambda s: "cuda:0" * (real(s) == "cpu")
        )
        joblib.dump(module, tmp_path / "module.joblib")
    with pytest.raises(RuntimeError, match="CUDA"):
        joblib.load(tmp_path / "module.joblib")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only load")
def test_spotter_fitted_on_cuda_loads_and_predicts_on_cpu(
    fitted, data, tmp_path, monkeypatch
):
    # A real GPU-saved spotter (benchmarks/results/gpu/smoke.log) failed to
    # load on a CPU-only machine because the nets' ``module`` parameter, the
    # same object as ``module_``, was pickled outside skorch's device mapping.
    X, _ = data
    path = tmp_path / "spotter.joblib"
    _dump_as_if_fitted_on_cuda(fitted, path, monkeypatch)
    with pytest.warns(DeviceWarning, match="(?i)cuda"):
        loaded = joblib.load(path)
    for net in (loaded.confidence_net_, loaded.displacement_net_):
        assert torch.device(net.device).type == "cpu"
        assert net.module is net.module_
        assert {p.device.type for p in net.module_.parameters()} == {"cpu"}
    for a, b in zip(fitted.predict(X), loaded.predict(X)):
        pd.testing.assert_frame_equal(a, b)


def test_pickle_round_trip_gives_identical_predictions(fitted, data, tmp_path):
    X, _ = data
    path = tmp_path / "spotter.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    for a, b in zip(fitted.predict(X), loaded.predict(X)):
        pd.testing.assert_frame_equal(a, b)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        again.predict_scores(X[:1])[0].confidence,
        fitted.predict_scores(X[:1])[0].confidence,
    )


def test_random_state_makes_cpu_runs_bit_identical(data, fitted):
    X, y = data
    other = clone(fitted).fit(X, y)
    for a, b in zip(fitted.predict_scores(X), other.predict_scores(X)):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)
    different = clone(fitted).set_params(random_state=1).fit(X, y)
    assert not np.array_equal(
        different.predict_scores(X[:1])[0].confidence,
        fitted.predict_scores(X[:1])[0].confidence,
    )


def test_validation_keeps_best_weights(data):
    X, y = data
    spotter = DenseAnchorSpotter(**{**TINY, "epochs": 3}, validation_interval=1)
    spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])
    history = spotter.confidence_net_.history
    scores = history[:, "valid_average_map"]
    assert len(scores) == 3
    assert history[-1, "best_epoch"] == int(np.argmax(scores)) + 1
    assert len(spotter.displacement_net_.history[:, "valid_average_map"]) == 3
    pickle.dumps(spotter)  # no validation data captured


def test_compiled_training_matches_eager_and_saves_a_plain_module(
    data, fitted, tmp_path
):
    # aot_eager: dynamo + AOTAutograd, as the default backend, without C++ codegen
    X, y = data
    spotter = DenseAnchorSpotter(**TINY, compile={"backend": "aot_eager"}).fit(X, y)
    for a, b in zip(fitted.predict_scores(X), spotter.predict_scores(X)):
        np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.displacement, b.displacement, rtol=1e-4, atol=1e-5)
    module = spotter.confidence_net_.module_
    assert not isinstance(module, torch._dynamo.eval_frame.OptimizedModule)
    assert set(module.state_dict()) == set(fitted.confidence_net_.module_.state_dict())
    path = tmp_path / "compiled.joblib"
    joblib.dump(spotter, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        loaded.predict_scores(X[:1])[0].confidence,
        spotter.predict_scores(X[:1])[0].confidence,
    )


def test_without_displacement(data):
    X, y = data
    spotter = DenseAnchorSpotter(**TINY, use_displacement=False).fit(X, y)
    assert spotter.displacement_net_ is None
    assert spotter.displacement_class_weight_ is None  # documented, so set
    assert all(s.displacement is None for s in spotter.predict_scores(X))


def test_transformer_trunk_and_soft_nms(data):
    X, y = data
    spotter = DenseAnchorSpotter(
        "transformer", **{**TINY, "epochs": 1}, nms="soft", nms_window=4.0
    ).fit(X, y)
    assert len(spotter.predict(X[:1])) == 1


def test_per_class_nms_window(data):
    X, y = data
    classes = sorted({lab for e in y for lab in e["label"]})
    windows = dict.fromkeys(classes, 10.0)
    spotter = DenseAnchorSpotter(**{**TINY, "epochs": 1}, nms_window=windows)
    spotter.fit(X, y)
    assert len(spotter.predict(X[:1])[0]) > 0
    with pytest.raises(ValueError, match="nms_window has no window"):
        clone(spotter).set_params(nms_window={classes[0]: 10.0}).fit(X, y)


def test_displacement_class_weight_changes_only_the_displacement_network(data):
    X, y = data
    balanced = DenseAnchorSpotter(**TINY).fit(X, y)
    alike = DenseAnchorSpotter(**TINY, displacement_class_weight=None).fit(X, y)
    a, b = balanced.predict_scores(X[:1])[0], alike.predict_scores(X[:1])[0]
    np.testing.assert_array_equal(a.confidence, b.confidence)
    assert not np.array_equal(a.displacement, b.displacement)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"trunk": "lstm"}, "trunk"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"nms": "medium"}, "nms"),
        ({"positive_weight": 1.0}, "positive_weight"),
        ({"displacement_class_weight": "inverse"}, "displacement_class_weight"),
        ({"compile": "yes"}, "compile"),
    ],
)
def test_bad_parameters(params, match, data):
    X, y = data
    with pytest.raises(ValueError, match=match):
        DenseAnchorSpotter(**params).fit(X, y)


def test_bad_fit_input(data):
    X, y = data
    with pytest.raises(ValueError, match="2 entries but X has 3 videos"):
        DenseAnchorSpotter(**TINY).fit(X, y[:2])
    bad = [t.copy() for t in y]
    bad[1].loc[0, "time"] = 1e6
    with pytest.raises(ValueError, match=r"y\[1\] \(video 1\).*beyond the end"):
        DenseAnchorSpotter(**TINY).fit(X, bad)
    with pytest.raises(ValueError, match="unknown label"):
        DenseAnchorSpotter(**TINY, classes=["Goal"]).fit(X, y)
    with pytest.raises(ValueError, match="no events"):
        empty = [pd.DataFrame({"time": [], "label": []})] * 3
        DenseAnchorSpotter(**TINY).fit(X, empty)
    with pytest.raises(ValueError, match="X_valid and y_valid"):
        DenseAnchorSpotter(**TINY).fit(X, y, X_valid=X)


def test_short_video_is_padded(data):
    X, y = data
    short = X[0][:10]
    spotter = DenseAnchorSpotter(**{**TINY, "epochs": 1}).fit(
        X + [short], y + [y[0].iloc[:0]]
    )
    (events,) = spotter.predict([short])
    assert events["time"].max() < 5.0


def test_on_validation_reports_every_interval(data):
    X, y = data
    calls = []
    spotter = DenseAnchorSpotter(**{**TINY, "epochs": 3}, validation_interval=2)
    spotter.fit(
        X[:2],
        y[:2],
        X_valid=X[2:],
        y_valid=y[2:],
        on_validation=lambda *args: calls.append(args),
    )
    assert [(net, epoch) for net, epoch, _ in calls] == [
        ("confidence", 2),
        ("confidence", 3),
        ("displacement", 2),
        ("displacement", 3),
    ]
    assert all(0 <= score <= 1 for *_, score in calls)


class _Stop(Exception):
    pass


def test_exception_in_on_validation_stops_fit(data):
    X, y = data

    def prune(network, epoch, score):
        raise _Stop

    spotter = DenseAnchorSpotter(**TINY, validation_interval=1)
    with pytest.raises(_Stop):
        spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], on_validation=prune)
    # the hook (e.g. holding an Optuna trial) is not kept on the estimator
    assert not hasattr(spotter, "_fit_state")


def test_interrupted_fit_resumes_to_the_same_model(data, tmp_path):
    X, y = data
    params = {**TINY, "epochs": 4, "validation_interval": 2}
    reference = DenseAnchorSpotter(**params).fit(
        X[:2], y[:2], X_valid=X[2:], y_valid=y[2:]
    )

    def interrupt(network, epoch, score):
        if network == "displacement" and epoch == 4:
            raise KeyboardInterrupt

    spotter = DenseAnchorSpotter(**params, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], on_validation=interrupt)
    assert (tmp_path / "confidence.pt").exists()
    spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], resume=True)
    assert len(spotter.confidence_net_.history) == 4
    assert len(spotter.displacement_net_.history) == 4
    for a, b in zip(reference.predict_scores(X), spotter.predict_scores(X)):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)
    with pytest.raises(ValueError, match="parameter 'learning_rate'"):
        clone(spotter).set_params(learning_rate=0.1).fit(
            X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], resume=True
        )
    with pytest.raises(ValueError, match="checkpoint_dir"):
        DenseAnchorSpotter(**TINY).fit(X, y, resume=True)


def test_resuming_a_finished_fit_trains_nothing_and_pickles(data, tmp_path):
    X, y = data
    params = {**TINY, "checkpoint_dir": tmp_path, "validation_interval": 1}
    first = DenseAnchorSpotter(**params).fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])
    calls = []
    again = DenseAnchorSpotter(**params).fit(
        X[:2],
        y[:2],
        X_valid=X[2:],
        y_valid=y[2:],
        resume=True,
        on_validation=lambda *a: calls.append(a),
    )
    assert calls == []  # nothing was retrained
    restored = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(
        restored.predict_scores(X[:1])[0].confidence,
        first.predict_scores(X[:1])[0].confidence,
    )


def test_memory_mapped_videos_fit_and_predict(data, tmp_path):
    X, y = data
    videos = []
    for i, video in enumerate(X):
        np.save(tmp_path / f"{i}.npy", video)
        videos.append(np.load(tmp_path / f"{i}.npy", mmap_mode="r"))
    spotter = DenseAnchorSpotter(**{**TINY, "epochs": 1}).fit(videos, y)
    assert len(spotter.predict(videos[:1])) == 1


def test_auto_displacement_weighting_is_chosen_and_recorded(capsys):
    X, y = make_spotting_data(2, n_features=8, minutes=30.0, random_state=3)
    params = {**TINY, "epochs": 1, "chunks_per_epoch": 8, "batch_size": 2}
    small = DenseAnchorSpotter(**params, verbose=1).fit(X, y)
    # 2 chunks of 32 frames in 7,200: a class with 1 action expects 0.009
    assert small.displacement_class_weight_ is None
    assert "anchors weighed alike" in capsys.readouterr().err
    large = DenseAnchorSpotter(**{**params, "batch_size": 256}).fit(X, y)
    assert large.displacement_class_weight_ == "balanced"
    forced = DenseAnchorSpotter(**params, displacement_class_weight="balanced")
    assert forced.fit(X, y).displacement_class_weight_ == "balanced"
    assert not np.array_equal(
        forced.predict_scores(X[:1])[0].displacement,
        small.predict_scores(X[:1])[0].displacement,
    )
