"""Batch mixup of features, confidence targets and loss weights (docs/method.md).

Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018.  Each
example ``i`` draws its own ``lam_i ~ Beta(alpha, alpha)`` and is mixed with a
partner from a random permutation of the batch (possibly itself); features,
targets and per-anchor loss weights are mixed with the same ``lam_i``.
"""

from __future__ import annotations

import torch

__all__ = ["mixup_batch"]


def mixup_batch(x, target, weight, *, alpha):
    """Mix a batch with a permutation of itself.

    Parameters
    ----------
    x : torch.Tensor of shape (b, t, d)
        Features.
    target : torch.Tensor of shape (b, t, c)
        Confidence targets (soft targets are fine).
    weight : torch.Tensor of shape (b, t, c)
        Per-anchor loss weights.
    alpha : float
        Parameter of the Beta distribution, > 0.

    Returns
    -------
    x, target, weight : torch.Tensor
        The mixed batch, same shapes.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import mixup_batch
    >>> _ = torch.manual_seed(0)
    >>> x = torch.stack([torch.zeros(2, 1), torch.ones(2, 1)])
    >>> mixed, _, _ = mixup_batch(x, x, x, alpha=1.0)
    >>> bool(((mixed >= 0) & (mixed <= 1)).all())
    True
    """
    n = x.shape[0]
    concentration = torch.full((n,), float(alpha), device=x.device)
    lam = torch.distributions.Beta(concentration, concentration).sample()
    partner = torch.randperm(n, device=x.device)
    lam = lam.view(n, 1, 1)

    def mix(tensor):
        return (
            lam.to(tensor.dtype) * tensor + (1 - lam.to(tensor.dtype)) * tensor[partner]
        )

    return mix(x), mix(target), mix(weight)
