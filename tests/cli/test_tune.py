"""``sk-spotting tune``: tuning in turn from the command line."""

import json

import joblib
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution

from sk_spotting.cli import main
from sk_spotting.cli._tune import parse_space

from .conftest import tiny_set

pytestmark = pytest.mark.filterwarnings(
    "ignore:The given NumPy array is not writable:UserWarning"
)


def test_tune_writes_best_params_trials_and_model(roots, tmp_path, capsys):
    out = tmp_path / "tuned"
    code = main(
        [
            "tune",
            str(roots / "train"),
            "--valid-root",
            str(roots / "valid"),
            "--out",
            str(out),
            "--params",
            "sam_rho,mixup_alpha",
            "--space",
            "sam_rho=[0.0, 0.5]",
            "--space",
            "mixup_alpha=[0.0, 2.0]",
            "--n-trials",
            "2",
            "--seed",
            "0",
            "--quiet",
            *tiny_set(epochs=1, use_displacement="false"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "sam_rho = " in printed and "mixup_alpha = " in printed
    best = json.loads((out / "best_params.json").read_text())
    assert best["sam_rho"] in (0.0, 0.5) and best["mixup_alpha"] in (0.0, 2.0)
    assert best["epochs"] == 1 and len(best["classes"]) == 17
    trials = pd.read_csv(out / "trials.csv")
    # 2 trials per parameter, plus the first study's best carried into the
    # second study as its starting point (not trained again)
    assert len(trials) == 5
    assert trials["carried"].sum() == 1
    model = joblib.load(out / "model.joblib")
    assert model.sam_rho == best["sam_rho"]
    # best_params.json is a valid --config for fit.
    assert (
        main(
            [
                "fit",
                str(roots / "train"),
                "--out",
                str(tmp_path / "m.safetensors"),
                "--config",
                str(out / "best_params.json"),
                "--quiet",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "text", ["sam_rho", "sam_rho=[]", 'lr={"low": 1}', 'lr={"low": 2, "high": 1}']
)
def test_bad_space_is_a_usage_error(text, capsys):
    assert main(["tune", "root", "--out", "o", "--space", text]) == 2
    assert "--space" in capsys.readouterr().err


def test_parse_space_ranges():
    key, space = parse_space('weight_decay={"low": 2e-5, "high": 2e-3, "log": true}')
    assert key == "weight_decay" and space == FloatDistribution(2e-5, 2e-3, log=True)
