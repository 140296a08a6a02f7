"""VotingSpotter: the scikit-learn contract, the averaging, parallel fits, devices."""

import os
import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, UnsetMetadataPassedError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.ensemble import VotingSpotter
from sk_spotting.metrics import average_map_score
from sk_spotting.postprocessing import scores_to_events

from .. import _tiny
from ._fakes import ScriptedDenseSpotter

TINY = {k: v for k, v in _tiny.TINY.items() if k != "random_state"}


@pytest.fixture(scope="module")
def data():
    return make_spotting_data(3, n_features=24, minutes=2.0, random_state=1)


@pytest.fixture(scope="module")
def fitted(data):
    """Two tiny u-net spotters of different seeds, fitted one after the other."""
    X, y = data
    return VotingSpotter.from_seeds(DenseAnchorSpotter(**TINY), seeds=[0, 1]).fit(X, y)


def _scripted(n_members=2, **params):
    return VotingSpotter(
        [(f"m{i}", ScriptedDenseSpotter(random_state=i)) for i in range(n_members)],
        **params,
    )


def _dense_equal(a, b):
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left.confidence, right.confidence)
        if left.displacement is None or right.displacement is None:
            assert left.displacement is None and right.displacement is None
        else:
            np.testing.assert_array_equal(left.displacement, right.displacement)


# ------------------------------------------------------- scikit-learn contract
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
    check("VotingSpotter", _scripted())


def test_get_params_exposes_members_and_their_parameters():
    ensemble = VotingSpotter.from_seeds(DenseAnchorSpotter(), seeds=[0, 1])
    params = ensemble.get_params()
    assert params["seed_0"] is ensemble.estimators[0][1]
    assert (params["seed_0__random_state"], params["seed_1__random_state"]) == (0, 1)
    assert "seed_0" not in ensemble.get_params(deep=False)
    assert set(ensemble.named_estimators) == {"seed_0", "seed_1"}


def test_set_params_sets_a_member_parameter_and_replaces_a_member():
    ensemble = VotingSpotter.from_seeds(DenseAnchorSpotter(), seeds=[0, 1])
    ensemble.set_params(seed_1__epochs=7, nms="soft")
    assert ensemble.named_estimators.seed_1.epochs == 7
    assert ensemble.named_estimators.seed_0.epochs == 1000
    assert ensemble.nms == "soft"
    other = DenseAnchorSpotter(trunk="transformer")
    ensemble.set_params(seed_0=other)
    assert ensemble.estimators[0] == ("seed_0", other)


def test_clone_copies_members_unfitted():
    ensemble = VotingSpotter.from_seeds(DenseAnchorSpotter(epochs=3), seeds=[0, 1])
    copy = clone(ensemble)
    assert copy.estimators[0][1] is not ensemble.estimators[0][1]
    assert copy.get_params()["seed_1__epochs"] == 3
    assert copy.get_params()["seed_1__random_state"] == 1


def test_not_fitted_error(data):
    X, _ = data
    with pytest.raises(NotFittedError):
        _scripted().predict(X)


# --------------------------------------------------------------- real spotters
def test_fit_keeps_the_given_members_unfitted_and_fits_clones(fitted, data):
    X, _ = data
    assert not hasattr(fitted.estimators[0][1], "confidence_net_")
    assert [type(e) for e in fitted.estimators_] == [DenseAnchorSpotter] * 2
    assert fitted.named_estimators_["seed_1"] is fitted.estimators_[1]
    assert fitted.n_features_in_ == 24
    np.testing.assert_array_equal(fitted.classes_, fitted.estimators_[0].classes_)
    # different seeds: different members, whose average is neither of them
    members = [m.predict_scores(X[:1])[0].confidence for m in fitted.estimators_]
    assert not np.array_equal(members[0], members[1])
    averaged = fitted.predict_scores(X[:1])[0]
    np.testing.assert_allclose(averaged.confidence, (members[0] + members[1]) / 2)
    assert averaged.displacement is not None


def test_score_is_average_map_of_the_predictions(fitted, data):
    X, y = data
    expected = average_map_score(y, fitted.predict(X), classes=fitted.classes_)
    assert fitted.score(X, y) == expected
    tight = average_map_score(
        y, fitted.predict(X), tolerances="tight", classes=fitted.classes_
    )
    assert fitted.score(X, y, tolerances="tight") == tight


