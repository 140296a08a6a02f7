"""tune_in_turn in one process: order, fixed values, table, errors, exact counts."""

import os
import tempfile
import threading

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline

from sk_spotting import DenseAnchorSpotter
from sk_spotting.model_selection import TuningResult, _workers, tune_in_turn
from sk_spotting.preprocessing import PerFrame

from ._fakes import ScriptedSpotter
from .conftest import tiny_spotter


@pytest.fixture
def no_training(monkeypatch):
    def fit(self, X, y, *, X_valid=None, y_valid=None, on_validation=None):
        raise AssertionError("training started")

    monkeypatch.setattr(DenseAnchorSpotter, "fit", fit)


def test_pipeline_with_per_frame_pca_tuned_in_turn(videos):
    X, y = videos
    pipe = make_pipeline(
        PerFrame(PCA(8, random_state=0)), tiny_spotter(epochs=1, use_displacement=False)
    )
    result = tune_in_turn(
        pipe,
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=("learning_rate", "n_components"),
        search_spaces={"n_components": [4, 8]},
        n_trials_per_param=2,
        pruner=optuna.pruners.NopPruner(),
        random_state=0,
    )
    assert isinstance(result, TuningResult)
    lr, n_comp = (
        "denseanchorspotter__learning_rate",
        "perframe__transformer__n_components",
    )
    assert list(result.best_params) == [lr, n_comp]
    table = result.trials
    assert list(table.columns[:8]) == [
        "param",
        "study",
        "number",
        "state",
        "value",
        "duration",
        "worker",
        "carried",
    ]
    assert len(table) == 5 and set(table["state"]) == {"COMPLETE"}
    first, second = table[table.param == lr], table[table.param == n_comp]
    # later studies hold the earlier best fixed; earlier ones saw the initial value
    assert (second[lr] == result.best_params[lr]).all()
    assert (first[n_comp] == 8).all()
    assert result.best_scores[lr] == pytest.approx(first["value"].max())
    # the current values come first: the default learning rate is trained, then
    # the best learning-rate trial (with 8 components) is carried over
    assert first[lr].iloc[0] == 1e-3 and not first["carried"].any()
    (carried,) = second.index[second["carried"]]
    assert second.loc[carried, n_comp] == 8
    assert second.loc[carried, "value"] == result.best_scores[lr]
    assert len(second) == 3  # two trials run + the carried one
    assert result.best_scores[n_comp] >= result.best_scores[lr]
    assert [s.study_name for s in result.studies] == [
        f"sk_spotting:{lr}",
        f"sk_spotting:{n_comp}",
    ]
    # refitted with the best values
    best = result.best_estimator
    assert best[0].transformer_.n_components == result.best_params[n_comp]
    assert best[-1].learning_rate == result.best_params[lr]
    assert len(best.predict(X[4:])) == 2


def test_cross_validation_with_groups_and_reproducible_seeds(videos):
    X, y = videos

    def run():
        return tune_in_turn(
            ScriptedSpotter(),
            X,
            y,
            cv=KFold(3),
            params=["learning_rate", "sam_rho"],
            search_spaces={"learning_rate": FloatDistribution(0.0, 1.0)},
            n_trials_per_param=3,
            random_state=1,
            refit=False,
        )

    a, b = run(), run()
    assert a.trials[["learning_rate", "sam_rho", "value"]].equals(
        b.trials[["learning_rate", "sam_rho", "value"]]
    )
    assert not hasattr(a.best_estimator, "classes_")  # refit=False
    assert a.best_estimator.learning_rate == a.best_params["learning_rate"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"params": ["learning_rate", "momentum"]},
            ValueError,
            "Unknown parameter 'momentum'",
        ),
        ({"params": []}, ValueError, "params is empty"),
        ({"params": ["learning_rate", "learning_rate"]}, ValueError, "more than once"),
        (
            {"params": ["learning_rate"], "search_spaces": {"sam_rho": [0.0, 1.0]}},
            ValueError,
            r"entries for \['sam_rho'\], which are not in params",
        ),
        ({"params": ["epochs"]}, ValueError, "No search space for 'epochs'"),
        ({"search_spaces": {"mixup_alpha": []}}, ValueError, "empty"),
        ({"scoring": "f1"}, ValueError, "scoring must be"),
        ({"n_trials_per_param": 0}, ValueError, "positive integer"),
        ({"pruner": "median"}, TypeError, "optuna pruner"),
        ({"storage": InMemoryStorage()}, ValueError, "study_name"),
        ({"storage": 42, "study_name": "s"}, TypeError, "storage must be"),
        (
            {"storage": InMemoryStorage(), "study_name": "s", "n_jobs": 2},
            ValueError,
            "InMemoryStorage cannot be shared",
        ),
        (
            {"storage": "sqlite:////nonexistent/dir/tune.db", "study_name": "s"},
            ValueError,
            "Cannot open the Optuna storage 'sqlite:////nonexistent/dir/tune.db'",
        ),
    ],
)
def test_bad_input_fails_before_training(videos, no_training, kwargs, error, match):
    X, y = videos
    with pytest.raises(error, match=match):
        tune_in_turn(
            tiny_spotter(), X[:4], y[:4], X_valid=X[4:], y_valid=y[4:], **kwargs
        )


