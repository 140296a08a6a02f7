"""Tests of the confidence and displacement losses (docs/method.md)."""

# Shape legend: b batch, t frames, c classes.

import pytest
import torch
import torch.nn.functional as F

from sk_spotting.nn import confidence_loss, displacement_loss

SHAPE = (2, 5, 3)


def _tensors(seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    target = torch.rand(SHAPE, generator=generator, dtype=torch.float64)
    weight = torch.rand(SHAPE, generator=generator, dtype=torch.float64)
    return logits, target, weight


def test_confidence_loss_matches_formula():
    logits, target, weight = _tensors()
    p = torch.sigmoid(logits)
    elementwise = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    per_chunk = (weight * elementwise).mean(dim=(1, 2))  # over t * c anchors
    expected = per_chunk.mean()  # then over the batch
    torch.testing.assert_close(confidence_loss(logits, target, weight), expected)


def test_confidence_loss_zero_weight_ignores_anchor():
    logits, target, weight = _tensors()
    weight[0, 1, 2] = 0.0
    changed = logits.clone()
    changed[0, 1, 2] = 100.0
    changed_target = target.clone()
    changed_target[0, 1, 2] = 0.0
    torch.testing.assert_close(
        confidence_loss(changed, changed_target, weight),
        confidence_loss(logits, target, weight),
    )
    assert confidence_loss(logits, target, torch.zeros(SHAPE)).item() == 0.0


def test_confidence_loss_broadcast_class_weight():
    logits, target, _ = _tensors()
    class_weight = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(
        confidence_loss(logits, target, class_weight),
        confidence_loss(logits, target, class_weight.expand(SHAPE)),
    )


def _huber_over_delta(e, delta):
    """Huber(delta)(e) / delta, written out."""
    e = e.abs()
    return torch.where(e <= delta, 0.5 * e**2 / delta, e - 0.5 * delta)


@pytest.mark.parametrize("radius", [12.0, 6.0])
def test_displacement_loss_matches_formula(radius):
    logits, target, weight = _tensors(1)
    displacement = radius * torch.tanh(logits)
    target = 3 * radius * (2 * target - 1)  # some beyond the radius: clipped
    e = (displacement - target.clamp(-radius, radius)) / radius
    expected = (weight * _huber_over_delta(e, 0.5)).mean(dim=(1, 2)).mean()
    loss = displacement_loss(displacement, target, weight, radius=radius)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    ("error", "expected"),
    [(0.0, 0.0), (0.25, 0.0625), (0.5, 0.25), (1.0, 0.75), (-1.0, 0.75)],
)
def test_huber_piecewise_values(error, expected):
    """Huber(0.5)/0.5 is e**2 for |e| <= 0.5 and |e| - 0.25 beyond."""
    radius = 12.0
    displacement = torch.tensor([[[error * radius]]], dtype=torch.float64)
    target = torch.zeros_like(displacement)
    weight = torch.ones_like(displacement)
    loss = displacement_loss(displacement, target, weight, radius=radius)
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_smooth_l1_equals_huber_over_delta():
    """Documents why smooth_l1(beta=delta) is used without dividing by delta."""
    e = torch.linspace(-2, 2, 81, dtype=torch.float64)
    zero = torch.zeros_like(e)
    for delta in (0.5, 0.3, 1.0):
        smooth = F.smooth_l1_loss(e, zero, beta=delta, reduction="none")
        huber = F.huber_loss(e, zero, delta=delta, reduction="none") / delta
        torch.testing.assert_close(smooth, huber)
        torch.testing.assert_close(smooth, _huber_over_delta(e, delta))


def test_displacement_loss_zero_weight_and_sentinel():
    radius = 12.0
    displacement = torch.tensor([[[3.0, -5.0]]])
    target = torch.tensor([[[3.0, 10.0 * radius]]])  # second: "no target"
    weight = torch.tensor([[[1.0, 0.0]]])
    assert displacement_loss(displacement, target, weight, radius=radius) == 0.0


def test_displacement_loss_custom_delta():
    displacement = torch.tensor([[[12.0]]])  # e = 1 at radius 12
    target = torch.zeros_like(displacement)
    weight = torch.full_like(displacement, 2.0)
    loss = displacement_loss(displacement, target, weight, radius=12.0, huber_delta=2.0)
    assert loss.item() == pytest.approx(2.0 * 1.0 / 4.0)  # e**2 / (2 delta)


def test_displacement_loss_validation():
    x = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="shapes differ"):
        displacement_loss(x, torch.zeros(1, 3, 2), x, radius=12.0)
    with pytest.raises(ValueError, match="radius"):
        displacement_loss(x, x, x, radius=0.0)
    with pytest.raises(ValueError, match="huber_delta"):
        displacement_loss(x, x, x, radius=12.0, huber_delta=0.0)


def test_losses_backpropagate():
    logits, target, weight = _tensors()
    logits.requires_grad_(True)
    confidence_loss(logits, target, weight).backward()
    assert torch.isfinite(logits.grad).all()
    displacement = logits.detach().clone().requires_grad_(True)
    displacement_loss(displacement, target, weight, radius=1.0).backward()
    assert torch.isfinite(displacement.grad).all()
