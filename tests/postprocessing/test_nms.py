import math

import numpy as np
import pytest

from sk_spotting.postprocessing import (
    NMS_METHODS,
    _nms,
    hard_nms,
    nms,
    soft_nms,
    window_frames,
)


def reference_hard_nms(scores, window):
    """The greedy loop of docs/method.md, one class and one peak at a time."""
    remaining = np.array(scores, dtype=np.float64)
    n_frames, n_classes = remaining.shape
    windows = np.broadcast_to(np.asarray(window, dtype=np.float64), (n_classes,))
    out = np.full((n_frames, n_classes), -1.0)
    for k in range(n_classes):
        half_width = int(math.floor(windows[k] / 2))
        while n_frames:
            peak = int(np.argmax(remaining[:, k]))
            if remaining[peak, k] < 0:
                break
            out[peak, k] = remaining[peak, k]
            remaining[max(0, peak - half_width) : peak + half_width + 1, k] = -1
    return out


def reference_soft_nms(scores, window, min_score=1e-5):
    """The greedy linear soft-NMS loop of docs/method.md, one peak at a time."""
    remaining = np.array(scores, copy=True)
    n_frames, n_classes = remaining.shape
    windows = np.broadcast_to(np.asarray(window, dtype=np.float64), (n_classes,))
    out = np.full((n_frames, n_classes), -1, dtype=remaining.dtype)
    for k in range(n_classes):
        radius = windows[k]  # the window expanded twofold, halved
        reach = math.ceil(radius)
        while n_frames:
            peak = int(np.argmax(remaining[:, k]))
            if remaining[peak, k] < min_score:
                break
            out[peak, k] = remaining[peak, k]
            lo, hi = max(0, peak - reach), min(n_frames, peak + reach + 1)
            distance = np.abs(np.arange(lo, hi) - peak)
            remaining[lo:hi, k] *= np.clip(distance / radius, 0.0, 1.0)
            remaining[peak, k] = -1
    return out


def random_scores(rng, dtype=np.float64):
    """Scores with many ties, exact zeros and some negatives."""
    n_frames, n_classes = int(rng.integers(1, 120)), int(rng.integers(1, 5))
    kind = rng.integers(3)
    if kind == 0:  # few levels: ties and plateaus
        scores = rng.integers(-1, 4, (n_frames, n_classes)) / 3
    elif kind == 1:  # continuous, sparse
        scores = rng.random((n_frames, n_classes)) * (rng.random((n_frames, 1)) < 0.3)
    else:  # smooth, long monotone runs
        frames = np.arange(n_frames)[:, None]
        scores = np.sin(frames / rng.uniform(2, 30) + np.arange(n_classes)) ** 2
    return scores.astype(dtype), n_classes


def random_window(rng, n_classes):
    if rng.random() < 0.5:
        return float(rng.choice([0.5, 1, 2, 3, 4.5, 7, 10, 40, 500]))
    return rng.choice([0.5, 1, 2, 3, 5.5, 8, 13], n_classes).tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hard_nms_matches_greedy_reference(dtype):
    rng = np.random.default_rng(0)
    for _ in range(300):
        scores, n_classes = random_scores(rng, dtype)
        window = random_window(rng, n_classes)
        result = hard_nms(scores, window)
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, reference_hard_nms(scores, window))


@pytest.mark.parametrize("sparse_fraction", [0.0, 1e9])
def test_hard_nms_dense_and_sparse_rounds(monkeypatch, sparse_fraction):
    # 0.0: every round dense; 1e9: sparse rounds from the second round on.
    monkeypatch.setattr(_nms, "_SPARSE_FRACTION", sparse_fraction)
    rng = np.random.default_rng(1)
    for _ in range(200):
        scores, n_classes = random_scores(rng)
        window = random_window(rng, n_classes)
        np.testing.assert_array_equal(
            hard_nms(scores, window), reference_hard_nms(scores, window)
        )


@pytest.mark.parametrize("window", [1, 2, 7, 40])
def test_hard_nms_long_plateaus_and_monotone_runs(window):
    n_frames = 600
    scores = np.stack(
        [
            np.zeros(n_frames),
            np.linspace(1, 0, n_frames),
            np.linspace(0, 1, n_frames),
            np.where(np.arange(n_frames) % 97 == 0, 0.5, 0.0),
        ],
        axis=1,
    ).astype(np.float32)
    np.testing.assert_array_equal(
        hard_nms(scores, window), reference_hard_nms(scores, window)
    )


def test_hard_nms_no_threshold_and_window_semantics():
    scores = np.zeros((10, 1))
    # A 4-frame window suppresses +-2 frames: peaks every 3 frames, 0.0 kept.
    np.testing.assert_array_equal(
        hard_nms(scores, 4)[:, 0], [0, -1, -1, 0, -1, -1, 0, -1, -1, 0]
    )
    # Odd widths round down: 5 frames is also +-2.
    np.testing.assert_array_equal(hard_nms(scores, 5), hard_nms(scores, 4))
    # Below 2 frames nothing but the peak itself is suppressed.
    np.testing.assert_array_equal(hard_nms(scores, 1.5), scores)


