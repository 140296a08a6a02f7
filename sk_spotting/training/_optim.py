"""AdamW with Keras's placement of epsilon (docs/method.md, Training).

The reference trains with TensorFlow Addons' ``AdamW``, which is Keras's Adam
plus a decoupled weight decay.  Keras and PyTorch compute the same Adam moments
but put epsilon in different places.  At step ``t`` (from 1), Keras updates

    w <- w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

while PyTorch updates

    w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

Both are equal when PyTorch's epsilon at step ``t`` is
``eps / sqrt(1 - b2^t)``: 31.6 times the nominal value at step 1, 1.26 times at
step 1,000.  :class:`KerasAdamW` sets that epsilon before every step, so it
runs PyTorch's own (fused or multi-tensor) AdamW kernels with the reference's
update.  The weight decay is PyTorch's (``w <- w - lr * weight_decay * w``,
applied before the Adam step, as TensorFlow Addons does).
"""

from __future__ import annotations

import math

import torch

__all__ = ["KerasAdamW"]


class KerasAdamW(torch.optim.AdamW):
    """:class:`torch.optim.AdamW` with epsilon added as Keras's Adam adds it.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups, as for :class:`torch.optim.AdamW`.
    lr : float, default=1e-3
        Learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        Moment decay rates ``(b1, b2)``.
    eps : float, default=1e-7
        Keras's epsilon (its default), added to ``sqrt(v)`` before the bias
        correction of the step size.
    weight_decay : float, default=0.0
        PyTorch's decoupled weight decay (multiplied by the learning rate).
    **kwargs
        Other :class:`torch.optim.AdamW` options (``foreach``, ``fused``).

    Notes
    -----
    Each parameter group keeps the nominal epsilon in ``"keras_eps"`` and its
    step count in ``"keras_step"``; ``"eps"`` is the PyTorch epsilon of the
    coming step.  Both are saved by ``state_dict``, so a resumed optimizer
    continues the sequence.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import KerasAdamW
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> optimizer = KerasAdamW([w], lr=0.1)
    >>> w.grad = torch.tensor([1e-6])
    >>> optimizer.step()
    >>> # Keras: 0.1 * 0.0316 * 1e-6 / (0.0316 * 1e-6 + 1e-7)
    >>> round(float(w.detach()), 6)
    -0.024025
    """

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0, **kwargs
    ):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, **kwargs
        )

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("keras_eps", group["eps"])
        group.setdefault("keras_step", 0)

    @torch.no_grad()
    def step(self, closure=None):
        """Set each group's epsilon for the coming step, then take it.

        Parameters
        ----------
        closure : callable, default=None
            Re-evaluates the model and returns the loss, as for
            :meth:`torch.optim.AdamW.step`.

        Returns
        -------
        loss : torch.Tensor or None
            What ``closure`` returned.
        """
        for group in self.param_groups:
            group["keras_step"] += 1
            beta2 = group["betas"][1]
            group["eps"] = group["keras_eps"] / math.sqrt(
                1.0 - beta2 ** group["keras_step"]
            )
        return super().step(closure)
