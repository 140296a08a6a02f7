"""Dense prediction heads (docs/method.md, Networks).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450). Each head is a
single ``Conv1d(kernel 3, 'same')`` from the trunk output to one value per
class and frame.
"""

# Shape legend: b batch, t frames, c classes, d features (channels).
# Heads take and return channels-first tensors: (b, d, t) -> (b, c, t).

import torch
from torch import nn

from ._init import glorot_

__all__ = ["ConfidenceHead", "DisplacementHead"]


class ConfidenceHead(nn.Module):
    """Per-class confidence logits ``(b, d, t) -> (b, c, t)``.

    Outputs raw logits; apply a sigmoid at inference. The kernel is
    glorot-uniform and the bias starts at 0.

    Parameters
    ----------
    n_features_in : int
        Input channels d.
    n_classes : int
        Number of classes c.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import ConfidenceHead
    >>> head = ConfidenceHead(n_features_in=64, n_classes=17)
    >>> tuple(head(torch.zeros(2, 64, 9)).shape)
    (2, 17, 9)
    """

    def __init__(self, *, n_features_in: int, n_classes: int):
        super().__init__()
        self.conv = glorot_(nn.Conv1d(n_features_in, n_classes, 3, padding=1))

    def forward(self, x):
        """Confidence logits of every anchor.

        Parameters
        ----------
        x : torch.Tensor of shape (b, n_features_in, t)
            Trunk features, channels first.

        Returns
        -------
        logits : torch.Tensor of shape (b, n_classes, t)
        """
        return self.conv(x)


class DisplacementHead(nn.Module):
    """Per-class displacement in frames ``(b, d, t) -> (b, c, t)``.

    The output is ``radius * tanh(conv(x))``: the signed number of frames from
    each anchor to the nearest action of each class, bounded by the
    displacement radius. The kernel is glorot-uniform (not zero-initialised)
    and the bias starts at 0.

    Parameters
    ----------
    n_features_in : int
        Input channels d.
    n_classes : int
        Number of classes c.
    radius : float
        Displacement radius R in frames (``rd * fps``, 12 at 2 fps).

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import DisplacementHead
    >>> head = DisplacementHead(n_features_in=64, n_classes=17, radius=12.0)
    >>> out = head(100 * torch.randn(2, 64, 9))
    >>> tuple(out.shape), bool(out.abs().max() <= 12.0)
    ((2, 17, 9), True)
    """

    def __init__(self, *, n_features_in: int, n_classes: int, radius: float):
        super().__init__()
        radius = float(radius)
        if not radius > 0.0 or radius == float("inf"):
            raise ValueError(f"radius must be a positive finite float, got {radius}.")
        self.radius = radius
        self.conv = glorot_(nn.Conv1d(n_features_in, n_classes, 3, padding=1))

    def forward(self, x):
        """Displacements in frames of every anchor, in ``[-radius, radius]``.

        Parameters
        ----------
        x : torch.Tensor of shape (b, n_features_in, t)
            Trunk features, channels first.

        Returns
        -------
        displacement : torch.Tensor of shape (b, n_classes, t)
        """
        return torch.tanh(self.conv(x)) * self.radius

    def extra_repr(self) -> str:
        return f"radius={self.radius}"