def test_pickle_round_trip_gives_identical_predictions(fitted, data):
    X, _ = data
    loaded = pickle.loads(pickle.dumps(fitted))
    _dense_equal(loaded.predict_scores(X), fitted.predict_scores(X))
    for a, b in zip(loaded.predict(X), fitted.predict(X), strict=True):
        assert a.equals(b)


def test_one_member_predicts_as_that_member(data):
    X, y = data
    spotter = DenseAnchorSpotter(**TINY, random_state=3)
    ensemble = VotingSpotter([("only", spotter)], weights=[2.5]).fit(X, y)
    member = ensemble.estimators_[0]
    _dense_equal(ensemble.predict_scores(X), member.predict_scores(X))
    for a, b in zip(ensemble.predict(X), member.predict(X), strict=True):
        assert a.equals(b)


def test_parallel_fits_equal_sequential_fits_at_equal_thread_counts(data):
    """With n_threads fixed, n_jobs changes nothing, and members equal lone fits."""
    X, y = data
    spotter = DenseAnchorSpotter(**TINY)
    sequential = VotingSpotter.from_seeds(spotter, [0, 1], n_jobs=1, n_threads=1)
    parallel = VotingSpotter.from_seeds(spotter, [0, 1], n_jobs=2, n_threads=1)
    sequential.fit(X, y)
    parallel.fit(X, y)
    _dense_equal(parallel.predict_scores(X), sequential.predict_scores(X))
    for a, b in zip(parallel.predict(X), sequential.predict(X), strict=True):
        assert a.equals(b)
    alone = clone(spotter).set_params(random_state=1).fit(X, y)  # one thread (conftest)
    _dense_equal(sequential.estimators_[1].predict_scores(X), alone.predict_scores(X))


def test_members_without_displacement_are_left_out_of_its_average(data):
    X, y = data
    with_d = DenseAnchorSpotter(**TINY, random_state=0)
    without = DenseAnchorSpotter(**TINY, random_state=1, use_displacement=False)
    mixed = VotingSpotter([("d", with_d), ("no_d", without)]).fit(X, y)
    scores = mixed.predict_scores(X)
    member = mixed.estimators_[0].predict_scores(X)
    for got, want in zip(scores, member, strict=True):
        np.testing.assert_array_equal(got.displacement, want.displacement)
    none = VotingSpotter([("no_d", without)]).fit(X, y)
    assert all(s.displacement is None for s in none.predict_scores(X))


# ------------------------------------------------------------------ averaging
def test_weights_give_a_weighted_mean_and_weight_zero_drops_a_member(data):
    X, y = data
    members = [
        ("a", ScriptedDenseSpotter(random_state=0, displacement=1.0)),
        ("b", ScriptedDenseSpotter(random_state=1, displacement=4.0)),
        ("c", ScriptedDenseSpotter(random_state=2)),
    ]
    ensemble = VotingSpotter(members, weights=[1.0, 3.0, 0.0]).fit(X, y)
    a, b, _ = [m.predict_scores(X)[0] for m in ensemble.estimators_]
    scores = ensemble.predict_scores(X)[0]
    np.testing.assert_allclose(
        scores.confidence, (a.confidence + 3 * b.confidence) / 4, rtol=1e-6
    )
    assert scores.confidence.dtype == np.float32
    np.testing.assert_allclose(scores.displacement, (1.0 + 3 * 4.0) / 4)
    equal = VotingSpotter(members).fit(X, y).predict_scores(X)[0]
    # c has no displacement: the mean of the other two
    np.testing.assert_allclose(equal.displacement, (1.0 + 4.0) / 2)


def test_predict_decodes_the_averaged_scores_with_the_ensembles_nms(data):
    X, y = data
    ensemble = _scripted(nms="soft", nms_window=6.0).fit(X, y)
    expected = [
        scores_to_events(
            c, d, classes=["a", "b"], frame_rate=2.0, nms_method="soft", nms_window=6.0
        )
        for c, d in ensemble.predict_scores(X)
    ]
    for got, want in zip(ensemble.predict(X), expected, strict=True):
        assert got.equals(want)
    # None: the first member's settings
    ensemble.set_params(nms=None, nms_window=None, m0__nms_window=4.0)
    ensemble.estimators_[0].set_params(nms_window=4.0)
    expected = [
        scores_to_events(c, d, classes=["a", "b"], frame_rate=2.0, nms_window=4.0)
        for c, d in ensemble.predict_scores(X)
    ]
    for got, want in zip(ensemble.predict(X), expected, strict=True):
        assert got.equals(want)


