"""Weight initialisers shared by the network modules (docs/method.md, Networks).

The reference implementation is written in Keras, so every kernel uses
``glorot_uniform`` and every bias starts at zero; the transformer trunk uses a
truncated normal (std 0.02, cut at two standard deviations) for some layers.
"""

import math

import torch
from torch import nn

__all__ = ["glorot_", "keras_first_layer_", "truncated_normal_"]

_TRUNCATED_STD = 0.02


@torch.no_grad()
def glorot_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weight and zero bias, in place; returns ``module``."""
    nn.init.xavier_uniform_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


@torch.no_grad()
def keras_first_layer_(linear: nn.Linear) -> nn.Linear:
    """Keras fans of a ``Conv2D`` with kernel ``(1, P)`` on a 1-channel image.

    Keras computes ``fan_in = P`` and ``fan_out = P * out``, so the glorot limit
    is ``sqrt(6 / (P * (1 + out)))`` (docs/method.md, Networks).
    """
    n_out, n_in = linear.weight.shape
    limit = math.sqrt(6.0 / (n_in * (1 + n_out)))
    nn.init.uniform_(linear.weight, -limit, limit)
    nn.init.zeros_(linear.bias)
    return linear


@torch.no_grad()
def truncated_normal_(tensor: torch.Tensor) -> torch.Tensor:
    """Keras ``TruncatedNormal(stddev=0.02)``: normal cut at +-2 std, in place."""
    limit = 2.0 * _TRUNCATED_STD
    return nn.init.trunc_normal_(tensor, std=_TRUNCATED_STD, a=-limit, b=limit)
