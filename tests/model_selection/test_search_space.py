"""Search spaces: ZeroOrLogUniform with every sampler, defaults, devices."""

import warnings

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import ExperimentalWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_spotting.model_selection import (
    DEFAULT_SEARCH_SPACES,
    ZeroOrLogUniform,
    _search_space,
    _workers,
    tune_in_turn,
)
from sk_spotting.preprocessing import PerFrame

from ._fakes import ScriptedSpotter
from .conftest import tiny_spotter

RHO = ZeroOrLogUniform(0.01, 1.0)


def test_values_come_back_exactly_and_zero_has_its_share():
    for value in [0.0, 0.01, 0.05, 0.3, 0.5, 1.0]:
        assert RHO.to_value(RHO.to_internal(value)) == value
    low, high = RHO.distribution.low, RHO.distribution.high
    share = (np.log10(0.01) - low) / (high - low)
    assert share == pytest.approx(0.25)
    assert RHO.to_value(low) == 0.0 and RHO.to_value(high) == 1.0
    assert [v in RHO for v in (0, 0.5, 1.5, 0.001, -0.1, True, "0")] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"low": 0.0, "high": 1.0}, "0 < low < high"),
        ({"low": 1.0, "high": 0.5}, "0 < low < high"),
        ({"low": 0.1, "high": 1.0, "zero_share": 1.0}, "zero_share"),
        ({"low": 0.1, "high": 1.0, "zero_share": 0}, "zero_share"),
    ],
)
def test_bad_zero_or_log_uniform(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZeroOrLogUniform(**kwargs)


SAMPLERS = {
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
    "tpe": lambda: optuna.samplers.TPESampler(
        seed=0, n_startup_trials=4, multivariate=True, constant_liar=True
    ),
    "qmc": lambda: optuna.samplers.QMCSampler(seed=0),
    "gp": lambda: optuna.samplers.GPSampler(seed=0, n_startup_trials=4),
    "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=4),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_proposes_zero_and_log_values(name):
    seen = []

    def objective(trial):
        value = _search_space.suggest(trial, "sam_rho", RHO)
        seen.append(value)
        return -abs(np.log10(value) + 1.3) if value else -1.0  # best near 0.05

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name]())
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study.optimize(objective, n_trials=16)
        finally:
            optuna.logging.set_verbosity(optuna.logging.INFO)
    assert all(v in RHO for v in seen)
    assert 0.0 in seen and any(v > 0 for v in seen)
    best = _search_space.value_of(study.best_params, "sam_rho", RHO)
    assert best == seen[study.best_trial.number]


def test_tables_and_best_params_hold_values_not_logarithms(videos):
    X, y = videos
    result = tune_in_turn(
        ScriptedSpotter(learning_rate=0.75, sam_rho=0.3),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=["learning_rate", "sam_rho"],
        search_spaces={
            "learning_rate": ZeroOrLogUniform(0.25, 1.0),
            "sam_rho": RHO,
        },
        n_trials_per_param=4,
        random_state=0,
        refit=False,
    )
    table = result.trials
    lr, rho = table["learning_rate"], table["sam_rho"]
    assert all(v in ZeroOrLogUniform(0.25, 1.0) for v in lr)
    assert all(v in RHO for v in rho)
    # the current values come first, exactly (0.3 is not 10 ** log10(0.3))
    assert lr.iloc[0] == 0.75
    carried = table[table["carried"]]
    assert list(carried["sam_rho"]) == [0.3]
    assert result.best_params["learning_rate"] in set(lr)
    assert result.best_params["sam_rho"] in set(rho)
    assert result.best_estimator.sam_rho == result.best_params["sam_rho"]


def test_default_spaces_hold_the_defaults_and_off():
    spotter = tiny_spotter()
    for name, space in DEFAULT_SEARCH_SPACES.items():
        assert _search_space.contains(space, getattr(spotter, name)), name
    for name in ("sam_rho", "mixup_alpha"):
        space = DEFAULT_SEARCH_SPACES[name]
        assert isinstance(space, ZeroOrLogUniform) and 0.0 in space
        assert space.high / space.low == pytest.approx(100.0)  # two decades
    assert 0.05 in DEFAULT_SEARCH_SPACES["sam_rho"]  # best at short schedules