def test_nms_window_per_class_must_cover_every_class(data):
    X, y = data
    ensemble = _scripted(nms_window={"a": 10.0})
    with pytest.raises(ValueError, match=r"no window for class\(es\) \['b'\]"):
        ensemble.fit(X, y)
    assert len(ensemble.estimators_) == 2  # the fits are kept: fix and predict
    ensemble.set_params(nms_window={"a": 10.0, "b": 4.0})
    assert len(ensemble.predict(X)) == len(X)


# ------------------------------------------------------ threads, jobs, devices
def test_n_threads_is_set_during_each_fit_and_restored(data):
    X, y = data
    before = torch.get_num_threads()
    ensemble = _scripted(n_threads=2).fit(X, y)
    assert [m.n_threads_seen_ for m in ensemble.estimators_] == [2, 2]
    assert torch.get_num_threads() == before
    kept = _scripted().fit(X, y)  # None and n_jobs=1: the current count
    assert [m.n_threads_seen_ for m in kept.estimators_] == [before, before]


def test_n_jobs_fits_members_in_other_processes(data):
    X, y = data
    ensemble = _scripted(n_jobs=2, n_threads=1).fit(X, y)
    pids = {m.pid_ for m in ensemble.estimators_}
    # loky may hand both fits to one worker when the first ends early: what
    # matters is that none ran in this process
    assert pids and os.getpid() not in pids
    assert [m.n_threads_seen_ for m in ensemble.estimators_] == [1, 1]
    _dense_equal(ensemble.predict_scores(X), _scripted().fit(X, y).predict_scores(X))


def test_devices_are_given_round_robin_to_the_clones(data):
    X, y = data
    ensemble = _scripted(3, devices=["cpu", torch.device("cpu", 0)]).fit(X, y)
    assert [m.device_seen_ for m in ensemble.estimators_] == ["cpu", "cpu:0", "cpu"]
    assert [m.device for _, m in ensemble.estimators] == ["auto"] * 3


def test_default_devices_spread_auto_members_over_several_gpus(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    members = [
        ("a", ScriptedDenseSpotter()),
        ("b", ScriptedDenseSpotter(device="cpu")),
        ("c", ScriptedDenseSpotter()),
    ]
    ensemble = VotingSpotter(members).fit(X, y)
    assert [m.device_seen_ for m in ensemble.estimators_] == ["cuda:0", "cpu", "cuda:1"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    one_gpu = VotingSpotter(members).fit(X, y)
    assert [m.device_seen_ for m in one_gpu.estimators_] == ["auto", "cpu", "auto"]


def test_bad_devices(data):
    X, y = data
    with pytest.raises(ValueError, match=r"devices\[1\]='gpu0' is not a torch device"):
        _scripted(devices=["cpu", "gpu0"]).fit(X, y)
    with pytest.raises(ValueError, match="devices is empty"):
        _scripted(devices=[]).fit(X, y)


# ---------------------------------------------------------------- fit params
def test_fit_params_go_to_every_member(data):
    X, y = data
    ensemble = _scripted().fit(X, y, X_valid=X, y_valid=y)
    assert [m.valid_seen_ for m in ensemble.estimators_] == [True, True]


def test_metadata_routing_sends_fit_params_to_the_members_that_request_them(data):
    X, y = data
    with sklearn.config_context(enable_metadata_routing=True):
        wants = ScriptedDenseSpotter().set_fit_request(X_valid=True, y_valid=True)
        refuses = ScriptedDenseSpotter().set_fit_request(X_valid=False, y_valid=False)
        ensemble = VotingSpotter([("wants", wants), ("refuses", refuses)])
        ensemble.fit(X, y, X_valid=X, y_valid=y)
        assert [m.valid_seen_ for m in ensemble.estimators_] == [True, False]
        with pytest.raises(UnsetMetadataPassedError):
            _scripted().fit(X, y, X_valid=X, y_valid=y)


def test_validation_data_reach_real_members(data):
    X, y = data
    ensemble = VotingSpotter(
        [("v", DenseAnchorSpotter(**TINY, validation_interval=1, random_state=0))]
    ).fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])
    history = ensemble.estimators_[0].confidence_net_.history
    assert "valid_average_map" in history[-1]


