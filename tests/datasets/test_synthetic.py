"""SoccerNet-like synthetic data and the synthetic SoccerNet tree."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sk_spotting.data import check_videos_and_events, time_to_frame
from sk_spotting.datasets import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    make_soccernet_tree,
    make_spotting_data,
    soccernet_games,
)

# SoccerNet-v2 label counts over 1,000 halves (the generator's rates).
COUNTS = {
    "Penalty": 173,
    "Kick-off": 2566,
    "Goal": 1703,
    "Substitution": 2839,
    "Offside": 1265,
    "Shots on target": 5820,
    "Shots off target": 5256,
    "Clearance": 7896,
    "Ball out of play": 31810,
    "Throw-in": 18918,
    "Foul": 11674,
    "Indirect free-kick": 10521,
    "Direct free-kick": 2200,
    "Corner": 4749,
    "Yellow card": 1867,
    "Red card": 55,
    "Yellow->red card": 46,
}


def test_shapes_dtypes_and_contract():
    X, y = make_spotting_data(3, n_features=16, minutes=3.0, random_state=0)
    assert len(X) == len(y) == 3
    for x in X:
        assert x.shape == (360, 16) and x.dtype == np.float32
    check_videos_and_events(X, y, frame_rate=2.0, classes=SOCCERNET_V2_CLASSES)
    for table in y:
        assert list(table.columns) == ["time", "label", "visibility"]
        assert (np.diff(table["time"]) >= 0).all()


@pytest.mark.parametrize(
    "frame_rate, minutes, n_frames", [(1.0, 2.5, 150), (25, 0.1, 150), (2.0, 0.3, 36)]
)
def test_other_frame_rates(frame_rate, minutes, n_frames):
    X, y = make_spotting_data(
        2, n_features=4, minutes=minutes, frame_rate=frame_rate, random_state=1
    )
    assert X[0].shape == (n_frames, 4)
    check_videos_and_events(X, y, frame_rate=frame_rate)


def test_bit_identical_for_a_seed():
    X1, y1 = make_spotting_data(2, n_features=16, minutes=3.0, random_state=7)
    X2, y2 = make_spotting_data(2, n_features=16, minutes=3.0, random_state=7)
    for a, b, s, t in zip(X1, X2, y1, y2):
        assert a.tobytes() == b.tobytes()
        pd.testing.assert_frame_equal(s, t)
    X3, _ = make_spotting_data(2, n_features=16, minutes=3.0, random_state=8)
    assert not np.array_equal(X1[0], X3[0])
    assert not np.array_equal(X1[0], X1[1])


def test_video_does_not_depend_on_n_videos():
    X1, y1 = make_spotting_data(1, n_features=8, minutes=2.0, random_state=3)
    X3, y3 = make_spotting_data(3, n_features=8, minutes=2.0, random_state=3)
    np.testing.assert_array_equal(X1[0], X3[0])
    pd.testing.assert_frame_equal(y1[0], y3[0])


def test_generators_accepted():
    X1, _ = make_spotting_data(
        1, n_features=4, minutes=1.0, random_state=np.random.default_rng(5)
    )
    X2, _ = make_spotting_data(
        1, n_features=4, minutes=1.0, random_state=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(X1[0], X2[0])
    X3, _ = make_spotting_data(
        1, n_features=4, minutes=1.0, random_state=np.random.RandomState(5)
    )
    assert X3[0].shape == (120, 4)
    X4, _ = make_spotting_data(1, n_features=4, minutes=1.0)  # fresh entropy
    assert X4[0].shape == (120, 4)


def test_times_inside_video_at_millisecond_resolution():
    _, y = make_spotting_data(4, n_features=1, minutes=45.0, random_state=2)
    times = np.concatenate([t["time"].to_numpy() for t in y])
    assert times.min() >= 0 and times.max() < 45 * 60
    milliseconds = times * 1000
    np.testing.assert_allclose(milliseconds, np.round(milliseconds), atol=1e-6)
    on_frame_starts = np.isclose((times * 2) % 1, 0)
    assert on_frame_starts.mean() < 0.05  # not only on the 2-fps grid


def test_class_frequencies_and_actions_per_half():
    n_halves = 30
    _, y = make_spotting_data(n_halves, n_features=1, minutes=45.0, random_state=4)
    events = pd.concat(y)
    counts = events["label"].value_counts()
    for name, total in COUNTS.items():
        expected = total / 1000 * n_halves
        # Poisson counts: well within 5 standard deviations
        assert abs(counts.get(name, 0) - expected) <= 5 * np.sqrt(expected) + 3, name
    per_half = len(events) / n_halves
    assert 100 <= per_half <= 119  # ~109.4 expected, sd ~1.9 for the mean
    order = ["Ball out of play", "Throw-in", "Foul", "Corner", "Goal", "Penalty"]
    assert [counts.get(c, 0) for c in order] == sorted(
        [counts.get(c, 0) for c in order], reverse=True
    )
    not_shown = (events["visibility"] == "not shown").mean()
    assert 0.12 <= not_shown <= 0.18
    assert set(events["visibility"]) == {"visible", "not shown"}


def test_custom_classes_share_the_rate():
    classes = ["serve", "smash", "lob"]
    X, y = make_spotting_data(
        20, n_features=2, minutes=45.0, classes=classes, random_state=0
    )
    events = pd.concat(y)
    assert set(events["label"]) == set(classes)
    counts = events["label"].value_counts()
    for name in classes:  # ~36.5 per half each
        assert abs(counts[name] - 20 * 36.45) < 5 * np.sqrt(20 * 36.45)


def test_soccernet_subset_keeps_soccernet_rates():
    _, y = make_spotting_data(
        10, n_features=1, minutes=45.0, classes=["Goal", "Throw-in"], random_state=0
    )
    counts = pd.concat(y)["label"].value_counts()
    assert abs(counts["Throw-in"] - 189.2) < 5 * np.sqrt(189.2)
    assert abs(counts["Goal"] - 17.0) < 5 * np.sqrt(17.0) + 3


def test_precise_localisation_is_learnable():
    """A linear model separates an action's frame from frames 1-1.5 s away."""
    X, y = make_spotting_data(6, n_features=24, minutes=10.0, random_state=0)
    positives, negatives = [], []
    for x, table in zip(X, y):
        rows = table[(table["label"] == "Ball out of play")]
        rows = rows[rows["visibility"] == "visible"]
        frames = time_to_frame(rows["time"].to_numpy(), 2.0, len(x))
        for frame in frames:
            positives.append(x[frame])
            negatives += [
                x[frame + o] for o in (-3, -2, 2, 3) if 0 <= frame + o < len(x)
            ]
    features = np.vstack(positives + negatives)
    target = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    assert len(positives) >= 30
    model = LogisticRegression(max_iter=500, class_weight="balanced")
    auc = cross_val_score(model, features, target, cv=3, scoring="roc_auc").mean()
    # the cue is weak on purpose (one frame alone is unreliable), yet learnable
    assert auc > 0.7

    # ... but not trivially from the raw features of one dimension
    best_single = max(
        abs(np.corrcoef(features[:, j], target)[0, 1]) for j in range(features.shape[1])
    )
    assert best_single < 0.6


