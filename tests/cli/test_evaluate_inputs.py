"""``evaluate`` and ``report`` on inputs that could fool the scorer.

The ground truth defines the classes: a misspelled label in the results or in
the labels is a one-line error naming game and half, never an 18th class.
"""

import json
import shutil

import pytest

from sk_spotting.cli import main
from sk_spotting.datasets import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    write_soccernet_predictions,
)
from sk_spotting.metrics import average_map_score


@pytest.fixture
def data(roots, tmp_path):
    """A copy of the test root and results predicting its labels."""
    root = tmp_path / "data"
    shutil.copytree(roots / "test", root)
    _, y_true, meta = load_soccernet(root)
    y_pred = [t.assign(confidence=0.5 + 0.4 * (t.index % 2)) for t in y_true]
    write_soccernet_predictions(y_pred, meta, tmp_path / "results")
    return root, tmp_path / "results", y_true, y_pred, meta


def _edit_json(path, key, row, label):
    content = json.loads(path.read_text())
    content[key][row]["label"] = label
    path.write_text(json.dumps(content))
    return content[key][row]


def _results_file(results, meta):
    return results / meta["game"][0] / "results_spotting.json"


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _evaluate_json(capsys, *args):
    capsys.readouterr()
    assert main(["evaluate", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command", ["evaluate", "report"])
@pytest.mark.parametrize("typo", ["Goal ", "Dunk"])
def test_unknown_predicted_label_is_an_error(data, capsys, tmp_path, command, typo):
    root, results, _, _, meta = data
    entry = _edit_json(_results_file(results, meta), "predictions", 0, typo)
    extra = ["--out", str(tmp_path / "report")] if command == "report" else []
    assert main([command, str(root), str(results), *extra]) == 1
    line = _one_error_line(capsys)
    assert f"game {meta['game'][0]!r}, half {entry['half']}" in line
    assert f"predicted label {typo!r}" in line and "--unknown-labels drop" in line


@pytest.mark.filterwarnings("default:.*--unknown-labels drop:UserWarning")
def test_dropped_predictions_are_counted_and_not_scored(data, capsys):
    root, results, y_true, y_pred, meta = data
    path = _results_file(results, meta)
    content = json.loads(path.read_text())
    for entry in content["predictions"][:3]:
        entry["label"] = "Dunk"
    path.write_text(json.dumps(content))
    capsys.readouterr()
    args = ["evaluate", str(root), str(results), "--json", "--unknown-labels", "drop"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert err.startswith("warning: 3 prediction(s) with label(s) ['Dunk']")
    # the devkit skips them: the score is that of the other predictions
    kept = [
        t[~t["time"].isin(sorted(t["time"])[:3])] if k == 0 else t
        for k, t in enumerate(y_pred)
    ]
    expected = average_map_score(y_true, kept, classes=SOCCERNET_V2_CLASSES)
    assert json.loads(out)["average_map"] == expected
    assert len(json.loads(out)["classes"]) == 17


def test_misspelled_truth_label_is_an_error(data, capsys):
    root, results, *_ = data
    labels = root / data[4]["game"][0] / "Labels-v2.json"
    entry = _edit_json(labels, "annotations", 1, "Goal ")
    assert main(["evaluate", str(root), str(results)]) == 1
    line = _one_error_line(capsys)
    assert f"half {entry['gameTime'][0]}: label 'Goal ' of the ground truth" in line
    assert "--classes labels" in line
    scored = _evaluate_json(capsys, root, results, "--classes", "labels")
    assert "Goal " in scored["classes"] and len(scored["classes"]) < 17


def test_classes_given_by_name(data, capsys):
    root, results, y_true, y_pred, _ = data
    present = sorted({label for t in y_true for label in t["label"]})
    names = ",".join(present)
    scored = _evaluate_json(capsys, root, results, "--classes", names)
    assert scored["classes"] == present
    assert scored["average_map"] == average_map_score(y_true, y_pred, classes=present)
    assert main(["evaluate", str(root), str(results), "--classes", "Goal,,"]) == 2
    assert "--classes expects" in _one_error_line(capsys)


def test_data_without_labels_fails_in_one_line(data, capsys):
    root, results, *_ = data
    for labels in root.rglob("Labels-v2.json"):
        labels.unlink()
    assert main(["evaluate", str(root), str(results)]) == 1
    line = _one_error_line(capsys)
    assert "(1 of 1 games have no Labels-v2.json)" in line
    assert capsys.readouterr().out == ""