# ------------------------------------------------------------------ from_seeds
def test_from_seeds_makes_one_checkpoint_folder_per_seed(tmp_path):
    spotter = DenseAnchorSpotter(checkpoint_dir=tmp_path)
    ensemble = VotingSpotter.from_seeds(spotter, seeds=[5, 7], n_jobs=2)
    folders = [m.checkpoint_dir for _, m in ensemble.estimators]
    assert folders == [str(tmp_path / "seed_5"), str(tmp_path / "seed_7")]
    assert ensemble.n_jobs == 2
    assert spotter.checkpoint_dir == tmp_path


@pytest.mark.parametrize(
    "seeds, error, match",
    [
        ([0, 0], ValueError, "distinct"),
        ([], ValueError, "not empty"),
        ([0, "1"], TypeError, "integers"),
        ([True], TypeError, "integers"),
    ],
)
def test_from_seeds_bad_seeds(seeds, error, match):
    with pytest.raises(error, match=match):
        VotingSpotter.from_seeds(DenseAnchorSpotter(), seeds=seeds)


# ---------------------------------------------------------------- bad inputs
def test_members_must_agree_on_classes(data):
    X, y = data
    ensemble = VotingSpotter(
        [
            ("ab", ScriptedDenseSpotter()),
            ("abc", ScriptedDenseSpotter(classes=("a", "b", "c"))),
        ]
    )
    with pytest.raises(
        ValueError, match=r"member 'abc' has classes_=\['a', 'b', 'c'\]"
    ):
        ensemble.fit(X, y)


def test_members_must_agree_on_frame_rate_before_training(data):
    X, y = data
    ensemble = VotingSpotter(
        [("two", ScriptedDenseSpotter()), ("one", ScriptedDenseSpotter(frame_rate=1))]
    )
    with pytest.raises(ValueError, match="member 'one' has frame_rate=1 but member"):
        ensemble.fit(X, y)
    assert not hasattr(ensemble, "estimators_")


def test_members_must_not_share_a_checkpoint_folder(data, tmp_path):
    X, y = data
    members = [
        ("a", ScriptedDenseSpotter(checkpoint_dir=tmp_path)),
        ("b", ScriptedDenseSpotter(checkpoint_dir=str(tmp_path))),
    ]
    with pytest.raises(ValueError, match="members 'a' and 'b' share checkpoint_dir"):
        VotingSpotter(members).fit(X, y)


@pytest.mark.parametrize(
    "estimators, error, match",
    [
        ([], ValueError, "estimators is empty"),
        ([ScriptedDenseSpotter()], TypeError, r"estimators\[0\] must be a"),
        (
            [("a", ScriptedDenseSpotter), ("b", ScriptedDenseSpotter())],
            TypeError,
            "instance",
        ),
        ([("a", ScriptedDenseSpotter())] * 2, ValueError, "not unique"),
        ([("nms", ScriptedDenseSpotter())], ValueError, "conflict"),
        ([("a__b", ScriptedDenseSpotter())], ValueError, "must not contain __"),
        ([("lr", object())], TypeError, "member 'lr' .* has no fit"),
    ],
)
def test_bad_estimators(estimators, error, match, data):
    X, y = data
    with pytest.raises(error, match=match):
        VotingSpotter(estimators).fit(X, y)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1.0], "1 values for 2 estimators"),
        ([1.0, -1.0], ">= 0"),
        ([0.0, 0.0], "not all 0"),
        ([1.0, np.nan], "finite"),
    ],
)
def test_bad_weights(weights, match, data):
    X, y = data
    with pytest.raises(ValueError, match=match):
        _scripted(weights=weights).fit(X, y)


def test_n_features_mismatch_at_predict(data):
    X, y = data
    ensemble = _scripted().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        ensemble.predict([x[:, :5] for x in X])
