"""Per-frame input MLP (docs/method.md, Networks).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450). The layer
sizes follow the authors' reference code: an extra ``Linear(P -> 512) + ReLU``
projection when ``P > 512``, then ``-> 256 -> 64``, each followed by a ReLU.
"""

# Shape legend: b batch, t frames, d features.

from torch import nn

from ._init import glorot_, keras_first_layer_

__all__ = ["InputMLP"]


class InputMLP(nn.Module):
    """Per-frame MLP that reduces ``n_features`` inputs to ``n_features_out``.

    Applied to every frame independently (a kernel of width 1 in time). The
    first layer uses the reference code's Keras initialisation quirk, a glorot
    limit of ``sqrt(6 / (P * (1 + out)))``; all other layers use plain glorot.
    All biases start at zero.

    Parameters
    ----------
    n_features : int
        Input feature size P.
    n_projected : int, default=512
        If ``n_features > n_projected`` a ``Linear(P -> n_projected) + ReLU``
        projection comes first.
    n_hidden : int, default=256
        Width of the hidden layer.
    n_features_out : int, default=64
        Output width.

    Attributes
    ----------
    layers : torch.nn.Sequential
        The linear layers and ReLUs.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import InputMLP
    >>> mlp = InputMLP(n_features=600)
    >>> tuple(mlp(torch.zeros(2, 7, 600)).shape)
    (2, 7, 64)
    """

    def __init__(
        self,
        *,
        n_features: int,
        n_projected: int = 512,
        n_hidden: int = 256,
        n_features_out: int = 64,
    ):
        super().__init__()
        widths = [n_features]
        if n_features > n_projected:
            widths.append(n_projected)
        widths += [n_hidden, n_features_out]
        layers = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers += [glorot_(nn.Linear(n_in, n_out)), nn.ReLU()]
        keras_first_layer_(layers[0])
        self.layers = nn.Sequential(*layers)
        self.n_features = n_features
        self.n_features_out = n_features_out

    def forward(self, x):
        """Map every frame's features to ``n_features_out`` features.

        Parameters
        ----------
        x : torch.Tensor of shape (b, t, n_features)
            Per-frame features.

        Returns
        -------
        h : torch.Tensor of shape (b, t, n_features_out)
        """
        return self.layers(x)
