"""average_map_score against the official SoccerNet devkit, and its contract."""

import numpy as np
import pandas as pd
import pytest

from sk_spotting.data import check_events
from sk_spotting.metrics import (
    LOOSE_TOLERANCES,
    TIGHT_TOLERANCES,
    SpottingEvaluation,
    _spotting,
    average_map_score,
)

from .conftest import SOCCERNET_V2_CLASSES

DEVKIT_FIELDS = [
    ("a_mAP", "average_map"),
    ("a_mAP_per_class", "average_ap_per_class"),
    ("a_mAP_visible", "average_map_visible"),
    ("a_mAP_per_class_visible", "average_ap_per_class_visible"),
    ("a_mAP_unshown", "average_map_unshown"),
    ("a_mAP_per_class_unshown", "average_ap_per_class_unshown"),
]


def assert_same_as_devkit(devkit_score, y_true, y_pred, classes, tolerances):
    """Every devkit number within 1e-9 and, in fact, bit-identical."""
    expected = devkit_score(y_true, y_pred, classes, tolerances)
    result = average_map_score(
        y_true, y_pred, tolerances=tolerances, classes=classes, return_details=True
    )
    for key, field in DEVKIT_FIELDS:
        want = np.asarray(expected[key], dtype=float)
        got = np.asarray(getattr(result, field), dtype=float)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=field)
        assert np.array_equal(got, want), f"{field} not bit-identical"
    return result


def events(times, labels, visibility=None):
    table = pd.DataFrame({"time": np.asarray(times, float), "label": list(labels)})
    if visibility is not None:
        table["visibility"] = list(visibility)
    return table


def detections(times, labels, confidence):
    table = events(times, labels)
    table["confidence"] = np.asarray(confidence, float)
    return table


def random_tree(seed):
    """A few halves with labels (some unshown) and predictions near and far
    from them, with frame duplicates and confidences outside [0, 1]."""
    rng = np.random.default_rng(seed)
    classes = list(SOCCERNET_V2_CLASSES[: rng.integers(2, 5)])
    duration = rng.choice([120.0, 900.0, 2700.0])
    y_true, y_pred = [], []
    for _ in range(2 * rng.integers(1, 3)):
        n = int(rng.integers(0, 30))
        times = np.round(rng.uniform(0, duration, n), rng.integers(0, 3))
        labels = rng.choice(classes, n)
        visibility = rng.choice(["visible", "not shown"], n, p=[0.75, 0.25])
        y_true.append(events(times, labels, visibility))
        m = int(rng.integers(0, 120))
        near = (rng.random(m) < 0.6) & (n > 0)
        anchor = rng.integers(0, max(n, 1), m)
        centre = np.where(near, times[anchor % max(n, 1)] if n else 0.0, 0.0)
        pred_times = np.where(
            near,
            np.clip(centre + rng.normal(0, 4, m), 0, None),
            rng.uniform(0, duration, m),
        )
        pred_times = np.round(pred_times, rng.integers(0, 3))  # frame duplicates
        pred_labels = np.where(near, labels[anchor % max(n, 1)] if n else "", "")
        pred_labels = np.where(near, pred_labels, rng.choice(classes, m))
        confidence = np.round(rng.uniform(-0.1, 1.1, m), rng.integers(1, 4))
        y_pred.append(detections(pred_times, pred_labels, confidence))
    return y_true, y_pred, classes


# --- agreement with the devkit ------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_random_trees_match_devkit(devkit_score, seed):
    y_true, y_pred, classes = random_tree(seed)
    for tolerances in ("loose", "tight"):
        assert_same_as_devkit(devkit_score, y_true, y_pred, classes, tolerances)


def test_all_soccernet_classes_match_devkit(devkit_score):
    """The official setting (loose, 17 classes), most classes without labels."""
    y_true, y_pred, _ = random_tree(123)
    result = assert_same_as_devkit(
        devkit_score, y_true, y_pred, SOCCERNET_V2_CLASSES, "loose"
    )
    assert result.ap_per_class.shape == (12, 17)


@pytest.mark.parametrize(
    "tolerances", [[5.0], [0.5, 2.5, 3.0], [1.0, 100.0, 20000.0], [3.7]]
)
def test_custom_tolerances_match_devkit(devkit_score, tolerances):
    y_true, y_pred, classes = random_tree(7)
    assert_same_as_devkit(devkit_score, y_true, y_pred, classes, tolerances)


