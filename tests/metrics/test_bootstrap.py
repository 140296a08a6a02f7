"""bootstrap_average_map: exact resample scores, interval coverage, errors."""

import numpy as np
import pandas as pd
import pytest

from sk_spotting.metrics import (
    BootstrapResult,
    _bootstrap,
    average_map_score,
    bootstrap_average_map,
)

from .conftest import SOCCERNET_V2_CLASSES
from .test_spotting import random_tree

CLASSES = SOCCERNET_V2_CLASSES[:5]  # the last ones rarely or never happen


def several_trees(seeds):
    """Videos of several random trees (labels unshown, duplicates, negative
    and > 1 confidences, classes without labels)."""
    y_true, y_pred = [], []
    for seed in seeds:
        truth, predictions, _ = random_tree(seed)
        y_true += truth
        y_pred += predictions
    return y_true, y_pred


def explicit_resamples(y_true, y_pred, groups, n_resamples, seed, **options):
    """Details of average_map_score on each resample, drawn as documented:
    resample k draws RandomState(seed).randint(n_groups, size=n_groups), groups
    numbered in order of first appearance, a drawn group's videos in order."""
    codes, ids = pd.factorize(np.asarray(groups, dtype=object))
    members = [np.flatnonzero(codes == g) for g in range(len(ids))]
    rng = np.random.RandomState(seed)
    results = []
    for _ in range(n_resamples):
        videos = [v for g in rng.randint(len(ids), size=len(ids)) for v in members[g]]
        results.append(
            average_map_score(
                [y_true[v] for v in videos],
                [y_pred[v] for v in videos],
                return_details=True,
                **options,
            )
        )
    return results


@pytest.mark.parametrize(
    "tolerances, seeds, chunk",
    [("loose", range(3), 2**22), ("tight", range(3, 7), 2000), ([3.0], range(7, 9), 1)],
)
def test_each_resample_scores_exactly_the_metric_on_it(
    monkeypatch, tolerances, seeds, chunk
):
    # small chunks of resamples must not change the draws or the scores
    monkeypatch.setattr(_bootstrap, "_CHUNK_ELEMENTS", chunk)
    y_true, y_pred = several_trees(seeds)
    # game ids in no particular order; the two halves of a game together
    games = [f"game {(7 * (v // 2)) % 5}-{v // 2}" for v in range(len(y_true))]
    options = {"tolerances": tolerances, "classes": CLASSES}
    result = bootstrap_average_map(
        y_true, y_pred, groups=games, n_resamples=9, random_state=3, **options
    )
    expected = explicit_resamples(y_true, y_pred, games, 9, 3, **options)
    want = np.array([e.average_map for e in expected])
    assert np.array_equal(result.scores, want)  # to the last bit
    per_class = np.array([e.average_ap_per_class for e in expected])
    quantiles = [(1 - 0.95) / 2, (1 + 0.95) / 2]  # as documented
    np.testing.assert_array_equal(
        result.per_class[["low", "high"]].to_numpy(),
        np.quantile(per_class, quantiles, axis=0).T,
    )
    assert (result.low, result.high) == tuple(np.quantile(want, quantiles))
    assert len(set(want)) > 1  # the resamples do differ


def test_each_video_is_its_own_group_by_default():
    y_true, y_pred = several_trees(range(9, 12))
    result = bootstrap_average_map(
        y_true, y_pred, n_resamples=6, random_state=0, classes=CLASSES
    )
    expected = explicit_resamples(
        y_true, y_pred, range(len(y_true)), 6, 0, classes=CLASSES
    )
    assert np.array_equal(result.scores, [e.average_map for e in expected])
    assert result.n_groups == len(y_true)