def test_context_is_shared_by_related_classes():
    """Mean context (1-6 s before and after) is alike within a class group."""
    X, y = make_spotting_data(8, n_features=32, minutes=45.0, random_state=0)
    overall = np.vstack(X).mean(axis=0)

    def context(label):
        before, after = [], []
        for x, table in zip(X, y):
            frames = time_to_frame(table["time"][table["label"] == label], 2.0)
            for f in frames[(frames >= 12) & (frames < len(x) - 12)]:
                before.append(x[f - 12 : f - 1].mean(axis=0))
                after.append(x[f + 2 : f + 13].mean(axis=0))
        return np.r_[np.mean(before, 0) - overall, np.mean(after, 0) - overall]

    def cosine(a, b):
        a, b = context(a), context(b)
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    related = [
        cosine("Ball out of play", "Throw-in"),
        cosine("Foul", "Indirect free-kick"),
    ]
    unrelated = [
        cosine("Ball out of play", "Foul"),
        cosine("Throw-in", "Indirect free-kick"),
        cosine("Shots off target", "Throw-in"),
    ]
    # the class-specific context is as strong as the shared one, so related
    # classes look alike only in part; unrelated ones do not look alike at all
    assert min(related) > 0.3
    assert max(unrelated) < min(related) - 0.2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_videos": 0}, ValueError, "n_videos must be >= 1"),
        ({"n_videos": 2.0}, TypeError, "n_videos must be an integer"),
        ({"n_videos": True}, TypeError, "n_videos must be an integer"),
        ({"n_features": 0}, ValueError, "n_features must be >= 1"),
        ({"minutes": -1}, ValueError, "minutes must be finite and > 0"),
        ({"minutes": float("nan")}, ValueError, "minutes must be finite"),
        ({"minutes": "45"}, TypeError, "minutes must be a number"),
        ({"minutes": 0.001}, ValueError, "gives no frame"),
        ({"frame_rate": 0}, ValueError, "frame_rate"),
        ({"classes": "Goal"}, TypeError, "sequence of class names"),
        ({"classes": []}, ValueError, "classes is empty"),
        ({"classes": ["a", "a"]}, ValueError, "duplicate"),
        ({"classes": ["a", 3]}, TypeError, "non-empty strings"),
        ({"random_state": -1}, ValueError, "random_state must be >= 0"),
        ({"random_state": "seed"}, TypeError, "random_state must be None"),
    ],
)
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_spotting_data(**{"n_features": 2, "minutes": 1.0, **kwargs})


