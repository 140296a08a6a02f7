"""``sk-spotting tune``: tuning in turn from the command line."""

import json
import shutil
import subprocess
import warnings

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
    assert main(_tune_args(roots, out, "--overwrite")) == 1
    # the old folder, whole: no new best_params.json beside the old trials
    assert [p.name for p in out.iterdir()] == ["trials.csv"]
    assert (out / "trials.csv").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tuned"]  # no temporaries


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


def _error_line(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_tune_refuses_a_used_out_folder_before_tuning(roots, tmp_path, capsys):
    out = tmp_path / "tuned"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(_tune_args(roots, out)) == 2  # not empty, no --overwrite
    assert "--overwrite" in _error_line(capsys)
    config = out / "config.json"
    config.write_text(json.dumps({"epochs": 1}))
    args = _tune_args(roots, out, "--config", str(config), "--overwrite")
    assert main(args) == 2  # --out holds the --config file: never replaced
    assert "the --config file" in _error_line(capsys)
    storage = f"sqlite:///{out / 'study.db'}"
    args = _tune_args(roots, out, "--storage", storage, "--study-name", "s")
    assert main([*args, "--overwrite"]) == 2
    assert "the --storage file" in _error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]


def test_tune_replaces_its_out_folder_whole(roots, tmp_path, capsys):
    out = tmp_path / "tuned"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"from an earlier run")
    assert main(_tune_args(roots, out, "--overwrite")) == 0  # --no-refit
    # no model of another run beside the new best_params.json
    assert sorted(p.name for p in out.iterdir()) == ["best_params.json", "trials.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["tuned"]  # no leftovers


def test_tune_nms_never_replaces_its_inputs(roots, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    fit = ["fit", str(roots / "train"), "--out", str(model), "--quiet"]
    assert main(fit + tiny_set(epochs=1)) == 0
    before = model.read_bytes()
    valid = str(roots / "valid")
    assert main(["tune-nms", str(model), valid, "--out", str(model)]) == 2
    assert "--overwrite" in _error_line(capsys)
    args = ["tune-nms", str(model), valid, "--out", str(model), "--overwrite"]
    assert main(args) == 2
    assert "is the model" in _error_line(capsys)
    windows = tmp_path / "w.json"
    args = ["tune-nms", str(model), valid, "--out", str(windows)]
    assert main([*args, "--save-model", str(windows)]) == 2
    assert "the --out file" in _error_line(capsys)
    assert main([*args, "--save-model", str(tmp_path / "m.joblib")]) == 2
    assert "m.safetensors" in _error_line(capsys)
    labels = next((roots / "valid").rglob("Labels-v2.json"))
    text = labels.read_text()
    args = ["tune-nms", str(model), valid, "--out", str(labels), "--overwrite"]
    assert main(args) == 2
    assert "the labels file of game" in _error_line(capsys)
    assert labels.read_text() == text and model.read_bytes() == before
    assert not windows.exists()


def test_tune_nms_needs_every_labels_file(roots, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    fit = ["fit", str(roots / "train"), "--out", str(model), "--quiet"]
    assert main(fit + tiny_set(epochs=1)) == 0
    valid = tmp_path / "valid"
    shutil.copytree(roots / "train", valid)  # two games: one keeps its labels
    labels = sorted(valid.rglob("Labels-v2.json"))
    assert len(labels) == 2
    labels[0].unlink()
    windows = tmp_path / "w.json"
    with warnings.catch_warnings():  # as a user runs it: warnings only printed
        warnings.simplefilter("default")
        code = main(["tune-nms", str(model), str(valid), "--out", str(windows)])
    assert code == 1
    assert "Labels-v2.json" in _error_line(capsys)
    assert not windows.exists()