def test_point_estimate_and_table_are_the_metric():
    y_true, y_pred = several_trees(range(2))
    details = average_map_score(
        y_true, y_pred, classes=CLASSES, tolerances="tight", return_details=True
    )
    result = bootstrap_average_map(
        y_true,
        y_pred,
        groups=np.arange(len(y_true)) // 2,
        n_resamples=50,
        confidence_level=0.8,
        random_state=1,
        classes=CLASSES,
        tolerances="tight",
    )
    assert isinstance(result, BootstrapResult)
    assert result.score == details.average_map
    assert list(result.per_class.index) == list(CLASSES)
    assert np.array_equal(result.per_class["average_ap"], details.average_ap_per_class)
    assert (result.per_class["low"] <= result.per_class["high"]).all()
    assert result.scores.shape == (50,)
    assert result.low == np.quantile(result.scores, (1 - 0.8) / 2)
    assert result.high == np.quantile(result.scores, (1 + 0.8) / 2)
    assert (result.confidence_level, result.n_resamples) == (0.8, 50)
    assert result.n_groups == len(y_true) // 2
    # drawing every group once is the test set itself
    tables = _bootstrap._count_tables(
        _bootstrap._read_events(y_true, "y_true", require_confidence=False),
        _bootstrap._read_events(y_pred, "y_pred", require_confidence=True),
        details.tolerances,
        details.classes,
        np.arange(len(y_true)),
        len(y_true),
    )
    average_map, per_class = _bootstrap._resample_scores(
        tables, np.ones((1, len(y_true)))
    )
    assert average_map[0] == details.average_map
    assert np.array_equal(per_class[0], details.average_ap_per_class)


def test_a_class_missing_from_a_resample_scores_ap_zero():
    # "Card" happens in video 0 only: resamples without it give Card AP 0, as
    # average_map_score gives a class without labels, and count it in the mean
    y_true = [pd.DataFrame({"time": [10.0, 20.0], "label": ["Goal", "Card"]})] + [
        pd.DataFrame({"time": [10.0], "label": ["Goal"]})
    ] * 3
    y_pred = [
        pd.DataFrame(
            {"time": [10.0, 20.0], "label": ["Goal", "Card"], "confidence": 1.0}
        )
    ] + [pd.DataFrame({"time": [10.0], "label": ["Goal"], "confidence": 1.0})] * 3
    result = bootstrap_average_map(y_true, y_pred, n_resamples=100, random_state=0)
    assert result.per_class.loc["Card"].tolist() == [1.0, 0.0, 1.0]
    assert result.per_class.loc["Goal"].tolist() == [1.0, 1.0, 1.0]
    assert set(result.scores) == {0.5, 1.0}


def test_random_state_makes_runs_identical():
    y_true, y_pred = several_trees(range(2))
    runs = [
        bootstrap_average_map(y_true, y_pred, n_resamples=30, random_state=seed)
        for seed in (5, 5, 6)
    ]
    assert np.array_equal(runs[0].scores, runs[1].scores)
    assert not np.array_equal(runs[0].scores, runs[2].scores)


# --- coverage -------------------------------------------------------------------