def test_ties_go_to_the_earliest_frame(devkit_score):
    # two labels 2 s apart share three equally confident detections
    y_true = [events([10.0, 12.0], ["Goal", "Goal"])]
    y_pred = [detections([9.0, 11.0, 13.0], ["Goal"] * 3, [0.5, 0.5, 0.5])]
    y_pred[0].loc[3] = [11.5, "Goal", 0.9]
    for tolerances in ("tight", [3.0], [5.0]):
        assert_same_as_devkit(devkit_score, y_true, y_pred, ["Goal"], tolerances)


def test_window_edge_is_inclusive(devkit_score):
    """A 5 s tolerance reaches +-2.5 s (5 frames): 2.5 s matches, 3 s does not."""
    y_true = [events([100.0, 300.0], ["Goal", "Goal"])]
    y_pred = [detections([102.5, 303.0], ["Goal", "Goal"], [0.9, 0.8])]
    result = assert_same_as_devkit(devkit_score, y_true, y_pred, ["Goal"], [5.0])
    # one of two labels found; precision 1 up to recall 0.5: 6 of 11 levels
    assert result.average_map == 6 / 11
    result = assert_same_as_devkit(devkit_score, y_true, y_pred, ["Goal"], [6.0])
    assert result.average_map == 1.0


def test_empty_predictions_score_zero(devkit_score):
    y_true = [events([10.0], ["Goal"]), events([], [])]
    y_pred = [detections([], [], []), detections([], [], [])]
    result = assert_same_as_devkit(devkit_score, y_true, y_pred, ["Goal"], "loose")
    assert result.average_map == 0.0


def test_classes_without_ground_truth_count_zero(devkit_score):
    y_true = [events([10.0, 50.0], ["Goal", "Goal"]), events([], [])]
    y_pred = [
        detections([10.0, 50.0], ["Goal", "Goal"], [0.9, 0.8]),
        detections([20.0], ["Corner"], [0.9]),
    ]
    classes = ["Goal", "Corner", "Penalty"]
    result = assert_same_as_devkit(devkit_score, y_true, y_pred, classes, "tight")
    np.testing.assert_array_equal(result.average_ap_per_class, [1.0, 0.0, 0.0])
    assert result.average_map == pytest.approx(1 / 3, abs=1e-15)


def test_duplicates_last_one_wins(devkit_score):
    """Same frame and class: the last row wins, a negative confidence erases,
    and the last label decides the visibility."""
    y_true = [
        events([10.0, 10.2, 40.0], ["Goal"] * 3, ["visible", "not shown", "visible"]),
        events([5.0, 5.0], ["Corner", "Corner"], ["not shown", "visible"]),
    ]
    y_pred = [
        detections([10.0, 10.4, 40.0, 40.3], ["Goal"] * 4, [0.9, 0.1, 0.8, -0.5]),
        detections([5.0, 5.1, 5.2], ["Corner"] * 3, [0.2, 0.7, 0.3]),
    ]
    classes = ["Goal", "Corner"]
    for tolerances in ("tight", "loose", [1.0]):
        assert_same_as_devkit(devkit_score, y_true, y_pred, classes, tolerances)


def test_confidences_outside_unit_interval(devkit_score):
    y_true = [events([10.0, 30.0, 60.0], ["Goal", "Goal", "Corner"])]
    y_pred = [
        detections(
            [10.0, 30.0, 31.0, 60.0, 90.0],
            ["Goal", "Goal", "Goal", "Corner", "Corner"],
            [1.5, -0.01, 0.0, 1e6, -3.0],
        )
    ]
    for tolerances in ("tight", "loose"):
        assert_same_as_devkit(
            devkit_score, y_true, y_pred, ["Goal", "Corner"], tolerances
        )


def test_halves_longer_than_two_hours(devkit_score):
    """Everything after 2 hours lands on frame 14399, labels and predictions."""
    y_true = [events([7199.5, 7300.0, 8000.0], ["Goal", "Goal", "Corner"])]
    y_pred = [
        detections(
            [7199.0, 7250.0, 9000.0, 7500.0],
            ["Goal", "Goal", "Corner", "Corner"],
            [0.4, 0.6, 0.9, 0.3],
        )
    ]
    for tolerances in ("tight", "loose"):
        assert_same_as_devkit(
            devkit_score, y_true, y_pred, ["Goal", "Corner"], tolerances
        )


