"""Every bad input of the data contract gets a clear error naming video and field."""

import numpy as np
import pandas as pd
import pytest

from sk_spotting.data import (
    check_events,
    check_frame_rate,
    check_videos,
    check_videos_and_events,
    dense_to_events,
    events_to_dense,
    time_to_frame,
)


def _events(times, labels):
    return pd.DataFrame({"time": times, "label": labels})


def test_videos_are_not_copied():
    video = np.zeros((5, 2), dtype=np.float32)
    assert check_videos([video])[0] is video


def test_memmap_kept_as_is(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.ones((7, 3), dtype=np.float32))
    video = np.load(path, mmap_mode="r")
    assert check_videos([video])[0] is video


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        ([], ValueError, "X is empty"),
        (np.zeros((4, 2)), TypeError, r"single 2-D array.*X=\[video\]"),
        ("abc", TypeError, "one entry per video"),
        ([np.zeros(4)], ValueError, r"X\[0\] \(video 0\) must be 2-D"),
        ([np.zeros((4, 2)), np.zeros((4, 3))], ValueError, r"X\[1\].*3 features"),
        (
            [np.zeros((4, 2)), np.array([[0.0, np.nan]])],
            ValueError,
            r"X\[1\].*non-finite.*frame 0, feature 1",
        ),
        ([np.array([[np.inf]])], ValueError, r"X\[0\].*non-finite"),
        ([np.array([["a"]])], TypeError, r"X\[0\].*dtype"),
        ([np.zeros((0, 2))], ValueError, r"X\[0\].*0 frames"),
    ],
)
def test_bad_videos(X, error, match):
    with pytest.raises(error, match=match):
        check_videos(X)


def test_feature_count_from_fit_is_named():
    with pytest.raises(ValueError, match="expected 3 as seen during fit"):
        check_videos([np.zeros((2, 4))], n_features=3)


@pytest.mark.parametrize(
    ("y", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "y is empty"),
        (_events([1.0], ["a"]), {}, TypeError, r"single DataFrame.*y=\[events\]"),
        ([{"time": 1}], {}, TypeError, r"y\[0\].*DataFrame"),
        ([pd.DataFrame({"time": [1.0]})], {}, ValueError, r"missing column.*label"),
        ([_events([-1.0], ["a"])], {}, ValueError, r"y\[0\].*negative time"),
        ([_events([np.nan], ["a"])], {}, ValueError, r"'time'.*non-finite"),
        ([_events(["x"], ["a"])], {}, TypeError, r"'time' must hold numbers"),
        ([_events([1.0], [3])], {}, TypeError, r"'label' must hold strings"),
        (
            [_events([1.0], ["a"]), _events([1.0], ["zz"])],
            {"classes": ["a"]},
            ValueError,
            r"y\[1\] \(video 1\).*unknown label.*zz",
        ),
        (
            [_events([1.0], ["a"])],
            {"n_videos": 2},
            ValueError,
            "1 entries but X has 2 videos",
        ),
        (
            [_events([5.5], ["a"])],
            {"durations": [5.0]},
            ValueError,
            r"beyond the end of the video \(5.0 s\)",
        ),
        (
            [_events([1.0], ["a"]).assign(visibility=["maybe"])],
            {},
            ValueError,
            "'visibility'",
        ),
        (
            [_events([1.0], ["a"])],
            {"require_confidence": True},
            ValueError,
            "confidence",
        ),
        (
            [_events([1.0], ["a"]).assign(confidence=[np.inf])],
            {},
            ValueError,
            r"'confidence'.*non-finite",
        ),
    ],
)
def test_bad_events(y, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_events(y, **kwargs)


def test_events_normalised_and_nothing_dropped():
    table = pd.DataFrame(
        {"time": [3, 1], "label": ["b", "a"], "extra": [1, 2]}, index=[10, 20]
    )
    (out,) = check_events([table])
    assert list(out.index) == [0, 1]
    assert out["time"].dtype == np.float64
    assert list(out["extra"]) == [1, 2] and len(out) == 2


def test_empty_table_allowed_for_a_video_without_events():
    empty = pd.DataFrame({"time": [], "label": []})
    assert len(check_events([empty])[0]) == 0


@pytest.mark.parametrize("rate", [0, -2.0, np.nan, "2"])
def test_bad_frame_rate(rate):
    with pytest.raises((ValueError, TypeError), match="frame_rate"):
        check_frame_rate(rate)


def test_videos_and_events_mismatched_lengths():
    with pytest.raises(ValueError, match="2 entries but X has 1 videos"):
        check_videos_and_events(
            [np.zeros((4, 2))], [_events([], []), _events([], [])], frame_rate=2.0
        )


def test_time_at_the_very_end_is_on_the_last_frame():
    videos, events = check_videos_and_events(
        [np.zeros((4, 2))], [_events([2.0], ["a"])], frame_rate=2.0
    )
    dense = events_to_dense(events[0], n_frames=4, classes=["a"], frame_rate=2.0)
    assert dense[:, 0].tolist() == [False, False, False, True]


def test_time_to_frame_matches_devkit_milliseconds_rule():
    ms = np.arange(0, 200_000, 7)
    frames = time_to_frame(ms / 1000.0, 2.0)
    np.testing.assert_array_equal(frames, (2 * ms) // 1000)


def test_dense_round_trip():
    rng = np.random.default_rng(0)
    scores = np.where(rng.random((30, 3)) < 0.2, rng.random((30, 3)), -1.0)
    events = dense_to_events(scores, classes=["a", "b", "c"], frame_rate=2.0)
    assert len(events) == int((scores >= 0).sum())
    dense = events_to_dense(events, n_frames=30, classes=["a", "b", "c"], frame_rate=2)
    np.testing.assert_array_equal(dense, scores >= 0)
    with pytest.raises(ValueError, match="unknown label"):
        events_to_dense(events, n_frames=30, classes=["a"], frame_rate=2.0)


def _beyond_end_error(times, n_frames=5400, frame_rate=2.0):
    y = [_events(list(times), ["a"] * len(times))]
    with pytest.raises(ValueError, match="beyond the end of the video") as info:
        check_videos_and_events([np.zeros((n_frames, 2))], y, frame_rate=frame_rate)
    return str(info.value)


def test_times_in_milliseconds_are_named():
    message = _beyond_end_error([1_000.0, 1_320_000.0, 2_650_000.0])
    assert "look like milliseconds" in message and "give seconds" in message
    assert "frame_rate" not in message


def test_a_wrong_frame_rate_is_suggested():
    # 45 minutes of 2 fps features read as 25 fps: 216 s long
    message = _beyond_end_error([100.0, 2600.0], frame_rate=25.0)
    assert "frame_rate may be wrong" in message and "milliseconds" not in message


def test_an_event_just_past_the_end_gets_no_hint():
    message = _beyond_end_error([10.0, 2701.0])
    assert message.endswith("beyond the end of the video (2700.0 s).")


def test_a_single_2d_array_points_to_lists_and_per_frame():
    with pytest.raises(TypeError, match=r"X=\[video\].*preprocessing\.PerFrame"):
        check_videos(np.zeros((10, 3)))
