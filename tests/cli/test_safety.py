"""The command line never runs code from a file, never destroys its inputs,
writes result sets whole, and ends honestly (issues 11 and 12)."""

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sk_spotting
from sk_spotting import load_spotter
from sk_spotting.cli import main
from sk_spotting.datasets import make_soccernet_tree

from .conftest import tiny_set

pytestmark = pytest.mark.filterwarnings(
    "ignore:The given NumPy array is not writable:UserWarning"
)


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def fitted(roots, tmp_path_factory):
    """A model trained on the single game of ``valid``, and what fit printed."""
    folder = tmp_path_factory.mktemp("fitted")
    model = folder / "model.safetensors"
    capture = io.StringIO()
    stdout, sys.stdout = sys.stdout, capture
    try:
        code = main(
            [
                "fit",
                str(roots / "valid"),
                "--valid-root",
                str(roots / "test"),
                "--out",
                str(model),
                "--quiet",
                *tiny_set(),
            ]
        )
    finally:
        sys.stdout = stdout
    assert code == 0
    return model, capture.getvalue()


@pytest.fixture
def data(roots, tmp_path):
    """A private copy of the test root, free to be damaged."""
    return Path(shutil.copytree(roots / "test", tmp_path / "data"))


def _tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------
# model files that cannot run code
# --------------------------------------------------------------------------


def test_fit_writes_the_safe_format_and_predict_reads_it(
    fitted, data, tmp_path, capsys
):
    model, _ = fitted
    assert load_spotter(model).n_features_in_ == 8
    out = tmp_path / "results"
    assert main(["predict", str(model), str(data), "--out", str(out), "--quiet"]) == 0
    assert len(list(out.rglob("results_spotting.json"))) == 1
    assert "wrote 1 results_spotting.json file (" in capsys.readouterr().out
    assert main(["evaluate", str(data), str(out)]) == 0
    assert capsys.readouterr().out.startswith("2 videos scored")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("name", ["model.joblib", "model.safetensors"])
def test_predict_refuses_a_crafted_pickle_without_running_it(
    data, tmp_path, capsys, name
):
    marker = tmp_path / "code_ran"
    model = tmp_path / name
    model.write_bytes(pickle.dumps(_Payload(marker)))
    args = ["predict", str(model), str(data), "--out", str(tmp_path / "r")]
    assert main(args) == 1
    line = _error_line(capsys)
    assert str(model) in line and "is a pickle" in line and "--allow-pickle" in line
    assert not marker.exists() and not (tmp_path / "r").exists()


def test_fit_refuses_a_pickle_name(roots, tmp_path, capsys):
    args = ["fit", str(roots / "train"), "--out", str(tmp_path / "m.joblib")]
    assert main([*args, "--quiet", *tiny_set()]) == 2
    assert "m.safetensors" in _error_line(capsys)


