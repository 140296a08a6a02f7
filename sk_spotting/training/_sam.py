"""Sharpness-Aware Minimization, the non-adaptive variant (docs/method.md, Training).

Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
Generalization", ICLR 2021.  As in the reference implementation of the dense
anchor spotter: the perturbation ``e = rho * g / (||g|| + 1e-12)`` uses the
global gradient norm over all parameters, the second pass uses the same batch,
and the base optimizer steps from the unperturbed weights with the gradient
taken at the perturbed ones.
"""

from __future__ import annotations

import torch

__all__ = ["perturb_weights", "restore_weights"]

SAM_EPSILON = 1e-12


@torch.no_grad()
def perturb_weights(params, rho):
    """Move ``params`` uphill by ``rho`` along their normalised gradient.

    Parameters
    ----------
    params : list of torch.nn.Parameter
        Parameters whose ``.grad`` holds the gradient at the current weights.
    rho : float
        Radius of the neighbourhood (SAM's rho), > 0.

    Returns
    -------
    perturbation : list of torch.Tensor
        What was added to each parameter; pass it to :func:`restore_weights`.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import perturb_weights, restore_weights
    >>> w = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    >>> w.grad = torch.tensor([3.0, 4.0])
    >>> e = perturb_weights([w], rho=0.5)
    >>> w.data
    tensor([1.3000, 1.4000])
    >>> restore_weights([w], e); w.data
    tensor([1., 1.])
    """
    params = [p for p in params if p.grad is not None]
    grads = [p.grad for p in params]
    norms = torch._foreach_norm(grads)
    scale = rho / (torch.linalg.vector_norm(torch.stack(norms)) + SAM_EPSILON)
    perturbation = torch._foreach_mul(grads, scale)
    torch._foreach_add_(params, perturbation)
    return perturbation


@torch.no_grad()
def restore_weights(params, perturbation):
    """Undo :func:`perturb_weights`.

    Parameters
    ----------
    params : list of torch.nn.Parameter
        The parameters given to :func:`perturb_weights`.
    perturbation : list of torch.Tensor
        Its return value.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import restore_weights
    >>> w = torch.nn.Parameter(torch.ones(2)); w.grad = torch.ones(2)
    >>> restore_weights([w], [torch.ones(2)]); w.data
    tensor([0., 0.])
    """
    params = [p for p in params if p.grad is not None]
    torch._foreach_sub_(params, perturbation)
