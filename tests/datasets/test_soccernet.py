"""SoccerNet reading and writing, checked against the official devkit."""

import importlib.util
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sk_spotting.datasets import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    make_soccernet_tree,
    make_spotting_data,
    read_soccernet_predictions,
    soccernet_games,
    write_soccernet_predictions,
)

FEATURES = "ResNET_TF2_PCA512"
N_FEATURES = 8
MINUTES = 3.0


def _devkit():
    """The official evaluator, without its global ``np.seterr`` side effect."""
    pytest.importorskip("SoccerNet")
    old = np.geterr()
    try:
        from SoccerNet.Evaluation.ActionSpotting import evaluate
        from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V2
    finally:
        np.seterr(**old)
    return evaluate, EVENT_DICTIONARY_V2


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("soccernet") / "data"
    games = make_soccernet_tree(
        root,
        3,
        split="test",
        n_features=N_FEATURES,
        minutes=MINUTES,
        random_state=0,
    )
    return root, games


def _copy_tree(tree, tmp_path):
    import shutil

    root, games = tree
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    return copy, games


def _labels_path(root, game):
    return Path(root) / game / "Labels-v2.json"


def _perfect_predictions(y, meta):
    """The true labels, with confidences falling over time in each half.

    Falling confidences make the devkit's greedy matching (labels in frame
    order, each taking the best unmatched detection in its window) pair every
    label with its own detection, whatever the tolerance.
    """
    return [
        table.assign(confidence=0.95 - 0.9 * table["time"] / (n_frames / 2.0))
        for table, n_frames in zip(y, meta["n_frames"])
    ]


# --------------------------------------------------------------------------
# classes and splits
# --------------------------------------------------------------------------


def test_classes_follow_devkit_order():
    _, event_dictionary = _devkit()
    devkit_order = tuple(sorted(event_dictionary, key=event_dictionary.get))
    assert SOCCERNET_V2_CLASSES == devkit_order
    assert len(SOCCERNET_V2_CLASSES) == 17


def test_split_lists_match_devkit():
    pytest.importorskip("SoccerNet")
    from SoccerNet.utils import getListGames

    all_games = []
    for split, n_games in [("train", 300), ("valid", 100), ("test", 100)] + [
        ("challenge", 50)
    ]:
        games = soccernet_games(split)
        assert len(games) == n_games
        assert games == sorted(games)
        official = {g.replace("\\", "/") for g in getListGames(split)}
        assert set(games) == official
        all_games += games
    assert len(set(all_games)) == 550