def test_resume_refuses_a_planted_checkpoint_without_running_it(
    roots, tmp_path, capsys
):
    marker = tmp_path / "code_ran"
    checkpoints = tmp_path / "model.checkpoints"
    checkpoints.mkdir()
    torch.save(_Payload(marker), checkpoints / "confidence.pt")
    args = ["fit", str(roots / "valid"), "--out", str(tmp_path / "model.safetensors")]
    assert main([*args, "--quiet", "--resume", *tiny_set()]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "confidence.pt" in line and "not loaded" in line
    assert not marker.exists()
    assert not (tmp_path / "model.safetensors").exists()


# --------------------------------------------------------------------------
# outputs that do not destroy inputs
# --------------------------------------------------------------------------


def test_predict_zip_never_replaces_the_model(fitted, data, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    shutil.copy(fitted[0], model)
    before = model.read_bytes()
    for extra in ([], ["--overwrite"]):
        args = ["predict", str(model), str(data), "--out", str(tmp_path / "r")]
        assert main([*args, "--zip", str(model), "--quiet", *extra]) == 2
        assert "--zip" in _error_line(capsys)
    assert model.read_bytes() == before


def test_fit_never_replaces_the_labels(roots, tmp_path, capsys):
    data = Path(shutil.copytree(roots / "valid", tmp_path / "data"))
    (labels,) = data.rglob("Labels-v2.json")
    before = labels.read_bytes()
    args = ["fit", str(data), "--out", str(labels), "--quiet", *tiny_set()]
    assert main(args) == 2
    assert "exists; pass --overwrite" in _error_line(capsys)
    assert main([*args, "--overwrite"]) == 2
    assert "the labels file of game" in _error_line(capsys)
    config = tmp_path / "params.json"
    config.write_text(json.dumps({"epochs": 1}))
    args = ["fit", str(data), "--out", str(config), "--config", str(config)]
    assert main([*args, "--overwrite", "--quiet", *tiny_set()]) == 2
    assert "the --config file" in _error_line(capsys)
    assert labels.read_bytes() == before
    assert json.loads(config.read_text()) == {"epochs": 1}


def test_fit_refuses_an_out_inside_the_checkpoint_folder(roots, tmp_path, capsys):
    out = tmp_path / "ck" / "confidence.pt"
    args = ["fit", str(roots / "valid"), "--out", str(out), "--quiet", *tiny_set()]
    assert main([*args, "--checkpoint-dir", str(tmp_path / "ck")]) == 2
    assert "inside the checkpoint folder" in _error_line(capsys)


def test_fit_replaces_an_existing_model_only_with_overwrite(
    roots, fitted, tmp_path, capsys
):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"an older model")
    args = ["fit", str(roots / "valid"), "--out", str(model), "--quiet", *tiny_set()]
    assert main(args) == 2
    assert "exists; pass --overwrite" in _error_line(capsys)
    assert model.read_bytes() == b"an older model"
    assert main([*args, "--overwrite"]) == 0
    assert load_spotter(model).n_features_in_ == 8


def test_predict_refuses_a_non_empty_folder_and_replaces_it_whole(
    fitted, data, tmp_path, capsys
):
    out = tmp_path / "results"
    (out / "old").mkdir(parents=True)
    (out / "old" / "results_spotting.json").write_text("{}")
    args = ["predict", str(fitted[0]), str(data), "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert "not empty; pass --overwrite" in _error_line(capsys)
    assert (out / "old" / "results_spotting.json").exists()
    assert main([*args, "--overwrite"]) == 0
    assert not (out / "old").exists()  # replaced whole, nothing stale kept
    assert len(list(out.rglob("results_spotting.json"))) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("where", ["data", "game", "model"])
def test_predict_refuses_an_out_holding_its_inputs(
    fitted, data, tmp_path, capsys, where
):
    model = tmp_path / "model.safetensors"
    shutil.copy(fitted[0], model)
    out = {"data": data, "game": next(data.iterdir()), "model": tmp_path}[where]
    before = _tree(tmp_path)
    args = ["predict", str(model), str(data), "--out", str(out), "--overwrite"]
    assert main([*args, "--quiet"]) == 2
    line = _error_line(capsys)
    assert f"--out {str(out)!r} holds" in line and "an input of this command" in line
    assert _tree(tmp_path) == before


def test_report_refuses_to_write_into_its_results(fitted, data, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["predict", str(fitted[0]), str(data), "--out", str(results), "--quiet"]
    assert main(args) == 0
    before = _tree(results)
    args = ["report", str(data), str(results), "--out", str(results), "--overwrite"]
    assert main(args) == 2
    assert "the results" in _error_line(capsys)
    assert _tree(results) == before


def test_an_interrupted_predict_leaves_the_previous_results_whole(
    roots, fitted, tmp_path, capsys, monkeypatch
):
    import sk_spotting.datasets as datasets

    data = tmp_path / "data"
    shutil.copytree(roots / "train", data)  # two games
    out = tmp_path / "results"
    args = ["predict", str(fitted[0]), str(data), "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = _tree(out)
    assert len(first) == 2
    # A second model; the run is killed after writing one of its two games.
    other = tmp_path / "other.safetensors"
    fit = ["fit", str(roots / "valid"), "--out", str(other), "--quiet"]
    assert main([*fit, *tiny_set(random_state=1)]) == 0
    real = datasets.write_soccernet_predictions

    def killed_after_one_game(y_pred, meta, out_dir, **kwargs):
        real(y_pred[:2], meta.iloc[:2], out_dir)
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "write_soccernet_predictions", killed_after_one_game)
    assert main(["predict", str(other), *args[2:], "--overwrite"]) == 130
    assert _tree(out) == first  # not a mix of two models
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["evaluate", str(data), str(out), "--json"]) == 0


# --------------------------------------------------------------------------
# honest endings
# --------------------------------------------------------------------------


def test_fit_wording_for_one_game_and_a_long_interval(fitted):
    _, printed = fitted
    assert "training on 1 game, 2 videos" in printed
    assert "validating on 1 game, 2 videos after the last epoch only" in printed
    assert "every 10 epochs" not in printed


def _interrupt_fit(monkeypatch, write_checkpoint):
    def fit(self, *args, **kwargs):
        if write_checkpoint:
            folder = Path(self.checkpoint_dir)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "confidence.pt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(sk_spotting.DenseAnchorSpotter, "fit", fit)


@pytest.mark.parametrize("written", [False, True], ids=["before", "after"])
def test_ctrl_c_tells_whether_checkpoints_exist(
    roots, tmp_path, capsys, monkeypatch, written
):
    _interrupt_fit(monkeypatch, written)
    model = tmp_path / "model.safetensors"
    args = ["fit", str(roots / "valid"), "--out", str(model), "--quiet", *tiny_set()]
    assert main(args) == 130
    line = _error_line(capsys)
    assert line.startswith("sk-spotting fit: interrupted.")
    if written:
        assert "Checkpoints are in" in line and "--resume" in line
    else:
        assert "No checkpoint was written yet" in line
        assert "Checkpoints are in" not in line
        assert not (tmp_path / "model.checkpoints").exists()


class _ClosedPipe(io.StringIO):
    """A stdout whose reader went away (``... | head`` after its lines)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_quietly(fitted, roots, tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    args = ["predict", str(fitted[0]), str(roots / "test"), "--out", str(results)]
    assert main([*args, "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    for command in (
        ["evaluate", str(roots / "test"), str(results), "--json"],
        ["evaluate", str(roots / "test"), str(results)],
        ["fit", "--help"],
        ["--version"],
    ):
        assert main(command) == 141
        assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "command", [["evaluate", "--json"], ["fit", "--help"]], ids=["evaluate", "help"]
)
def test_console_script_output_into_a_closed_pipe(
    roots, fitted, console_script, tmp_path, command
):
    # ``sk-spotting evaluate --json | head``: the reader is gone before the
    # first write; nothing but silence on stderr, exit code 141.
    script, env = console_script
    results = tmp_path / "results"
    args = ["predict", str(fitted[0]), str(roots / "test"), "--out", str(results)]
    assert main([*args, "--quiet"]) == 0
    argv = [script, command[0], str(roots / "test"), str(results), *command[1:]]
    if command[0] == "fit":
        argv = [script, *command]
    env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    # the pipe's reading end is closed before the child starts, so that its
    # first write fails however fast it runs (no race with a loaded machine)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.Popen(
            argv, env=env, stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    _, err = process.communicate(timeout=120)
    assert err.decode() == "" and process.returncode == 141


# --------------------------------------------------------------------------
# errors that name the game folder and half
# --------------------------------------------------------------------------


def test_fit_names_the_game_and_half_of_bad_features(tmp_path, capsys):
    root = tmp_path / "data"
    (good,) = make_soccernet_tree(root, 1, n_features=8, minutes=2.0, random_state=0)
    (odd,) = make_soccernet_tree(
        root, 1, split="test", n_features=6, minutes=2.0, random_state=1
    )
    out = str(tmp_path / "m.safetensors")
    assert main(["fit", str(root), "--out", out, "--quiet", *tiny_set()]) == 1
    line = _error_line(capsys)
    first, second = sorted([good, odd])
    assert f"game {second!r}, half 1 has" in line
    assert f"as game {first!r}, half 1" in line
    assert "(video" not in line


def test_predict_names_the_game_and_half_the_model_cannot_read(
    fitted, tmp_path, capsys
):
    root = tmp_path / "data"
    (game,) = make_soccernet_tree(root, 1, n_features=6, minutes=2.0, random_state=0)
    args = ["predict", str(fitted[0]), str(root), "--out", str(tmp_path / "r")]
    assert main(args) == 1
    line = _error_line(capsys)
    assert f"game {game!r}, half 1 has 6 features, expected 8" in line
    assert "(video" not in line and str(fitted[0]) in line


def test_validation_labels_unknown_to_training_name_the_game(roots, tmp_path, capsys):
    valid = Path(shutil.copytree(roots / "valid", tmp_path / "valid"))
    (labels,) = valid.rglob("Labels-v2.json")
    content = json.loads(labels.read_text())
    content["annotations"][0]["label"] = "Dunk"
    labels.write_text(json.dumps(content))
    half = content["annotations"][0]["gameTime"][0]
    args = ["fit", str(roots / "train"), "--valid-root", str(valid), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "m.safetensors"), *tiny_set()]) == 1
    line = _error_line(capsys)
    game = labels.parent.relative_to(valid).as_posix()
    assert f"validation data: game {game!r}, half {half}" in line
    assert "'Dunk'" in line and "(video" not in line
