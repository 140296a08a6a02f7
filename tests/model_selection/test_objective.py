"""make_objective: names, spaces, scorers, validation through pipelines, pruning."""

import os

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState
from sklearn.decomposition import PCA
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_spotting import DenseAnchorSpotter
from sk_spotting.metrics import make_spotting_scorer
from sk_spotting.model_selection import make_objective
from sk_spotting.preprocessing import PerFrame

from ._fakes import ScriptedSpotter
from .conftest import tiny_spotter

LR = {"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any spotter starts training."""

    def fit(self, X, y, *, X_valid=None, y_valid=None, on_validation=None):
        raise AssertionError("training started")

    monkeypatch.setattr(DenseAnchorSpotter, "fit", fit)


def _study(pruner=None):
    # A fixed name: Hyperband assigns trials to brackets by hashing it.
    return optuna.create_study(
        study_name="sk-spotting-test",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(0),
        pruner=pruner,
    )


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"search_spaces": {"learnig_rate": FloatDistribution(0.1, 1)}},
            ValueError,
            r"Unknown parameter 'learnig_rate'.*Did you mean \['learning_rate'",
        ),
        ({"search_spaces": {"learning_rate": []}}, ValueError, "is empty"),
        (
            {"search_spaces": {"sam_rho": FloatDistribution(0.5, 0.5)}},
            ValueError,
            "single value",
        ),
        (
            {"search_spaces": {"learning_rate": FloatDistribution(0.0, 1.0)}},
            ValueError,
            r"holds 0.0, which the estimator rejects.*learning_rate",
        ),
        ({"search_spaces": {"learning_rate": "log"}}, TypeError, "optuna distribution"),
        ({"search_spaces": {}}, ValueError, "params is empty"),
        ({"search_spaces": LR, "scoring": "accuracy"}, ValueError, "scoring must be"),
        (
            {"search_spaces": LR, "scoring": lambda est, X, y: 1.0},
            ValueError,
            "cannot score event tables",
        ),
        (
            {"search_spaces": LR, "fixed_params": {"learning_rate": 1e-3}},
            ValueError,
            "both fixed and searched",
        ),
    ],
)
def test_bad_input_fails_before_training(videos, no_training, kwargs, error, match):
    X, y = videos
    with pytest.raises(error, match=match):
        make_objective(
            tiny_spotter(), X[:4], y[:4], X_valid=X[4:], y_valid=y[4:], **kwargs
        )


def test_good_input_builds_without_training(videos, no_training):
    X, y = videos
    # a tuple is a list of choices; cv instead of a validation set
    objective = make_objective(
        tiny_spotter(), X, y, cv=2, search_spaces={"learning_rate": (1e-4, 1e-2)}
    )
    assert callable(objective)


def test_ambiguous_and_full_names(videos, no_training):
    X, y = videos
    pipe = make_pipeline(PerFrame(StandardScaler()), tiny_spotter())
    with pytest.raises(ValueError, match="ambiguous.*give the full name"):
        make_objective(
            pipe,
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            search_spaces={"random_state": [0, 1]},
        )


def test_validation_and_cv_conflict_and_missing_hooks(videos, no_training):
    X, y = videos
    with pytest.raises(ValueError, match="not both"):
        make_objective(
            tiny_spotter(),
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            cv=2,
            search_spaces=LR,
        )
    with pytest.raises(ValueError, match="both X_valid and y_valid"):
        make_objective(tiny_spotter(), X[:4], y[:4], X_valid=X[4:], search_spaces=LR)
    with pytest.raises(TypeError, match="on_validation"):
        make_objective(
            make_pipeline(PCA(2)), X, y, search_spaces={"n_components": [1, 2]}
        )
    with pytest.raises(ValueError, match="video"):
        make_objective(tiny_spotter(), X[:4], y[:3], cv=2, search_spaces=LR)


