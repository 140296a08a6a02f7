import numpy as np
import pytest

from sk_spotting.postprocessing import apply_displacement


def reference_apply_displacement(confidence, displacement):
    """Anchor-by-anchor loop, the plain reading of docs/method.md, Inference."""
    n_frames, n_classes = confidence.shape
    scores = np.zeros((n_frames, n_classes))
    for frame in range(n_frames):
        for k in range(n_classes):
            destination = frame + int(np.rint(displacement[frame, k]))
            destination = min(max(destination, 0), n_frames - 1)
            scores[destination, k] = max(scores[destination, k], confidence[frame, k])
    return scores


@pytest.mark.parametrize("seed", range(20))
def test_matches_reference_loop(seed):
    rng = np.random.default_rng(seed)
    n_frames, n_classes = int(rng.integers(1, 50)), int(rng.integers(1, 5))
    confidence = rng.random((n_frames, n_classes))
    # Half-integers exercise round-half-to-even; the range exercises clipping.
    displacement = rng.integers(-20, 21, (n_frames, n_classes)) / 2
    expected = reference_apply_displacement(confidence, displacement)
    np.testing.assert_array_equal(
        apply_displacement(confidence, displacement), expected
    )


def test_rounds_half_to_even_and_clips():
    confidence = np.ones((6, 1))
    displacement = np.array([[-0.5], [0.5], [1.5], [-2.5], [100.0], [-100.0]])
    scores = apply_displacement(confidence * np.arange(1, 7)[:, None], displacement)
    # destinations: 0, 1, 4, 1, clipped 5, clipped 0
    np.testing.assert_array_equal(scores[:, 0], [6, 4, 0, 0, 3, 5])


def test_zero_displacement_is_identity_and_empty_cells_are_zero():
    rng = np.random.default_rng(0)
    confidence = rng.random((30, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        apply_displacement(confidence, np.zeros_like(confidence)), confidence
    )
    everything_to_frame_2 = 2.0 - np.arange(30)[:, None] * np.ones((1, 3))
    scores = apply_displacement(confidence, everything_to_frame_2)
    np.testing.assert_array_equal(scores[2], confidence.max(axis=0))
    assert np.count_nonzero(np.delete(scores, 2, axis=0)) == 0


def test_dtype():
    confidence = np.full((4, 2), 0.5, dtype=np.float32)
    assert apply_displacement(confidence, np.zeros((4, 2))).dtype == np.float32
    assert apply_displacement(
        confidence.astype(np.float64), np.zeros((4, 2))
    ).dtype == (np.float64)


def test_empty_video():
    assert apply_displacement(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 3)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="2-D"):
        apply_displacement(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="shape of confidence"):
        apply_displacement(np.zeros((5, 2)), np.zeros((5, 3)))
    displacement = np.zeros((5, 2))
    displacement[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        apply_displacement(np.zeros((5, 2)), displacement)