def test_unreachable_database_fails_before_training(videos, no_training):
    X, y = videos
    from .conftest import _free_port

    url = f"postgresql+psycopg2://nobody@127.0.0.1:{_free_port()}/nothing"
    with pytest.raises(
        ValueError, match="Cannot open the Optuna storage.*OperationalError"
    ):
        tune_in_turn(
            tiny_spotter(),
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            storage=url,
            study_name="s",
        )


def test_existing_study_for_other_values_is_refused(videos, tmp_path):
    X, y = videos
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    common = {
        "X_valid": X[4:],
        "y_valid": y[4:],
        "n_trials_per_param": 1,
        "storage": storage,
        "study_name": "s",
        "refit": False,
    }
    spaces = {"learning_rate": [0.25, 0.5]}
    first = tune_in_turn(
        ScriptedSpotter(),
        X[:4],
        y[:4],
        params=["learning_rate", "sam_rho"],
        search_spaces=spaces,
        **common,
    )
    # rerun: resumes, runs nothing more
    again = tune_in_turn(
        ScriptedSpotter(),
        X[:4],
        y[:4],
        params=["learning_rate", "sam_rho"],
        search_spaces=spaces,
        **common,
    )
    assert len(again.trials) == len(first.trials) == 3  # with the carried trial
    assert again.best_params == first.best_params
    # same names, but sam_rho now comes first: its study held other values
    with pytest.raises(ValueError, match="already exists with"):
        tune_in_turn(ScriptedSpotter(), X[:4], y[:4], params=["sam_rho"], **common)


# ---------------------------------------------------------- exact trial counts
def _objective(trial):
    return trial.suggest_float("x", 0, 1)


def test_surplus_trial_of_a_racing_worker_fails_at_once():
    study = optuna.create_study(direction="maximize")
    others = [study.ask(), study.ask()]  # two trials running in other workers
    guarded = _workers._Guarded(_objective, n_trials=2)
    study.optimize(guarded, n_trials=1, catch=(_workers._Surplus,))
    surplus = study.trials[-1]
    assert surplus.state == TrialState.FAIL
    assert surplus.user_attrs[_workers.SURPLUS_ATTR] is True
    for trial in others:
        study.tell(trial, 0.5)
    _workers._optimize(study, _objective, n_trials=2)  # enough already: no trial
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.FAIL,
    ]


def test_worker_waits_for_the_last_running_trials(monkeypatch):
    monkeypatch.setattr(_workers, "POLL_SECONDS", 0.05)
    study = optuna.create_study(direction="maximize")
    running = study.ask()  # another worker's
    timer = threading.Timer(0.5, lambda: study.tell(running, 0.9))
    timer.start()
    _workers._optimize(study, _objective, n_trials=3)
    timer.join()
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3
    # a trial failed elsewhere is replaced
    study.tell(study.ask(), state=TrialState.FAIL)
    _workers._optimize(study, _objective, n_trials=4)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4


def test_two_spawned_workers_share_each_study(videos):
    X, y = videos
    result = tune_in_turn(
        ScriptedSpotter(sleep=0.2),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=["learning_rate", "sam_rho"],
        n_trials_per_param=4,
        n_jobs=2,
        random_state=0,
        refit=False,
    )
    table = result.trials
    assert len(table) == 9  # 4 + 4 + the trial carried to the second study
    assert set(table["state"]) <= {"COMPLETE", "PRUNED"}
    for study in result.studies:  # in-memory copies of the temporary journal
        assert isinstance(study._storage, InMemoryStorage)
        run = [
            t
            for t in study.trials
            if t.state != TrialState.FAIL and _workers.CARRIED_ATTR not in t.user_attrs
        ]
        assert len(run) == 4
    workers = set(table.loc[~table["carried"], "worker"])
    assert 1 <= len(workers) <= 2
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)
    assert np.isfinite(table["value"].astype(float)).all()


def test_bad_random_state_with_workers_leaves_no_folder(
    videos, no_training, tmp_path, monkeypatch
):
    X, y = videos
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ValueError):
        tune_in_turn(
            tiny_spotter(),
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            n_jobs=2,
            random_state="0",
        )
    assert list(tmp_path.iterdir()) == []
