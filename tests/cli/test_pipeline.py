"""End to end: make_soccernet_tree -> fit -> predict -> evaluate -> report."""

import json
import subprocess
import zipfile

import numpy as np
import pytest

from sk_spotting import load_spotter
from sk_spotting.cli import main
from sk_spotting.datasets import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    read_soccernet_predictions,
)
from sk_spotting.metrics import average_map_score

from .conftest import TINY, tiny_set

pytestmark = pytest.mark.filterwarnings(
    # torch warns when the chunk sampler copies load_soccernet's read-only
    # memory maps; the copy is safe.
    "ignore:The given NumPy array is not writable:UserWarning"
)


@pytest.fixture(scope="module")
def model_path(roots, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    code = main(
        [
            "fit",
            str(roots / "train"),
            "--valid-root",
            str(roots / "valid"),
            "--out",
            str(path),
            "--quiet",
            *tiny_set(validation_interval=1),
        ]
    )
    assert code == 0
    return path


@pytest.fixture(scope="module")
def results(model_path, roots, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict")
    code = main(
        [
            "predict",
            str(model_path),
            str(roots / "test"),
            "--out",
            str(out / "results"),
            "--zip",
            str(out / "submission.zip"),
            "--quiet",
        ]
    )
    assert code == 0
    return out / "results", out / "submission.zip"


def _truth_and_predictions(roots, results_path):
    X, y, meta = load_soccernet(roots / "test")
    return X, y, meta, read_soccernet_predictions(results_path, meta)


def test_fit_saves_a_fitted_model_and_checkpoints(model_path):
    model = load_spotter(model_path)
    assert list(model.classes_) == list(SOCCERNET_V2_CLASSES)
    assert model.epochs == TINY["epochs"] and model.n_features_in_ == 8
    assert len(model.confidence_net_.history) == TINY["epochs"]
    assert len(model.displacement_net_.history) == TINY["epochs"]
    assert "valid_average_map" in model.confidence_net_.history[-1]
    checkpoints = model_path.with_suffix(".checkpoints")
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "confidence.pt",
        "displacement.pt",
    ]
    assert not list(model_path.parent.glob(".*.tmp"))  # atomic write cleaned up


def test_predict_writes_one_file_per_game_and_the_zip(roots, model_path, results):
    results_dir, zip_path = results
    X, _, meta, y_pred = _truth_and_predictions(roots, results_dir)
    games = sorted(meta["game"].unique())
    files = sorted(
        p.relative_to(results_dir).as_posix() for p in results_dir.rglob("*.json")
    )
    assert files == [f"{g}/results_spotting.json" for g in games]
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == files
    expected = load_spotter(model_path).predict(X)
    for table, direct in zip(y_pred, expected):
        assert len(table) == len(direct) > 0
        np.testing.assert_allclose(
            np.sort(table["time"]), np.sort(direct["time"]), atol=5e-4
        )


@pytest.mark.parametrize("tolerances", ["loose", "tight", "1,2.5,7"])
def test_evaluate_equals_average_map_score(roots, results, capsys, tolerances):
    results_dir, zip_path = results
    _, y_true, _, y_pred = _truth_and_predictions(roots, results_dir)
    tol = tolerances if "," not in tolerances else [1.0, 2.5, 7.0]
    expected = average_map_score(
        y_true,
        y_pred,
        tolerances=tol,
        classes=SOCCERNET_V2_CLASSES,
        return_details=True,
    )
    for source in (results_dir, zip_path):
        capsys.readouterr()
        code = main(
            [
                "evaluate",
                str(roots / "test"),
                str(source),
                "--json",
                "--tolerances",
                tolerances,
            ]
        )
        assert code == 0
        data = json.loads(capsys.readouterr().out)
        assert data["average_map"] == expected.average_map
        assert data["map_per_tolerance"] == expected.map_per_tolerance.tolist()
        assert data["tolerances"] == expected.tolerances.tolist()
        assert list(data["average_ap_per_class"].values()) == (
            expected.average_ap_per_class.tolist()
        )
        assert data["n_videos"] == 2


def test_evaluate_prints_tables(roots, results, capsys):
    results_dir, _ = results
    assert main(["evaluate", str(roots / "test"), str(results_dir)]) == 0
    out = capsys.readouterr().out
    assert "average-mAP (loose, 12 tolerances, 5-60 s)" in out
    assert "mAP per tolerance:" in out and "AP per class" in out
    assert all(name in out for name in SOCCERNET_V2_CLASSES)


def test_report_writes_pngs_and_a_self_contained_page(roots, results, tmp_path):
    results_dir, _ = results
    out = tmp_path / "report"
    code = main(["report", str(roots / "test"), str(results_dir), "--out", str(out)])
    assert code == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "displacement_errors.png",
        "map_vs_tolerance.png",
        "per_class_ap.png",
        "timeline_0.png",
        "timeline_1.png",
    ]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert "http" not in page  # nothing to fetch


def test_console_script_matches_in_process(roots, results, console_script, capsys):
    script, env = console_script
    results_dir, _ = results
    args = ["evaluate", str(roots / "test"), str(results_dir), "--json"]
    done = subprocess.run(
        [script, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    capsys.readouterr()
    assert main(args) == 0
    assert json.loads(done.stdout) == json.loads(capsys.readouterr().out)


def test_predict_needs_no_labels(roots, model_path, tmp_path):
    import shutil

    data = tmp_path / "unlabelled"
    shutil.copytree(roots / "test", data)
    for labels in data.rglob("Labels-v2.json"):
        labels.unlink()
    out = tmp_path / "results"
    assert (
        main(["predict", str(model_path), str(data), "--out", str(out), "--quiet"]) == 0
    )
    assert len(list(out.rglob("results_spotting.json"))) == 1
