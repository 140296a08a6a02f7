"""plot_tuning_trials: one study's trials, scales that fit the values."""

import pandas as pd
import pytest

from sk_spotting.model_selection import TuningResult
from sk_spotting.plotting import plot_tuning_trials

LR = "denseanchorspotter__learning_rate"
RHO = "denseanchorspotter__sam_rho"


@pytest.fixture
def result():
    trials = pd.DataFrame(
        {
            "param": [LR] * 3 + [RHO] * 3,
            "state": ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "COMPLETE", "FAIL"],
            "value": [0.2, 0.1, 0.3, 0.3, 0.35, None],
            "carried": [False, False, False, True, False, False],
            LR: [1e-3, 1e-4, 3e-3, 3e-3, 3e-3, 3e-3],
            RHO: [0.5, 0.5, 0.5, 0.5, 0.0, 0.05],
        }
    )
    return TuningResult({LR: 3e-3, RHO: 0.0}, {LR: 0.3, RHO: 0.35}, None, trials, [])


def test_each_kind_of_trial_is_drawn_with_a_fitting_scale(result):
    ax = plot_tuning_trials(result, "learning_rate")
    assert ax.get_xscale() == "log" and ax.get_title() == "learning_rate"
    complete, pruned, carried, kept = (len(c.get_offsets()) for c in ax.collections)
    assert (complete, pruned, carried, kept) == (2, 1, 0, 1)
    ax = plot_tuning_trials(result, RHO, title="rho")
    assert ax.get_xscale() == "symlog" and ax.get_title() == "rho"
    complete, pruned, carried, kept = (len(c.get_offsets()) for c in ax.collections)
    assert (complete, pruned, carried, kept) == (1, 0, 1, 1)  # FAIL left out


def test_unknown_param_is_refused(result):
    with pytest.raises(ValueError, match="not one of the tuned parameters"):
        plot_tuning_trials(result, "weight_decay")


def test_choices_that_are_not_numbers_keep_a_categorical_axis():
    trials = pd.DataFrame(
        {
            "param": ["nms"] * 2,
            "state": ["COMPLETE"] * 2,
            "value": [0.2, 0.3],
            "carried": [False, False],
            "nms": ["hard", "soft"],
        }
    )
    result = TuningResult({"nms": "soft"}, {"nms": 0.3}, None, trials, [])
    ax = plot_tuning_trials(result, "nms")
    assert ax.get_xscale() == "linear"
    assert len(ax.collections[-1].get_offsets()) == 1  # the kept trial