def simulated_games(rng, n_games, halves_per_video=1):
    """Halves of 10 min from a known process: each game has a skill (the share
    of actions found) shared by its two halves, so halves of a game are alike.

    ``halves_per_video`` > 1 lays consecutive halves end to end in one video,
    15 s apart (farther than any window of 5 s or less reaches): the same counts, hence
    the same average-mAP, in fewer tables.
    """
    n_halves = 2 * n_games
    skill = np.repeat(rng.uniform(0.2, 0.9, n_games), 2)
    n_labels = rng.poisson(5, n_halves)
    half = np.repeat(np.arange(n_halves), n_labels)
    times = rng.uniform(0, 600, len(half))
    labels = rng.choice(["A", "B"], len(half), p=[0.7, 0.3])
    found = rng.random(len(half)) < skill[half]
    n_false = rng.poisson(3, n_halves)
    false_half = np.repeat(np.arange(n_halves), n_false)
    truth = pd.DataFrame({"half": half, "time": times, "label": labels})
    predictions = pd.DataFrame(
        {
            "half": np.concatenate([half[found], false_half]),
            "time": np.concatenate(
                [
                    times[found] + rng.normal(0, 0.7, found.sum()),
                    rng.uniform(0, 600, len(false_half)),
                ]
            ).clip(0, 600),
            "label": np.concatenate(
                [labels[found], rng.choice(["A", "B"], len(false_half))]
            ),
            "confidence": np.concatenate(
                [
                    rng.uniform(0.3, 1.0, found.sum()),
                    rng.uniform(0, 0.8, len(false_half)),
                ]
            ),
        }
    )
    tables = []
    for events in (truth, predictions):
        events["video"] = events["half"] // halves_per_video
        events["time"] += 615.0 * (events["half"] % halves_per_video)
        events = events.sort_values("video", kind="stable")
        n_videos = -(-n_halves // halves_per_video)
        bounds = np.searchsorted(events["video"], np.arange(n_videos + 1))
        events = events[["time", "label"] + ["confidence"] * ("confidence" in events)]
        tables.append(
            [
                events.iloc[start:stop].reset_index(drop=True)
                for start, stop in zip(bounds[:-1], bounds[1:])
            ]
        )
    return tables


def test_intervals_cover_the_population_score():
    options = {"tolerances": [2.0, 4.0], "classes": ["A", "B"]}
    # the population average-mAP, from a very large sample of games
    population = average_map_score(
        *simulated_games(np.random.default_rng(12345), 5000, halves_per_video=10),
        **options,
    )
    rng = np.random.default_rng(0)
    n_repeats, n_games = 60, 15
    covered = {0.95: 0, 0.5: 0}
    widths = {"games": [], "halves": []}
    for repeat in range(n_repeats):
        y_true, y_pred = simulated_games(rng, n_games)
        games = np.repeat(np.arange(n_games), 2)
        result = bootstrap_average_map(
            y_true,
            y_pred,
            groups=games,
            n_resamples=200,
            random_state=repeat,
            **options,
        )
        for level in covered:
            low, high = np.quantile(result.scores, [(1 - level) / 2, (1 + level) / 2])
            covered[level] += low <= population <= high
        widths["games"].append(result.high - result.low)
        halves = bootstrap_average_map(
            y_true, y_pred, n_resamples=200, random_state=repeat, **options
        )
        widths["halves"].append(halves.high - halves.low)
    # nominal 95 % and 50 %; 60 repeats give a binomial sd of 2.8 and 6.5 points
    assert 0.85 <= covered[0.95] / n_repeats < 1.0, covered
    assert 0.3 <= covered[0.5] / n_repeats <= 0.7, covered
    # halves of a game are alike: resampling them apart understates the spread
    assert np.mean(widths["halves"]) < 0.95 * np.mean(widths["games"]), widths


# --- errors ---------------------------------------------------------------------


@pytest.fixture
def two_videos():
    y_true = [pd.DataFrame({"time": [10.0], "label": ["Goal"]})] * 2
    y_pred = [pd.DataFrame({"time": [11.0], "label": ["Goal"], "confidence": [0.5]})]
    return y_true, y_pred * 2


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"n_resamples": 0}, ValueError, "n_resamples must be an integer >= 1"),
        ({"n_resamples": 10.0}, ValueError, "n_resamples"),
        ({"confidence_level": 1.0}, ValueError, r"confidence_level .* \(0, 1\)"),
        ({"confidence_level": "0.9"}, ValueError, "confidence_level"),
        ({"groups": ["a"]}, ValueError, r"one game id per video: got shape \(1,\)"),
        ({"groups": ["a", None]}, ValueError, r"groups\[1\] \(video 1\) is missing"),
        ({"groups": "ab"}, TypeError, "array-like of one game id per video"),
        ({"groups": ["a", "a"]}, ValueError, "at least 2 groups.*got 1"),
        (
            {"return_details": True},
            TypeError,
            r"metric option\(s\) \['return_details'\]",
        ),
        ({"tolerances": "medium"}, ValueError, "tolerances"),
    ],
)
def test_bad_arguments_are_clear_errors(two_videos, options, error, match):
    with pytest.raises(error, match=match):
        bootstrap_average_map(*two_videos, **options)


def test_bad_tables_are_the_metric_errors(two_videos):
    y_true, y_pred = two_videos
    with pytest.raises(ValueError, match="y_pred has 1 entries but y_true has 2"):
        bootstrap_average_map(y_true, y_pred[:1])
    with pytest.raises(ValueError, match=r"y_true\[0\] \(video 0\)"):
        bootstrap_average_map(y_true, y_pred, classes=["Goal", "Card"][1:])


def test_dropped_unknown_labels_are_dropped_in_every_resample():
    y_true, y_pred = several_trees(range(2))
    typo = [p.assign(label=p["label"].where(p.index % 5 != 0, "Dunk")) for p in y_pred]
    games = [v // 2 for v in range(len(y_true))]
    options = {"tolerances": "tight", "classes": CLASSES}
    with pytest.raises(ValueError, match="Dunk"):
        bootstrap_average_map(y_true, typo, groups=games, **options)
    with pytest.warns(UserWarning, match="dropped") as record:
        result = bootstrap_average_map(
            y_true,
            typo,
            groups=games,
            n_resamples=5,
            random_state=1,
            unknown_labels="drop",
            **options,
        )
        expected = explicit_resamples(
            y_true, typo, games, 5, 1, unknown_labels="drop", **options
        )
    assert len([w for w in record if "Dunk" in str(w.message)]) >= 1
    assert np.array_equal(result.scores, [e.average_map for e in expected])