def test_unshown_regions_and_unlabelled_classes(devkit_score):
    """Detections count in the variant of their closest label; a video without
    labels of a class counts as unshown."""
    y_true = [
        events([10.0, 30.0], ["Goal", "Goal"], ["visible", "not shown"]),
        events([100.0], ["Corner"], ["visible"]),
    ]
    y_pred = [
        detections([10.0, 19.0, 20.0, 31.0], ["Goal"] * 4, [0.9, 0.3, 0.4, 0.8]),
        detections([100.0, 50.0], ["Goal", "Corner"], [0.7, 0.6]),
    ]
    for tolerances in ("tight", "loose", [60.0]):
        assert_same_as_devkit(
            devkit_score, y_true, y_pred, ["Goal", "Corner"], tolerances
        )


def test_positions_written_round_trip():
    """Times become the JSON's integer milliseconds, round(1000 * time), and
    frames follow the devkit's int(2 * (ms / 1000)) for every millisecond."""
    ms = np.arange(0, 7_200_000 + 5000)
    devkit_frames = np.minimum(np.trunc(2 * (ms / 1000)).astype(np.int64), 14399)
    np.testing.assert_array_equal(_spotting._time_to_frame(ms / 1000), devkit_frames)
    rng = np.random.default_rng(0)
    times = np.r_[rng.uniform(0, 9000, 5000), np.arange(0, 10, 0.0005)]
    written = np.array([int(str(round(1000 * t))) for t in times])
    expected = np.minimum(written * 2 // 1000, 14399)
    np.testing.assert_array_equal(_spotting._time_to_frame(times), expected)


def test_threshold_bins_equal_searchsorted():
    thresholds = np.linspace(0, 1, 200)
    rng = np.random.default_rng(0)
    scores = np.concatenate(
        [
            thresholds,
            np.nextafter(thresholds, -1)[1:],
            np.nextafter(thresholds, 2),
            rng.random(100_000),
            [0.0, 1.0, 1.5, 1e300, 5e-324],
        ]
    )
    np.testing.assert_array_equal(
        _spotting._threshold_bins(scores),
        np.searchsorted(thresholds, scores, side="right"),
    )


def naive_greedy_match(label_frames, detection_frames, scores, radius):
    """Straightforward reading of the devkit's rule, one video and class."""
    taken = set()
    for label in sorted(label_frames):
        best = None
        for i in np.argsort(detection_frames, kind="stable"):
            in_window = abs(detection_frames[i] - label) <= radius
            if (
                in_window
                and i not in taken
                and (best is None or scores[i] > scores[best])
            ):
                best = i
        if best is not None:
            taken.add(best)
    return taken


@pytest.mark.parametrize("seed", range(30))
def test_cluster_rounds_equal_sequential_greedy(seed):
    """Crowded windows, many clusters, several groups and tolerances at once."""
    rng = np.random.default_rng(seed)
    n_groups, radii = 3, np.array([0, 1, 3, 8, 40])
    label_keys, detection_keys, scores = [], [], []
    for group in range(n_groups):
        label_keys.append(group * 14400 + rng.choice(200, rng.integers(0, 30), False))
        frames = rng.choice(200, rng.integers(0, 80), replace=False)
        detection_keys.append(group * 14400 + frames)
        scores.append(np.round(rng.random(len(frames)), 1))
    label_keys = np.sort(np.concatenate(label_keys))
    order = np.argsort(np.concatenate(detection_keys))
    detection_keys = np.concatenate(detection_keys)[order]
    scores = np.concatenate(scores)[order]
    tolerance, detection = _spotting._greedy_match(
        label_keys, detection_keys, scores, radii
    )
    for t, radius in enumerate(radii):
        got = set(detection[tolerance == t].tolist())
        want = set()
        for group in range(n_groups):
            in_group = np.flatnonzero(detection_keys // 14400 == group)
            labels = label_keys[label_keys // 14400 == group] % 14400
            found = naive_greedy_match(
                labels, detection_keys[in_group] % 14400, scores[in_group], radius
            )
            want |= {int(in_group[i]) for i in found}
        assert got == want


# --- the result and its invariances -------------------------------------------


def test_perfect_predictions_score_one():
    y_true = [events([10.0, 70.0], ["Goal", "Corner"]), events([5.0], ["Goal"])]
    y_pred = [
        detections([10.0, 70.0], ["Goal", "Corner"], [0.9, 0.8]),
        detections([5.0], ["Goal"], [0.7]),
    ]
    for tolerances in ("loose", "tight", [0.5]):
        assert average_map_score(y_true, y_pred, tolerances=tolerances) == 1.0


def test_details_layout_and_scaling():
    y_true, y_pred, classes = random_tree(3)
    result = average_map_score(
        y_true, y_pred, tolerances="tight", classes=classes, return_details=True
    )
    assert isinstance(result, SpottingEvaluation)
    assert result.classes == tuple(classes)
    np.testing.assert_array_equal(result.tolerances, TIGHT_TOLERANCES)
    assert result.ap_per_class.shape == (5, len(classes))
    assert result.average_map == average_map_score(
        y_true, y_pred, tolerances="tight", classes=classes
    )
    unscaled = _spotting._average_over_tolerances(result.map_per_tolerance_unshown)
    assert result.average_map_unshown == unscaled * 17 / 13
    table = result.to_frame()
    assert list(table.index) == list(classes)
    single = average_map_score(
        y_true, y_pred, tolerances=[2.0], classes=classes, return_details=True
    )
    assert single.average_map_unshown == single.map_per_tolerance_unshown[0]


def test_default_classes_are_the_sorted_labels_of_the_truth():
    y_true, y_pred, classes = random_tree(4)
    seen = sorted(set().union(*[set(t["label"]) for t in y_true]))
    assert set().union(*[set(t["label"]) for t in y_pred]) <= set(seen)
    got = average_map_score(y_true, y_pred, return_details=True)
    assert got.classes == tuple(seen)
    assert got.average_map == average_map_score(y_true, y_pred, classes=seen)


def test_video_order_does_not_matter():
    y_true, y_pred, classes = random_tree(5)
    order = np.random.default_rng(0).permutation(len(y_true))
    shuffled = average_map_score(
        [y_true[i] for i in order], [y_pred[i] for i in order], classes=classes
    )
    assert shuffled == average_map_score(y_true, y_pred, classes=classes)


def test_named_tolerances():
    assert LOOSE_TOLERANCES == tuple(np.arange(12) * 5.0 + 5)
    assert TIGHT_TOLERANCES == (1.0, 2.0, 3.0, 4.0, 5.0)


# --- input validation -----------------------------------------------------------


@pytest.mark.parametrize(
    "tolerances", ["medium", [], [0.0], [-1.0], [np.nan], 5.0, [True], [[1.0]]]
)
def test_invalid_tolerances(tolerances):
    y = [events([1.0], ["Goal"])]
    with pytest.raises(ValueError, match="tolerances"):
        average_map_score(
            y, [detections([1.0], ["Goal"], [1.0])], tolerances=tolerances
        )


def test_invalid_classes():
    y_true, y_pred = [events([1.0], ["Goal"])], [detections([1.0], ["Goal"], [1.0])]
    with pytest.raises(ValueError, match="duplicated"):
        average_map_score(y_true, y_pred, classes=["Goal", "Goal"])
    with pytest.raises(TypeError, match="classes"):
        average_map_score(y_true, y_pred, classes="Goal")
    with pytest.raises(ValueError, match="no event"):
        average_map_score([events([], [])], [detections([], [], [])])


def test_unknown_label_names_video_and_field():
    y_true = [events([1.0], ["Goal"]), events([2.0], ["Goal"])]
    y_pred = [detections([1.0], ["Goal"], [1.0]), detections([3.0], ["Foul"], [0.5])]
    with pytest.raises(
        ValueError, match=r"y_pred\[1\] \(video 1\): column 'label'.*Foul"
    ):
        average_map_score(y_true, y_pred, classes=["Goal"])
    with pytest.raises(ValueError, match=r"y_true\[0\] \(video 0\).*'Goal'"):
        average_map_score(y_true, y_pred[:1] * 2, classes=["Foul"])


@pytest.mark.parametrize("unknown", ["Goal ", "Dunk"])
def test_a_misspelled_prediction_cannot_add_a_class(unknown):
    """The ground truth defines the classes: an unknown predicted label is an
    error naming video and label, not an 18th class lowering the score."""
    y_true, y_pred, classes = random_tree(3)
    assert len(y_pred[1]) > 1
    y_pred[1].loc[1, "label"] = unknown
    for given in (None, classes):
        with pytest.raises(ValueError, match=r"y_pred\[1\] \(video 1\).*" + unknown):
            average_map_score(y_true, y_pred, classes=given)


@pytest.mark.parametrize("classes", [None, SOCCERNET_V2_CLASSES])
def test_dropped_unknown_labels_score_as_the_devkit_skipping_them(
    devkit_score, classes
):
    y_true, y_pred, _ = random_tree(11)
    n_rows = [len(t) for t in y_pred]
    for table in y_pred[:2]:
        table.loc[::3, "label"] = "Dunk"
    n_dunks = sum(int((t["label"] == "Dunk").sum()) for t in y_pred)
    assert n_dunks > 1
    if classes is None:  # the devkit needs the classes: those of the truth
        classes = sorted({label for table in y_true for label in table["label"]})
    expected = devkit_score(y_true, y_pred, classes, "loose")
    with pytest.warns(UserWarning, match=rf"^{n_dunks} prediction\(s\).*'Dunk'"):
        result = average_map_score(
            y_true, y_pred, classes=classes, unknown_labels="drop", return_details=True
        )
    assert result.average_map == expected["a_mAP"]
    np.testing.assert_array_equal(
        result.average_ap_per_class, expected["a_mAP_per_class"]
    )
    assert [len(t) for t in y_pred] == n_rows  # the inputs are left alone


def test_truth_labels_define_the_classes():
    y_true = [events([1.0], ["Goal"])]
    y_pred = [detections([1.0], ["Goal"], [0.9])]
    assert average_map_score(y_true, y_pred, return_details=True).classes == ("Goal",)
    with pytest.raises(ValueError, match="y_true holds no event"):
        average_map_score([events([], [])], y_pred)
    with pytest.raises(ValueError, match="unknown_labels must be"):
        average_map_score(y_true, y_pred, unknown_labels="skip")
    # truth labels outside given classes raise even when predictions may drop
    with pytest.raises(ValueError, match=r"y_true\[0\].*'Goal'"):
        average_map_score(y_true, y_pred, classes=["Foul"], unknown_labels="drop")


def test_video_counts_must_agree():
    y = [events([1.0], ["Goal"])]
    with pytest.raises(ValueError, match="y_pred has 2 entries but y_true has 1"):
        average_map_score(y, [detections([], [], [])] * 2)


def _bad_inputs():
    good_true = events([1.0], ["Goal"])
    good_pred = detections([1.0], ["Goal"], [0.5])
    no_confidence = events([1.0], ["Goal"])
    nan_confidence = detections([1.0], ["Goal"], [np.nan])
    bool_confidence = good_pred.assign(confidence=[True])
    negative_time = detections([-1.0], ["Goal"], [0.5])
    text_time = good_pred.assign(time=["1.0"])
    number_label = detections([1.0], [3], [0.5])
    missing_label = good_pred.assign(label=[None])
    bad_visibility = events([1.0], ["Goal"], ["hidden"])
    return [
        ("y_pred", [good_true], [no_confidence]),
        ("y_pred", [good_true], [nan_confidence]),
        ("y_pred", [good_true], [bool_confidence]),
        ("y_pred", [good_true], [negative_time]),
        ("y_pred", [good_true], [text_time]),
        ("y_pred", [good_true], [number_label]),
        ("y_pred", [good_true], [missing_label]),
        ("y_pred", [good_true], good_pred),
        ("y_true", [bad_visibility], [good_pred]),
        ("y_true", [nan_confidence], [good_pred]),
        ("y_true", [], []),
        ("y_true", [good_true.to_numpy()], [good_pred]),
    ]


@pytest.mark.parametrize("name, y_true, y_pred", _bad_inputs())
def test_contract_errors_are_those_of_check_events(name, y_true, y_pred):
    """Whatever breaks the data contract raises check_events' own error."""
    bad, require = (y_pred, True) if name == "y_pred" else (y_true, False)
    with pytest.raises((TypeError, ValueError)) as expected:
        check_events(bad, require_confidence=require, name=name)
    with pytest.raises(expected.type) as got:
        average_map_score(y_true, y_pred)
    assert str(got.value) == str(expected.value)
