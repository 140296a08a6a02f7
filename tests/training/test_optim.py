"""KerasAdamW against an independent Keras/TensorFlow-Addons AdamW update."""

import math

import numpy as np
import pytest
import torch

from sk_spotting.training import KerasAdamW


def keras_adamw(w, gradients, *, lr, decay, eps=1e-7, beta1=0.9, beta2=0.999):
    """TensorFlow Addons' AdamW as Keras writes it, in float64 NumPy.

    Per step t: ``w -= decay * w`` (decoupled, unscaled), then
    ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    """
    w = np.array(w, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        w = w - decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        lr_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        w = w - lr_t * m / (np.sqrt(v) + eps)
    return w


def run_torch(optimizer_class, w0, gradients, **options):
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    optimizer = optimizer_class([w], **options)
    for g in gradients:
        w.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return w.detach().numpy(), optimizer


@pytest.fixture
def gradients():
    rng = np.random.default_rng(0)
    # magnitudes from 1e-9 to 1: the small ones are where epsilon matters
    scale = 10.0 ** rng.uniform(-9, 0, size=(60, 32))
    return list(rng.normal(size=(60, 32)) * scale)


@pytest.mark.parametrize("foreach", [False, True])
def test_keras_adamw_matches_the_keras_update(gradients, foreach):
    w0 = np.linspace(-1, 1, 32)
    lr, decay = 1e-3, 2e-4
    expected = keras_adamw(w0, gradients, lr=lr, decay=decay)
    got, _ = run_torch(
        KerasAdamW, w0, gradients, lr=lr, weight_decay=decay / lr, foreach=foreach
    )
    # equal up to float64 rounding (1e-15); torch's own placement is 1e-5 off
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)


def test_torch_epsilon_placement_would_differ(gradients):
    """The test above can fail: PyTorch's own AdamW lands elsewhere."""
    w0 = np.linspace(-1, 1, 32)
    expected = keras_adamw(w0, gradients, lr=1e-3, decay=0.0)
    plain, _ = run_torch(
        torch.optim.AdamW, w0, gradients, lr=1e-3, eps=1e-7, weight_decay=0.0
    )
    assert np.abs(plain - expected).max() > 1e-5


def test_resumed_optimizer_continues_the_epsilon_sequence(gradients):
    w0 = np.linspace(-1, 1, 32)
    straight, _ = run_torch(KerasAdamW, w0, gradients, lr=1e-3)
    half, optimizer = run_torch(KerasAdamW, w0, gradients[:30], lr=1e-3)
    w = torch.nn.Parameter(torch.tensor(half))
    resumed = KerasAdamW([w], lr=1e-3)
    resumed.load_state_dict(optimizer.state_dict())
    for g in gradients[30:]:
        w.grad = torch.tensor(g)
        resumed.step()
    np.testing.assert_array_equal(w.detach().numpy(), straight)
    assert resumed.param_groups[0]["keras_step"] == len(gradients)


def test_epsilon_of_the_first_step_is_scaled():
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer = KerasAdamW([w], lr=1e-3, eps=1e-7)
    w.grad = torch.ones(1)
    optimizer.step()
    assert optimizer.param_groups[0]["eps"] == pytest.approx(1e-7 / math.sqrt(1e-3))
