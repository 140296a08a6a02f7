"""Confidence/displacement targets and class weights against brute force."""

import numpy as np
import pytest

from sk_spotting.targets import (
    confidence_class_weights,
    confidence_targets,
    displacement_class_weights,
    displacement_targets,
)


def _random_labels(seed, n_frames=200, n_classes=3, p=0.03):
    rng = np.random.default_rng(seed)
    return rng.random((n_frames, n_classes)) < p


def _brute_force(labels, radius):
    n_frames, n_classes = labels.shape
    confidence = np.zeros(labels.shape, dtype=bool)
    displacement = np.zeros(labels.shape, dtype=np.float32)
    mask = np.zeros(labels.shape, dtype=bool)
    h = int(np.floor(radius))
    for k in range(n_classes):
        actions = np.flatnonzero(labels[:, k])
        for t in range(n_frames):
            near = [s for s in actions if abs(s - t) <= h]
            confidence[t, k] = bool(near)
            if near:
                # nearest; on a tie the earlier action (visited first) wins
                best = min(near, key=lambda s: (abs(s - t), s))
                displacement[t, k] = best - t
                mask[t, k] = True
    return confidence, displacement, mask


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("radius", [0.0, 2.5, 6.0, 12.0])
def test_targets_match_brute_force(seed, radius):
    labels = _random_labels(seed)
    confidence, displacement, mask = _brute_force(labels, radius)
    np.testing.assert_array_equal(confidence_targets(labels, radius), confidence)
    got_displacement, got_mask = displacement_targets(labels, radius)
    np.testing.assert_array_equal(got_mask, mask)
    np.testing.assert_array_equal(got_displacement, displacement)


def test_tie_goes_to_the_earlier_action():
    labels = np.zeros((5, 1), dtype=bool)
    labels[[0, 4], 0] = True
    displacement, _ = displacement_targets(labels, radius=6)
    assert displacement[2, 0] == -2


def test_thirteen_positive_frames_at_two_fps():
    labels = np.zeros((100, 1), dtype=bool)
    labels[50] = True
    assert confidence_targets(labels, 3.0 * 2.0).sum() == 13
    assert displacement_targets(labels, 6.0 * 2.0)[1].sum() == 25


def test_confidence_weights_give_positive_mass_share():
    targets = [confidence_targets(_random_labels(s), 6.0) for s in range(3)]
    positive, negative = confidence_class_weights(targets, positive_weight=0.03)
    stacked = np.concatenate(targets)
    n = stacked.shape[0]
    mass_pos = positive * stacked.sum(0)
    mass_neg = negative * (n - stacked.sum(0))
    np.testing.assert_allclose(mass_pos / (mass_pos + mass_neg), 0.03, rtol=1e-5)
    np.testing.assert_allclose(mass_pos + mass_neg, n, rtol=1e-5)


def test_weights_of_a_class_without_positives():
    targets = [np.zeros((10, 2), dtype=bool)]
    targets[0][3, 0] = True
    positive, negative = confidence_class_weights(targets)
    assert positive[1] == 0 and negative[1] == pytest.approx(0.97)
    assert displacement_class_weights(targets)[1] == 0
    with pytest.raises(ValueError, match="positive_weight"):
        confidence_class_weights(targets, positive_weight=1.5)


def test_negative_radius_rejected():
    with pytest.raises(ValueError, match="radius"):
        confidence_targets(np.zeros((3, 1), bool), -1)
    with pytest.raises(ValueError, match="radius"):
        displacement_targets(np.zeros((3, 1), bool), np.nan)


def test_displacement_weights_balanced_or_alike_carry_the_same_mass():
    masks = [displacement_targets(_random_labels(s, p=0.01), 12.0)[1] for s in range(3)]
    masks[0][:, 2] = False  # make class 2 rarer than the others
    masks[1][:, 2] = False
    counts = np.concatenate(masks).sum(0)
    n = sum(m.shape[0] for m in masks)
    balanced = displacement_class_weights(masks)
    alike = displacement_class_weights(masks, class_weight=None)
    # balanced: every class carries N; alike: one weight, same total
    np.testing.assert_allclose(balanced * counts, n, rtol=1e-5)
    assert np.all(alike == alike[0])
    np.testing.assert_allclose((alike * counts).sum(), (balanced * counts).sum())
    assert balanced[2] > balanced[0]  # the rarer class weighs more per anchor


def test_displacement_weights_alike_skip_classes_without_anchors():
    masks = [np.zeros((10, 3), dtype=bool)]
    masks[0][2:5, 0] = True
    masks[0][6, 2] = True
    weights = displacement_class_weights(masks, class_weight=None)
    assert weights[1] == 0
    assert weights[0] == weights[2] == pytest.approx(2 * 10 / 4)
    with pytest.raises(ValueError, match="class_weight"):
        displacement_class_weights(masks, class_weight="inverse")


def test_auto_displacement_weighting_follows_the_rarest_class_per_batch():
    from sk_spotting.targets import displacement_weighting

    labels = [np.zeros((54_000, 3), bool)]
    labels[0][::100, 0] = True  # 540 actions
    labels[0][::1000, 1] = True  # 54 actions
    labels[0][27_000, 2] = True  # 1 action: 1 / 54,000 per frame
    # 0.05 actions of the rarest class per batch: 2,700 frames
    weighting, per_batch = displacement_weighting(labels, batch_frames=2_700)
    assert weighting == "balanced"
    np.testing.assert_allclose(per_batch, [27.0, 2.7, 0.05])
    assert displacement_weighting(labels, batch_frames=2_699)[0] is None
    # a class without actions does not count
    labels[0][:, 2] = False
    assert displacement_weighting(labels, batch_frames=270)[0] == "balanced"
