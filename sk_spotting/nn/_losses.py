"""Training losses of the two dense heads (docs/method.md, Losses).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450), resolved
against the authors' reference code: weighted sigmoid binary cross-entropy for
the confidence head and a weighted Huber loss on the radius-normalised
displacement for the displacement head. Both are averaged over all ``t * c``
anchors of a chunk and then over the batch; since every chunk has the same
``t * c``, that is the plain mean over all elements.
"""

# Shape legend: b batch, t frames, c classes.

import torch
import torch.nn.functional as F

__all__ = ["confidence_loss", "displacement_loss"]


def confidence_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Weighted sigmoid binary cross-entropy, averaged over anchors and batch.

    ``mean(weight * BCEWithLogits(logits, target))`` over ``b * t * c``
    elements. Targets may be soft (in ``[0, 1]``, e.g. after mixup). Not focal.

    Parameters
    ----------
    logits : torch.Tensor of shape (b, t, c)
        Confidence logits.
    target : torch.Tensor of shape (b, t, c)
        Targets in ``[0, 1]``.
    weight : torch.Tensor broadcastable to (b, t, c)
        Per-anchor loss weights (0 where an anchor must not count).

    Returns
    -------
    loss : torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import confidence_loss
    >>> logits = torch.zeros(1, 2, 1)
    >>> target = torch.tensor([[[1.0], [0.0]]])
    >>> weight = torch.tensor([[[1.0], [0.0]]])
    >>> round(confidence_loss(logits, target, weight).item(), 4)  # log(2) / 2
    0.3466
    """
    return F.binary_cross_entropy_with_logits(
        logits, target, weight=weight, reduction="mean"
    )


def displacement_loss(
    displacement: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    *,
    radius: float,
    huber_delta: float = 0.5,
) -> torch.Tensor:
    """Weighted Huber loss on radius-normalised displacements.

    With ``e = (displacement - clip(target, -radius, radius)) / radius``, the
    per-anchor loss is ``Huber_delta(e) / delta``: ``e**2 / (2 delta)`` for
    ``|e| <= delta`` and ``|e| - delta / 2`` otherwise. At the default
    ``delta = 0.5`` that is ``e**2`` and ``|e| - 0.25``. It equals
    :func:`torch.nn.functional.smooth_l1_loss` with ``beta=delta`` exactly (no
    further division by delta), which is what is used. The loss is multiplied
    by ``weight`` and averaged over all ``b * t * c`` elements.

    Parameters
    ----------
    displacement : torch.Tensor of shape (b, t, c)
        Predicted displacements in frames.
    target : torch.Tensor of shape (b, t, c)
        Target displacements in frames (action frame minus anchor frame); it
        is clipped to ``[-radius, radius]``, so a large finite sentinel may
        mark anchors without a target (give them weight 0).
    weight : torch.Tensor broadcastable to (b, t, c)
        Per-anchor loss weights (0 outside the displacement radius).
    radius : float
        Displacement radius in frames (``rd * fps``).
    huber_delta : float, default=0.5
        Huber threshold in normalised units (0.5 is 3 s at ``rd = 6 s``).

    Returns
    -------
    loss : torch.Tensor
        Scalar.

    Raises
    ------
    ValueError
        If the shapes of ``displacement`` and ``target`` differ, or ``radius``
        or ``huber_delta`` is not positive.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import displacement_loss
    >>> displacement = torch.zeros(1, 2, 1)
    >>> target = torch.tensor([[[6.0], [50.0]]])  # e = 0.5, then clipped e = 1
    >>> weight = torch.ones(1, 2, 1)
    >>> displacement_loss(displacement, target, weight, radius=12.0).item()
    0.5
    """
    if displacement.shape != target.shape:
        raise ValueError(
            f"displacement and target shapes differ: {tuple(displacement.shape)} "
            f"!= {tuple(target.shape)}."
        )
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}.")
    if not huber_delta > 0:
        raise ValueError(f"huber_delta must be positive, got {huber_delta!r}.")
    scale = 1.0 / radius
    loss = F.smooth_l1_loss(
        displacement * scale,
        target.clamp(-radius, radius) * scale,
        reduction="none",
        beta=huber_delta,
    )
    return (loss * weight).mean()