# ----------------------------------------------------- behaviour of trials
def test_steps_are_unique_across_folds_and_networks(videos):
    X, y = videos
    objective = make_objective(
        ScriptedSpotter(epochs=3),
        X,
        y,
        cv=GroupKFold(3),
        groups=[0, 0, 1, 1, 2, 2],
        search_spaces={"learning_rate": [0.1, 0.2]},
    )
    study = _study(optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    lr = trial.params["learning_rate"]
    # 3 folds x (3 confidence + 3 displacement epochs): steps 1..18, no overlap
    assert sorted(trial.intermediate_values) == list(range(1, 19))
    assert trial.intermediate_values[7] == pytest.approx(lr * 1)  # fold 1, conf e1
    assert trial.intermediate_values[12] == pytest.approx(lr * 3)  # fold 1, disp e3
    assert len(trial.user_attrs["fold_scores"]) == 3
    assert trial.user_attrs["worker"].endswith(f":{os.getpid()}")


def test_pipeline_transforms_validation_videos(videos):
    X, y = videos
    pipe = make_pipeline(PerFrame(PCA(5)), ScriptedSpotter(epochs=1))
    objective = make_objective(
        pipe,
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        search_spaces={"learning_rate": [0.25, 0.75]},
        fixed_params={"n_components": 3},
    )
    seen = {}
    original = ScriptedSpotter.fit

    def spy(self, X, y, **kwargs):
        seen["train"] = np.asarray(X[0]).shape[1]
        seen["valid"] = np.asarray(kwargs["X_valid"][0]).shape[1]
        return original(self, X, y, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ScriptedSpotter, "fit", spy)
        value = objective(
            optuna.trial.FixedTrial({"scriptedspotter__learning_rate": 0.75})
        )
    assert seen == {"train": 3, "valid": 3}
    assert 0.0 <= value <= 1.0


def test_tight_and_custom_scorers(videos):
    X, y = videos
    for scoring in ["tight", make_spotting_scorer(tolerances=[1.0, 2.0])]:
        objective = make_objective(
            ScriptedSpotter(),
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            search_spaces={"learning_rate": [0.75, 1.0]},
            scoring=scoring,
        )
        assert 0.0 <= objective(optuna.trial.FixedTrial({"learning_rate": 1.0})) <= 1


@pytest.mark.parametrize(
    "pruner",
    [
        optuna.pruners.MedianPruner(n_startup_trials=1),
        optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=6, reduction_factor=2
        ),
    ],
)
def test_pruners_stop_bad_trials(videos, pruner):
    X, y = videos
    objective = make_objective(
        ScriptedSpotter(epochs=3),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        search_spaces={"learning_rate": CategoricalDistribution([0.9, 0.1, 0.8, 0.05])},
    )
    study = _study(pruner)
    for lr in [0.9, 0.8, 0.1, 0.05]:
        study.enqueue_trial({"learning_rate": lr})
    study.optimize(objective, n_trials=4)
    states = {t.params["learning_rate"]: t.state for t in study.trials}
    assert states[0.9] == TrialState.COMPLETE
    assert states[0.05] == TrialState.PRUNED
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert all(len(t.intermediate_values) < 6 for t in pruned)


def test_median_pruner_prunes_a_real_tiny_spotter(videos):
    X, y = videos
    objective = make_objective(
        tiny_spotter(epochs=3),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        search_spaces={"learning_rate": CategoricalDistribution([1e-6, 1e-2])},
    )
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=1))
    study.enqueue_trial({"learning_rate": 1e-6})
    study.enqueue_trial({"learning_rate": 1e-2})
    study.optimize(objective, n_trials=2)
    first, second = study.trials
    assert first.state == TrialState.COMPLETE
    assert len(first.intermediate_values) == 6  # 3 confidence + 3 displacement
    # worse than the first trial at its first validation: stopped right there
    assert second.state == TrialState.PRUNED
    assert list(second.intermediate_values) == [1]
    assert second.intermediate_values[1] < first.intermediate_values[1]