def test_hard_nms_negative_cells_are_never_detections():
    scores = np.array([[-0.5], [-1.0], [-0.2]])
    np.testing.assert_array_equal(hard_nms(scores, 2), -np.ones((3, 1)))


def test_hard_nms_tie_goes_to_earliest_frame():
    scores = np.array([[0.3], [0.7], [0.7], [0.7], [0.3]])
    np.testing.assert_array_equal(hard_nms(scores, 2)[:, 0], [-1, 0.7, -1, 0.7, -1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_nms_matches_greedy_reference(dtype):
    rng = np.random.default_rng(2)
    for _ in range(200):
        scores, n_classes = random_scores(rng, dtype)
        window = random_window(rng, n_classes)
        result = soft_nms(scores, window)
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, reference_soft_nms(scores, window))


def test_soft_nms_min_score():
    rng = np.random.default_rng(3)
    scores = rng.random((200, 3))
    for min_score in (0.0, 0.1, 0.5, 2.0):
        result = soft_nms(scores, 6, min_score=min_score)
        np.testing.assert_array_equal(
            result, reference_soft_nms(scores, 6, min_score=min_score)
        )
        kept = result[result != -1]
        assert np.all(kept >= min_score)


def test_soft_nms_linear_decay():
    scores = np.array([[0.0], [0.0], [1.0], [0.8], [0.8], [0.8], [0.0]])
    # Radius 4 frames: neighbours at 1, 2 and 3 frames keep 1/4, 2/4 and 3/4,
    # 4 frames away nothing changes.  Peak 1.0 at 2 leaves 0.2, 0.4, 0.6, 0.0
    # at 3..6; peak 0.6 at 5 leaves 0.1 at 3 (x 2/4) and 0.1 at 4 (x 1/4); the
    # tie goes to 3, leaving 0.025 at 4; 0.0 is below min_score.
    np.testing.assert_allclose(
        soft_nms(scores, 4)[:, 0], [-1, -1, 1.0, 0.1, 0.025, 0.6, -1], rtol=1e-12
    )


def test_nms_dispatch():
    rng = np.random.default_rng(4)
    scores = rng.random((50, 2))
    np.testing.assert_array_equal(nms(scores, 6), hard_nms(scores, 6))
    np.testing.assert_array_equal(nms(scores, 6, method="soft"), soft_nms(scores, 6))
    np.testing.assert_array_equal(
        nms(scores, 6, method="soft", min_score=0.3),
        soft_nms(scores, 6, min_score=0.3),
    )
    assert NMS_METHODS == ("hard", "soft")


@pytest.mark.parametrize("function", [hard_nms, soft_nms])
def test_empty_and_single_frame(function):
    assert function(np.zeros((0, 3)), 4).shape == (0, 3)
    np.testing.assert_array_equal(function(np.array([[0.5, 0.0]]), 4)[0, 0], 0.5)


@pytest.mark.parametrize("method", NMS_METHODS)
def test_invalid_arguments(method):
    scores = np.zeros((5, 2))
    with pytest.raises(ValueError, match="method"):
        nms(scores, 4, method="gaussian")
    for window in (0, -2, np.inf, np.nan, [1, 2, 3], [], [[1, 2]]):
        with pytest.raises(ValueError, match="window"):
            nms(scores, window, method=method)
    with pytest.raises(TypeError, match="window"):
        nms(scores, "wide", method=method)
    with pytest.raises(ValueError, match="2-D"):
        nms(np.zeros(5), 4, method=method)
    with pytest.raises(ValueError, match="NaN"):
        nms(np.full((5, 2), np.nan), 4, method=method)
    with pytest.raises(TypeError, match="numeric"):
        nms(np.full((5, 2), "a"), 4, method=method)


def test_soft_nms_invalid_min_score():
    for min_score in (-0.1, np.nan, "0.1"):
        with pytest.raises(ValueError, match="min_score"):
            soft_nms(np.zeros((5, 2)), 4, min_score=min_score)


def test_window_frames():
    assert window_frames(20, 2) == 40.0
    assert isinstance(window_frames(20, 2), float)
    np.testing.assert_array_equal(window_frames([3, 4.5], 2.0), [6.0, 9.0])
    # floor(W / 2) of the unrounded width is the reference fallback 2*int(W*f/2).
    for seconds, frame_rate in [(3.0, 2.5), (20, 1), (7, 2), (1.3, 2)]:
        half_width = math.floor(window_frames(seconds, frame_rate) / 2)
        assert 2 * half_width == 2 * int(seconds * frame_rate / 2)
    with pytest.raises(ValueError, match="frame_rate"):
        window_frames(20, 0)
    with pytest.raises(TypeError, match="frame_rate"):
        window_frames(20, "2")
    with pytest.raises(ValueError, match="window_seconds"):
        window_frames(-1, 2)