def test_split_files_are_up_to_date():
    pytest.importorskip("SoccerNet")
    script = Path(__file__).resolve().parents[2] / "tools" / "make_split_lists.py"
    spec = importlib.util.spec_from_file_location("make_split_lists", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for split, games in module.split_lists().items():
        assert soccernet_games(split) == games


def test_soccernet_games_returns_a_copy():
    games = soccernet_games("valid")
    games.clear()
    assert len(soccernet_games("valid")) == 100


@pytest.mark.parametrize("split", ["Test", "validation", "", None, 1])
def test_soccernet_games_unknown_split(split):
    with pytest.raises(ValueError, match="Unknown split"):
        soccernet_games(split)


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------


def test_load_matches_generated_data(tree):
    root, games = tree
    X, y, meta = load_soccernet(root)
    X_ref, y_ref = make_spotting_data(
        6, n_features=N_FEATURES, minutes=MINUTES, random_state=0
    )
    assert sorted(games) == sorted(set(meta["game"]))
    assert meta["game"].tolist() == sorted(meta["game"].tolist())
    order = [games.index(g) * 2 + h - 1 for g, h in zip(meta["game"], meta["half"])]
    assert list(meta.columns) == ["game", "half", "n_frames", "features_path"]
    assert meta["half"].tolist() == [1, 2] * 3
    assert meta["n_frames"].tolist() == [int(MINUTES * 120)] * 6
    for x, table, k, path in zip(X, y, order, meta["features_path"]):
        assert isinstance(x, np.memmap)
        assert Path(path).is_file() and Path(path).name.endswith(f"_{FEATURES}.npy")
        np.testing.assert_array_equal(np.asarray(x), X_ref[k])
        assert list(table.columns) == ["time", "label", "visibility"]
        np.testing.assert_array_equal(table["time"], y_ref[k]["time"])
        assert table["label"].tolist() == y_ref[k]["label"].tolist()
        assert table["visibility"].tolist() == y_ref[k]["visibility"].tolist()


def test_load_games_keeps_order_and_classes(tree):
    root, games = tree
    chosen = [games[2], games[0]]
    X, y, meta = load_soccernet(root, games=chosen, classes=SOCCERNET_V2_CLASSES)
    assert meta["game"].tolist() == [games[2]] * 2 + [games[0]] * 2
    assert len(X) == len(y) == 4


def test_label_times_from_position_and_gametime(tmp_path):
    root = tmp_path / "data"
    (game,) = make_soccernet_tree(root, 1, n_features=2, minutes=2.0, random_state=1)
    labels = {
        "annotations": [
            # position wins over gameTime, as in the devkit
            {"gameTime": "2 - 00:01", "label": "Goal", "position": "1999"},
            {"gameTime": "1 - 01:05", "label": "Corner", "visibility": "not shown"},
            {"gameTime": "1 - 00:07", "label": "Foul", "position": 7250},
        ]
    }
    _labels_path(root, game).write_text(json.dumps(labels))
    _, y, _ = load_soccernet(root)
    assert y[0]["time"].tolist() == [7.25, 65.0]
    assert y[0]["label"].tolist() == ["Foul", "Corner"]
    assert y[0]["visibility"].tolist() == ["visible", "not shown"]
    assert y[1]["time"].tolist() == [1.999]
    assert y[1]["label"].tolist() == ["Goal"]


def test_challenge_games_have_empty_labels(tmp_path):
    root = tmp_path / "data"
    games = make_soccernet_tree(
        root, 50, split="challenge", n_features=2, minutes=0.05, random_state=0
    )
    assert games == soccernet_games("challenge")
    assert not _labels_path(root, games[0]).exists()
    X, y, meta = load_soccernet(root, split="challenge")  # no warning
    assert len(X) == 100
    assert all(len(t) == 0 for t in y)
    assert list(y[0].columns) == ["time", "label", "visibility"]


def test_missing_labels_outside_challenge_warn(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    _labels_path(root, games[1]).unlink()
    with pytest.warns(UserWarning, match=r"1 game\(s\) outside the challenge"):
        _, y, meta = load_soccernet(root, games=games)
    assert len(y[2]) == len(y[3]) == 0
    assert len(y[0]) > 0


def test_labels_beyond_features_are_clipped_with_one_warning(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    n_frames = int(MINUTES * 120)
    for game, position in [(games[0], 500_000), (games[1], 1000 * n_frames // 2)]:
        path = _labels_path(root, game)
        labels = json.loads(path.read_text())
        labels["annotations"].append(
            {"gameTime": "2 - 99:00", "label": "Goal", "position": str(position)}
        )
        path.write_text(json.dumps(labels))
    _, y_ref, _ = load_soccernet(tree[0], games=games)
    with pytest.warns(UserWarning, match=r"^2 label\(s\) lie beyond") as record:
        _, y, _ = load_soccernet(root, games=games)
    assert len(record) == 1
    last = (n_frames - 1) / 2.0
    for k in (1, 3):  # second halves of games 0 and 1
        assert len(y[k]) == len(y_ref[k]) + 1
        assert (y[k]["label"] == "Goal").sum() == (
            y_ref[k]["label"] == "Goal"
        ).sum() + 1
        assert y[k]["time"].max() == last


# --------------------------------------------------------------------------
# loading errors
# --------------------------------------------------------------------------


def test_error_missing_root(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_soccernet(missing)


def test_error_root_without_games(tmp_path):
    with pytest.raises(FileNotFoundError, match="No game folder"):
        load_soccernet(tmp_path)


def test_error_games_and_split(tree):
    with pytest.raises(ValueError, match="at most one of games and split"):
        load_soccernet(tree[0], games=tree[1], split="test")


def test_error_games_is_a_string(tree):
    with pytest.raises(TypeError, match="wrap a single game in a list"):
        load_soccernet(tree[0], games=tree[1][0])


def test_error_games_escape_root(tree):
    with pytest.raises(ValueError, match="without '..'"):
        load_soccernet(tree[0], games=["../x"])


def test_error_missing_game_folder(tree):
    root, games = tree
    with pytest.raises(FileNotFoundError, match=r"Game 'a/b/c': folder .*does not"):
        load_soccernet(root, games=[games[0], "a/b/c"])
    with pytest.raises(FileNotFoundError, match=re.escape(soccernet_games("test")[3])):
        load_soccernet(root, split="test")


def test_error_missing_feature_file(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    path = root / games[1] / f"2_{FEATURES}.npy"
    path.unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_soccernet(root)
    assert games[1] in str(info.value) and str(path) in str(info.value)


def test_error_corrupt_feature_file(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    path = root / games[0] / f"1_{FEATURES}.npy"
    path.write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_soccernet(root)


def test_error_wrong_features_name(tree):
    with pytest.raises(FileNotFoundError, match=r"1_baidu\.npy"):
        load_soccernet(tree[0], games=tree[1], features="baidu")


def test_error_bad_json(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    path = _labels_path(root, games[2])
    path.write_text('{"annotations": [')
    with pytest.raises(ValueError, match="is not valid JSON") as info:
        load_soccernet(root)
    assert games[2] in str(info.value) and str(path) in str(info.value)


def test_error_labels_without_annotations(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    _labels_path(root, games[0]).write_text("[]")
    with pytest.raises(ValueError, match="'annotations' list"):
        load_soccernet(root)


@pytest.mark.parametrize("game_time", ["3 - 00:10", "1 - 0:1", "00:10", "", 12])
def test_error_bad_gametime(tree, tmp_path, game_time):
    root, games = _copy_tree(tree, tmp_path)
    path = _labels_path(root, games[0])
    labels = json.loads(path.read_text())
    labels["annotations"][1]["gameTime"] = game_time
    path.write_text(json.dumps(labels))
    with pytest.raises(ValueError, match="annotation 1: bad gameTime") as info:
        load_soccernet(root)
    assert games[0] in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("position", ["12.5s", "", None, "-5"])
def test_error_bad_position(tree, tmp_path, position):
    root, games = _copy_tree(tree, tmp_path)
    path = _labels_path(root, games[0])
    labels = json.loads(path.read_text())
    labels["annotations"][0]["position"] = position
    path.write_text(json.dumps(labels))
    with pytest.raises(ValueError, match="annotation 0: (bad|negative) position"):
        load_soccernet(root)


def test_error_bad_visibility(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    path = _labels_path(root, games[0])
    labels = json.loads(path.read_text())
    labels["annotations"][0]["visibility"] = "hidden"
    path.write_text(json.dumps(labels))
    with pytest.raises(ValueError, match="'visibility' has 'hidden'") as info:
        load_soccernet(root)
    assert games[0] in str(info.value)


def test_error_labels_outside_classes(tree):
    root, games = tree
    with pytest.raises(ValueError, match="that are not in classes") as info:
        load_soccernet(root, classes=["Goal"])
    assert games[0] in str(info.value) and "Labels-v2.json" in str(info.value)


def test_error_bad_frame_rate(tree):
    with pytest.raises(ValueError, match="frame_rate"):
        load_soccernet(tree[0], frame_rate=0)


# --------------------------------------------------------------------------
# writing predictions and the official evaluator
# --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the devkit leaves files open
def test_round_trip_through_official_evaluator(tree, tmp_path):
    evaluate, event_dictionary = _devkit()
    root, games = tree
    X, y, meta = load_soccernet(root)
    y_pred = _perfect_predictions(y, meta)
    out = tmp_path / "predictions"
    zip_path = tmp_path / "submission.zip"
    paths = write_soccernet_predictions(
        y_pred, meta, out, frame_rate=2.0, zip_path=zip_path
    )
    assert [p.parent.relative_to(out).as_posix() for p in paths] == sorted(games)

    present = set(pd.concat(y)["label"])
    expected = [1.0 if c in present else 0.0 for c in SOCCERNET_V2_CLASSES]
    assert 0 < sum(expected) < 17
    for predictions in (out, zip_path):
        with np.errstate(divide="ignore", invalid="ignore"):
            # dataset=None lists the games from the label files; the devkit
            # then needs the class dictionary explicitly (else len(None)).
            results = evaluate(
                SoccerNet_path=str(root),
                Predictions_path=str(predictions),
                split="test",
                version=2,
                framerate=2,
                metric="loose",
                dataset=None,
                label_files="Labels-v2.json",
                prediction_file="results_spotting.json",
                EVENT_DICTIONARY=event_dictionary,
            )
        np.testing.assert_allclose(results["a_mAP_per_class"], expected)
        assert results["a_mAP"] == pytest.approx(np.mean(expected))

    for predictions in (out, zip_path):
        back = read_soccernet_predictions(predictions, meta)
        for got, sent in zip(back, y_pred):
            assert list(got.columns) == ["time", "label", "confidence"]
            np.testing.assert_array_equal(got["time"], sent["time"])
            assert got["label"].tolist() == sent["label"].tolist()
            # exact float round trip
            np.testing.assert_array_equal(got["confidence"], sent["confidence"])


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_tight_metric_perfect_too(tree, tmp_path):
    evaluate, event_dictionary = _devkit()
    root, _ = tree
    _, y, meta = load_soccernet(root)
    out = tmp_path / "predictions"
    write_soccernet_predictions(_perfect_predictions(y, meta), meta, out)
    present = set(pd.concat(y)["label"])
    expected = [1.0 if c in present else 0.0 for c in SOCCERNET_V2_CLASSES]
    with np.errstate(divide="ignore", invalid="ignore"):
        results = evaluate(
            SoccerNet_path=str(root),
            Predictions_path=str(out),
            version=2,
            framerate=2,
            metric="tight",
            dataset=None,
            label_files="Labels-v2.json",
            prediction_file="results_spotting.json",
            EVENT_DICTIONARY=event_dictionary,
        )
    np.testing.assert_allclose(results["a_mAP_per_class"], expected)


def _one_game(times, labels=None, confidences=None, half=1):
    labels = labels or ["Goal"] * len(times)
    confidences = confidences or [0.5] * len(times)
    meta = pd.DataFrame({"game": ["lg/2000-2001/g"], "half": [half]})
    table = pd.DataFrame({"time": times, "label": labels, "confidence": confidences})
    return [table], meta


def _written(out, game="lg/2000-2001/g"):
    return json.loads((Path(out) / game / "results_spotting.json").read_text())


@pytest.mark.parametrize(
    "seconds, game_time, position",
    [
        (0.0, "1 - 0:00", "0"),
        (0.0004, "1 - 0:00", "0"),
        (59.4, "1 - 0:59", "59400"),
        (59.5, "1 - 1:00", "59500"),  # round half to even: 60
        (59.6, "1 - 1:00", "59600"),
        (60.5, "1 - 1:00", "60500"),  # round half to even: 60
        (61.0, "1 - 1:01", "61000"),
        (3599.7, "1 - 60:00", "3599700"),
        (3725.25, "1 - 62:05", "3725250"),
        (1.0005, "1 - 0:01", "1000"),  # float 1000.4999... rounds down
    ],
)
def test_game_time_format(tmp_path, seconds, game_time, position):
    y_pred, meta = _one_game([seconds])
    write_soccernet_predictions(y_pred, meta, tmp_path)
    (entry,) = _written(tmp_path)["predictions"]
    assert entry["gameTime"] == game_time
    assert entry["position"] == position


def test_written_fields_are_strings_and_sorted(tmp_path):
    meta = pd.DataFrame({"game": ["lg/s/g2", "lg/s/g1", "lg/s/g2"], "half": [2, 1, 1]})
    y_pred = [
        pd.DataFrame(
            {
                "time": [30.0, 5.25, 5.25],
                "label": ["Goal", "Corner", "Foul"],
                "confidence": [0.1, 1 / 3, np.float32(0.7)],
            }
        ),
        pd.DataFrame({"time": [], "label": [], "confidence": []}),
        pd.DataFrame({"time": [40.0], "label": ["Kick-off"], "confidence": [1e-17]}),
    ]
    paths = write_soccernet_predictions(y_pred, meta, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "lg/s/g2/results_spotting.json",
        "lg/s/g1/results_spotting.json",
    ]
    g2 = _written(tmp_path, "lg/s/g2")
    assert g2["UrlLocal"] == "lg/s/g2"
    entries = g2["predictions"]
    assert [(e["half"], e["position"], e["label"]) for e in entries] == [
        ("1", "40000", "Kick-off"),
        ("2", "5250", "Corner"),
        ("2", "5250", "Foul"),
        ("2", "30000", "Goal"),
    ]
    for entry in entries:
        assert set(entry) == {"gameTime", "half", "position", "label", "confidence"}
        assert all(isinstance(v, str) for v in entry.values())
    assert entries[0]["confidence"] == "1e-17"
    assert entries[1]["confidence"] == repr(1 / 3)
    assert float(entries[2]["confidence"]) == float(np.float32(0.7))
    assert _written(tmp_path, "lg/s/g1") == {"UrlLocal": "lg/s/g1", "predictions": []}
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_zip_layout_and_overwrite(tmp_path):
    y_pred, meta = _one_game([1.0, 2.0])
    zip_path = tmp_path / "out" / "sub.zip"
    write_soccernet_predictions(y_pred, meta, tmp_path / "a", zip_path=zip_path)
    y_pred[0]["confidence"] = [0.25, 0.75]
    write_soccernet_predictions(y_pred, meta, tmp_path / "a", zip_path=zip_path)
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == ["lg/2000-2001/g/results_spotting.json"]
        content = json.loads(zf.read("lg/2000-2001/g/results_spotting.json"))
    assert content == _written(tmp_path / "a")
    assert [e["confidence"] for e in content["predictions"]] == ["0.25", "0.75"]
    assert sorted(p.name for p in zip_path.parent.iterdir()) == ["sub.zip"]


def test_write_checks_inputs(tmp_path):
    y_pred, meta = _one_game([1.0])
    with pytest.raises(ValueError, match="missing column"):
        write_soccernet_predictions(y_pred, meta.drop(columns="half"), tmp_path)
    with pytest.raises(TypeError, match="DataFrame returned by load_soccernet"):
        write_soccernet_predictions(y_pred, {"game": ["g"]}, tmp_path)
    with pytest.raises(ValueError, match="half must be 1 or 2"):
        write_soccernet_predictions(y_pred, meta.assign(half=3), tmp_path)
    with pytest.raises(ValueError, match="meta has 2 rows but y_pred has 1 entries"):
        write_soccernet_predictions(y_pred, pd.concat([meta, meta]), tmp_path)
    twice = pd.concat([meta, meta], ignore_index=True)
    with pytest.raises(ValueError, match="repeats"):
        write_soccernet_predictions(y_pred * 2, twice, tmp_path)
    with pytest.raises(ValueError, match="missing column"):
        write_soccernet_predictions(
            [y_pred[0].drop(columns="confidence")], meta, tmp_path
        )
    with pytest.raises(ValueError, match="without '..'"):
        write_soccernet_predictions(y_pred, meta.assign(game="../g"), tmp_path)
    with pytest.raises(ValueError, match="'n_frames' column"):
        write_soccernet_predictions(y_pred, meta, tmp_path, frame_rate=2.0)
    with pytest.raises(ValueError, match="beyond the end of the video"):
        write_soccernet_predictions(
            y_pred, meta.assign(n_frames=1), tmp_path, frame_rate=2.0
        )


def test_read_errors(tmp_path):
    y_pred, meta = _one_game([1.0])
    write_soccernet_predictions(
        y_pred, meta, tmp_path / "p", zip_path=tmp_path / "z.zip"
    )
    other = pd.DataFrame({"game": ["lg/2000-2001/other"], "half": [1]})
    with pytest.raises(FileNotFoundError, match="Game 'lg/2000-2001/other'"):
        read_soccernet_predictions(tmp_path / "p", other)
    with pytest.raises(FileNotFoundError, match="not in the zip file"):
        read_soccernet_predictions(tmp_path / "z.zip", other)
    with pytest.raises(FileNotFoundError, match="neither a folder nor a zip"):
        read_soccernet_predictions(tmp_path / "missing", meta)
    path = tmp_path / "p" / "lg/2000-2001/g/results_spotting.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_soccernet_predictions(tmp_path / "p", meta)
    path.write_text(json.dumps({"predictions": [{"half": "1", "label": "Goal"}]}))
    with pytest.raises(ValueError, match="prediction 0 is malformed"):
        read_soccernet_predictions(tmp_path / "p", meta)
    # a half that is not 1 or 2 is named, not dropped (3) or truncated (1.9)
    for half in (3, "3", 1.9, True, "first"):
        entry = {"half": half, "position": "1000", "label": "Goal", "confidence": 1}
        path.write_text(json.dumps({"predictions": [entry]}))
        with pytest.raises(ValueError, match=r"prediction 0 is malformed.*half must"):
            read_soccernet_predictions(tmp_path / "p", meta)
    for half in (1, "1", 1.0):
        entry = {"half": half, "position": "1000", "label": "Goal", "confidence": 1}
        path.write_text(json.dumps({"predictions": [entry]}))
        assert len(read_soccernet_predictions(tmp_path / "p", meta)[0]) == 1


def test_read_selects_half(tmp_path):
    meta = pd.DataFrame({"game": ["lg/s/g"] * 2, "half": [2, 1]})
    y_pred = [
        pd.DataFrame({"time": [2.0], "label": ["Goal"], "confidence": [0.2]}),
        pd.DataFrame(
            {"time": [1.0, 3.0], "label": ["Foul"] * 2, "confidence": [1.0, 0]}
        ),
    ]
    write_soccernet_predictions(y_pred, meta, tmp_path)
    back = read_soccernet_predictions(tmp_path, meta)
    assert back[0]["time"].tolist() == [2.0]
    assert back[1]["time"].tolist() == [1.0, 3.0]
    assert back[1]["confidence"].tolist() == [1.0, 0.0]
    only_first = read_soccernet_predictions(tmp_path, meta.iloc[[1]])
    assert len(only_first) == 1 and only_first[0]["label"].tolist() == ["Foul"] * 2


# --------------------------------------------------------------------------
# inputs that cannot fool the reader
# --------------------------------------------------------------------------


def test_symlinked_game_folders_are_found(tree, tmp_path):
    root, games = tree
    league = games[0].split("/")[0]
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "lg").symlink_to(root / league, target_is_directory=True)
    _, _, meta = load_soccernet(linked)
    expected = sorted("lg/" + g.split("/", 1)[1] for g in games if g.startswith(league))
    assert sorted(meta["game"].unique()) == expected


def test_symlink_cycles_are_walked_once(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    league = games[0].split("/")[0]
    (root / league / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / league, target_is_directory=True)
    _, _, meta = load_soccernet(root)
    found = list(meta["game"].unique())
    assert len(found) == len(games)  # each real game folder once
    assert not any("loop" in g for g in found)


def test_game_folder_not_utf8_is_rejected_before_reading(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    folder = root / games[1]
    bad = folder.with_name(os.fsdecode(os.fsencode(folder.name) + b"\xff"))
    folder.rename(bad)
    (root / games[0] / f"1_{FEATURES}.npy").write_bytes(b"never read")
    with pytest.raises(ValueError, match="not valid UTF-8; rename the folder"):
        load_soccernet(root)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_soccernet(root, games=[str(bad.relative_to(root))])


@pytest.mark.parametrize("position", [float("inf"), 1e300, 10**21, "1e300"])
def test_error_position_out_of_range_names_file_and_annotation(
    tree, tmp_path, position
):
    root, games = _copy_tree(tree, tmp_path)
    path = _labels_path(root, games[0])
    labels = json.loads(path.read_text())
    labels["annotations"][2]["position"] = position
    path.write_text(json.dumps(labels))  # inf is written as Infinity
    with pytest.raises(ValueError, match="annotation 2: (bad position|position)"):
        load_soccernet(root)
    with pytest.raises(ValueError) as info:
        load_soccernet(root)
    assert str(path) in str(info.value) and games[0] in str(info.value)


@pytest.mark.parametrize("position", [float("inf"), 1e300, "-1"])
def test_error_prediction_position_out_of_range(tmp_path, position):
    y_pred, meta = _one_game([1.0])
    write_soccernet_predictions(y_pred, meta, tmp_path)
    path = tmp_path / meta["game"][0] / "results_spotting.json"
    content = json.loads(path.read_text())
    content["predictions"][0]["position"] = position
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"prediction 0.*position"):
        read_soccernet_predictions(tmp_path, meta)


def test_require_labels(tree, tmp_path):
    root, games = _copy_tree(tree, tmp_path)
    _labels_path(root, games[1]).unlink()
    with pytest.raises(FileNotFoundError, match=r"\(1 of 3 games have no") as info:
        load_soccernet(root, require_labels=True)
    assert games[1] in str(info.value)
    assert len(load_soccernet(tree[0], require_labels=True)[0]) == 6


def test_results_files_are_read_up_to_a_size_limit(tmp_path, monkeypatch):
    from sk_spotting.datasets import _soccernet

    y_pred, meta = _one_game([1.0] * 20)
    zip_path = tmp_path / "s.zip"
    write_soccernet_predictions(y_pred, meta, tmp_path / "p", zip_path=zip_path)
    size = (tmp_path / "p" / meta["game"][0] / "results_spotting.json").stat().st_size
    monkeypatch.setattr(_soccernet, "_MAX_PREDICTIONS_BYTES", size)
    assert len(read_soccernet_predictions(zip_path, meta)[0]) == 20
    monkeypatch.setattr(_soccernet, "_MAX_PREDICTIONS_BYTES", size - 1)
    for source in (zip_path, tmp_path / "p"):
        with pytest.raises(ValueError, match=rf"larger than {size - 1:,} bytes"):
            read_soccernet_predictions(source, meta)


def test_zip_member_expanding_past_the_limit_is_not_read_whole(tmp_path):
    """A member far larger than its zip (here 200 MB of spaces) fails after
    reading the limit; benchmarks/bench_zip_memory.py measures the memory."""
    from sk_spotting.datasets import _soccernet

    game = "lg/s/g"
    zip_path = tmp_path / "bomb.zip"
    block = b" " * 2**20
    n_blocks = _soccernet._MAX_PREDICTIONS_BYTES // len(block) + 2
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(f"{game}/results_spotting.json", "w") as member:
            for _ in range(n_blocks):
                member.write(block)
    assert zip_path.stat().st_size < 2**20
    meta = pd.DataFrame({"game": [game], "half": [1]})
    with pytest.raises(ValueError, match="is larger than"):
        read_soccernet_predictions(zip_path, meta)


def test_unreadable_folder_is_an_error_not_skipped(tree, monkeypatch):
    root, games = tree
    league = str(root / games[0].split("/")[0])
    scandir = os.scandir

    def refuse_league(path):
        if os.fspath(path) == league:
            raise PermissionError(13, "Permission denied", league)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_league)
    with pytest.raises(PermissionError, match="Permission denied"):
        load_soccernet(root)