# --------------------------------------------------------------------------
# make_soccernet_tree
# --------------------------------------------------------------------------


def test_tree_synthetic_names_and_label_files(tmp_path):
    games = make_soccernet_tree(
        tmp_path, 2, features="feat", n_features=4, minutes=2.0, random_state=3
    )
    assert len(games) == 2 and len(set(games)) == 2
    for game in games:
        league, season, name = game.split("/")
        assert league == "synthetic_league"
        assert len(season) == 9 and " - " in name
        folder = tmp_path / game
        assert sorted(p.name for p in folder.iterdir()) == [
            "1_feat.npy",
            "2_feat.npy",
            "Labels-v2.json",
        ]
    labels = json.loads((tmp_path / games[0] / "Labels-v2.json").read_text())
    assert labels["UrlLocal"] == games[0]
    annotations = labels["annotations"]
    assert annotations
    for entry in annotations:
        assert set(entry) == {"gameTime", "label", "position", "team", "visibility"}
        assert all(isinstance(v, str) for v in entry.values())
        half, clock = entry["gameTime"].split(" - ")
        minutes, seconds = clock.split(":")
        assert half in "12" and len(minutes) == 2 and len(seconds) == 2
        assert 60 * int(minutes) + int(seconds) == int(entry["position"]) // 1000
        assert entry["team"] in ("home", "away")
        assert entry["label"] in SOCCERNET_V2_CLASSES

    # halves are make_spotting_data's videos for the same seed
    X_ref, y_ref = make_spotting_data(4, n_features=4, minutes=2.0, random_state=3)
    X, y, meta = load_soccernet(tmp_path, games=games, features="feat")
    for x, x_ref, table, table_ref in zip(X, X_ref, y, y_ref):
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(table["time"], table_ref["time"])
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_tree_official_split_names(tmp_path):
    games = make_soccernet_tree(
        tmp_path, 3, split="valid", n_features=2, minutes=0.5, random_state=0
    )
    assert games == soccernet_games("valid")[:3]
    X, y, meta = load_soccernet(tmp_path, games=games)
    assert meta["game"].tolist()[::2] == games


def test_tree_errors(tmp_path):
    with pytest.raises(ValueError, match="has only 50 games"):
        make_soccernet_tree(tmp_path, 51, split="challenge", n_features=2, minutes=0.1)
    with pytest.raises(ValueError, match="Unknown split"):
        make_soccernet_tree(tmp_path, 1, split="dev", n_features=2, minutes=0.1)
    with pytest.raises(ValueError, match="n_games must be >= 1"):
        make_soccernet_tree(tmp_path, 0, n_features=2, minutes=0.1)
    with pytest.raises(ValueError, match="features must be a non-empty file stem"):
        make_soccernet_tree(tmp_path, 1, features="", n_features=2, minutes=0.1)
