"""``sk-spotting tune``: tuning in turn from the command line."""

import json
import subprocess

import pandas as pd
import pytest
from optuna.distributions import FloatDistribution

from sk_spotting import DenseAnchorSpotter, load_spotter
from sk_spotting.cli import main
from sk_spotting.cli._common import UsageError
from sk_spotting.cli._tune import parse_space
from sk_spotting.model_selection import ZeroOrLogUniform

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
    model = load_spotter(out / "model.safetensors")
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


def test_zero_or_log_space_and_its_errors():
    _, space = parse_space('sam_rho={"low": 0.01, "high": 1, "log": true, "zero": 0.4}')
    assert space == ZeroOrLogUniform(0.01, 1.0, zero_share=0.4)
    for text in [
        'sam_rho={"low": 0.01, "high": 1, "zero": true}',  # zero needs log
        'sam_rho={"low": 0, "high": 1, "log": true, "zero": true}',
        'sam_rho={"low": 0.01, "high": 1, "log": true, "zero": 2}',
    ]:
        with pytest.raises(UsageError, match="--space"):
            parse_space(text)


def _tune_args(roots, out, *extra):
    return [
        "tune",
        str(roots / "train"),
        "--valid-root",
        str(roots / "valid"),
        "--out",
        str(out),
        "--params",
        "sam_rho",
        "--space",
        "sam_rho=[0.0, 0.5]",
        "--n-trials",
        "1",
        "--no-refit",
        "--quiet",
        *tiny_set(epochs=1, use_displacement="false"),
        *extra,
    ]


def test_heartbeat_and_devices_reach_tune_in_turn(roots, tmp_path, monkeypatch):
    import sk_spotting.model_selection as model_selection

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(model_selection, "tune_in_turn", fake)
    args = _tune_args(
        roots, tmp_path, "--devices", "0,cpu", "--heartbeat-interval", "5"
    )
    assert main(args) == 1
    assert seen["devices"] == [0, "cpu"] and seen["heartbeat_interval"] == 5.0
    for bad in (["--heartbeat-interval", "0"], ["--devices", "0,,1"]):
        assert main(_tune_args(roots, tmp_path, *bad)) == 2


def test_results_are_written_atomically(roots, tmp_path, monkeypatch):
    out = tmp_path / "tuned"
    out.mkdir()
    (out / "trials.csv").write_text("old\n")
    original = pd.DataFrame.to_csv

    def to_csv(self, path_or_buf=None, **kwargs):
        original(self.iloc[:1], path_or_buf, **kwargs)  # half written, then...
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    assert main(_tune_args(roots, out)) == 1
    assert (out / "trials.csv").read_text() == "old\n"  # the old file, whole
    assert sorted(p.name for p in out.iterdir()) == ["best_params.json", "trials.csv"]
    json.loads((out / "best_params.json").read_text())  # complete


def test_quiet_silences_optuna_in_every_worker(roots, tmp_path, console_script):
    script, env = console_script
    args = _tune_args(roots, tmp_path / "tuned", "--n-jobs", "2", "--n-trials", "2")
    done = subprocess.run(
        [script, *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "sam_rho = " in done.stdout
    assert "Trial " not in done.stdout + done.stderr
    assert "[I " not in done.stdout + done.stderr  # no Optuna INFO line at all


def test_tune_nms_chooses_windows_without_training(
    roots, tmp_path, monkeypatch, capsys
):
    model = tmp_path / "model.safetensors"
    fit = ["fit", str(roots / "train"), "--out", str(model), "--quiet"]
    assert main(fit + tiny_set(epochs=1)) == 0

    def no_fit(self, *args, **kwargs):
        raise AssertionError("tune-nms trained a network")

    monkeypatch.setattr(DenseAnchorSpotter, "fit", no_fit)
    windows, tuned = tmp_path / "windows.json", tmp_path / "tuned.safetensors"
    args = [str(model), str(roots / "valid"), "--out", str(windows)]
    args += ["--windows", "4,40", "--tolerances", "tight", "--save-model", str(tuned)]
    assert main(["tune-nms", *args]) == 0
    chosen = json.loads(windows.read_text())["nms_window"]
    assert len(chosen) == 17 and set(chosen.values()) <= {4.0, 20.0, 40.0}
    assert load_spotter(tuned).nms_window == chosen
    assert load_spotter(model).nms_window == 20.0  # the input model is unchanged
    printed = capsys.readouterr().out
    assert "average AP (tight) per class, current -> chosen:" in printed
    out = tmp_path / "results"
    assert main(["predict", str(tuned), str(roots / "test"), "--out", str(out)]) == 0


@pytest.mark.parametrize("windows", ["0,4", "x", ""])
def test_tune_nms_bad_windows_are_usage_errors(windows, capsys):
    assert main(["tune-nms", "m", "root", "--out", "w.json", "--windows", windows]) == 2
    assert "--windows" in capsys.readouterr().err