# ------------------------------------------------------------ devices
@pytest.fixture
def three_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)


def test_auto_device_spreads_workers_over_every_gpu(three_gpus):
    key, devices = _workers.check_devices(tiny_spotter(), None, 4)
    assert key == "device" and devices == ("cuda:0", "cuda:1", "cuda:2")
    plan = _workers.Plan(*[None] * 13, device_key=key, devices=devices)
    assert [plan.device_of(w) for w in range(4)] == [
        "cuda:0",
        "cuda:1",
        "cuda:2",
        "cuda:0",
    ]
    # one worker, or a device chosen by the user: left alone
    assert _workers.check_devices(tiny_spotter(), None, 1) == (None, None)
    assert _workers.check_devices(tiny_spotter(device="cuda:1"), None, 4) == (
        None,
        None,
    )
    pipe = make_pipeline(PerFrame(StandardScaler()), tiny_spotter())
    assert _workers.check_devices(pipe, [1, "cpu"], 2) == (
        "denseanchorspotter__device",
        ("cuda:1", "cpu"),
    )


@pytest.mark.parametrize(
    "devices, match",
    [
        (["cuda:3"], "has 3 CUDA device"),
        ([5], "has 3 CUDA device"),
        (["gpu"], "not a torch device"),
        ([], "empty"),
    ],
)
def test_bad_devices_fail_early(three_gpus, devices, match):
    with pytest.raises(ValueError, match=match):
        _workers.check_devices(tiny_spotter(), devices, 2)


def test_devices_need_a_device_parameter():
    from sklearn.decomposition import PCA

    with pytest.raises(ValueError, match="no 'device' parameter"):
        _workers.check_devices(make_pipeline(PCA()), ["cpu"], 2)


def test_worker_spotters_get_the_device_and_the_result_keeps_its_own(videos, tmp_path):
    X, y = videos
    record = tmp_path / "devices.txt"
    result = tune_in_turn(
        ScriptedSpotter(record=str(record)),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=["learning_rate"],
        n_trials_per_param=2,
        devices=["meta"],
        refit=True,
    )
    devices = [line.split()[1] for line in record.read_text().splitlines()]
    assert devices == ["meta", "meta", "auto"]  # two trials, then the refit
    assert result.best_estimator.device == "auto"
    assert {t.user_attrs["device"] for t in result.studies[0].trials} == {"meta"}


def test_a_value_already_scored_is_not_trained_again(videos, tmp_path):
    X, y = videos
    record = tmp_path / "fits.txt"
    result = tune_in_turn(
        ScriptedSpotter(record=str(record)),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=["learning_rate", "sam_rho"],
        search_spaces={"learning_rate": [0.25, 0.75], "sam_rho": RHO},
        n_trials_per_param=6,
        random_state=0,
        refit=False,
    )
    first, second = result.studies
    lrs = [t.params["learning_rate"] for t in first.trials]
    assert len(first.trials) == 6 and len(set(lrs)) == 2
    n_fits = len(record.read_text().splitlines())
    # one fit per distinct value of each study (the carried value is not rerun)
    rhos = {_search_space.value_of(t.params, "sam_rho", RHO) for t in second.trials}
    assert n_fits == 2 + len(rhos) - 1
    spaces = {"learning_rate": CategoricalDistribution([0.25, 0.75]), "sam_rho": RHO}
    n_same = 0
    for (key, space), study in zip(spaces.items(), (first, second)):
        for trial in study.trials:
            if _workers.SAME_AS_ATTR in trial.user_attrs:
                n_same += 1
                twin = study.trials[trial.user_attrs[_workers.SAME_AS_ATTR]]
                value = _search_space.value_of(trial.params, key, space)
                assert value == _search_space.value_of(twin.params, key, space)
                assert trial.value == twin.value
                assert trial.intermediate_values == twin.intermediate_values
                assert trial.user_attrs["worker"]  # the trials table names it
    assert n_same >= 4  # at least the repeated learning rates
    assert result.trials["worker"].notna().all()
