"""Exit codes, one-line errors, parameters from docstrings and config files."""

import json

import pytest

from sk_spotting import DenseAnchorSpotter
from sk_spotting.cli import main
from sk_spotting.cli._common import (
    build_estimator,
    parameter_docs,
    parse_assignments,
)


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--set", "epochs=0"], "epochs"),
        (["--set", "trunk=resnet"], "trunk"),
        (["--set", "epoch=3"], "unknown estimator parameter(s) ['epoch']"),
        (["--set", "epochs"], "KEY=VALUE"),
        (["--frame-rate", "-1"], "frame_rate"),
    ],
)
def test_bad_parameters_are_usage_errors(roots, tmp_path, capsys, extra, needle):
    args = ["fit", str(roots / "train"), "--out", str(tmp_path / "m.safetensors")]
    assert main(args + extra) == 2
    line = _error_line(capsys)
    assert line.startswith("sk-spotting fit: error:") and needle in line
    assert not (tmp_path / "m.safetensors").exists()


def test_config_file_then_set(tmp_path):
    config = tmp_path / "params.json"
    config.write_text(json.dumps({"epochs": 7, "nms_window": {"Goal": 4}}))
    spotter, explicit = build_estimator(
        DenseAnchorSpotter, config=config, assignments=["epochs=3", "trunk=transformer"]
    )
    assert (spotter.epochs, spotter.trunk) == (3, "transformer")
    assert spotter.nms_window == {"Goal": 4}
    assert explicit == {"epochs", "nms_window", "trunk"}


@pytest.mark.parametrize(
    "content, needle", [(None, "does not exist"), ("[1]", "JSON object"), ("{", "JSON")]
)
def test_bad_config_file(roots, tmp_path, capsys, content, needle):
    config = tmp_path / "params.json"
    if content is not None:
        config.write_text(content)
    args = ["fit", str(roots / "train"), "--out", str(tmp_path / "m.safetensors")]
    assert main(args + ["--config", str(config)]) == 2
    assert needle in _error_line(capsys)


def test_set_values_are_json_or_text():
    assert parse_assignments(
        ["a=1", "b=2.5", "c=null", "d=true", "e=unet", 'f={"x": 1}', "g=a=b"]
    ) == {
        "a": 1,
        "b": 2.5,
        "c": None,
        "d": True,
        "e": "unet",
        "f": {"x": 1},
        "g": "a=b",
    }


def test_runtime_errors_are_one_line_with_code_1(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert line.startswith("sk-spotting evaluate: error:") and "missing" in line
    assert (
        main(["predict", str(tmp_path / "m.joblib"), str(tmp_path), "--out", "x"]) == 1
    )
    assert "does not exist" in _error_line(capsys)


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), str(tmp_path), "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_not_a_model(tmp_path, capsys):
    import joblib

    joblib.dump({"not": "a model"}, tmp_path / "m.joblib")
    args = ["predict", str(tmp_path / "m.joblib"), str(tmp_path), "--out", "x"]
    assert main(args) == 1
    assert "is a pickle" in _error_line(capsys)
    assert main([*args, "--allow-pickle"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "can run any code" in err[0]
    assert "does not hold a fitted spotter" in err[1]


def test_usage_and_version(capsys):
    assert main([]) == 2
    assert main(["fit"]) == 2  # DATA_ROOT and --out missing
    assert main(["evaluate", "a", "b", "--tolerances", "0,1"]) == 2
    capsys.readouterr()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sk-spotting ")


def test_every_parameter_is_documented_in_fit_help(capsys):
    names = DenseAnchorSpotter().get_params(deep=False)
    docs = parameter_docs(DenseAnchorSpotter)
    assert set(names) <= set(docs)
    assert all(text for _, text in docs.values())
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    for name in names:
        assert f"  {name}  (" in out
    assert docs["nms"][1] in " ".join(out.split())
