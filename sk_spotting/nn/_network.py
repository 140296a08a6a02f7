"""The spotting network: input MLP -> trunk -> one head (docs/method.md, Networks).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450). As in the
authors' reference code, confidence and displacement are two separately
trained networks with identical trunks; each network has exactly one head.
"""

# Shape legend: b batch, t frames, c classes, d features.

import inspect

from torch import nn

from ._heads import ConfidenceHead, DisplacementHead
from ._input import InputMLP
from ._registry import get_trunk_builder

__all__ = ["HEADS", "SpottingNetwork", "build_network", "count_parameters"]

HEADS = ("confidence", "displacement")
"""Head kinds accepted by :func:`build_network`."""


class SpottingNetwork(nn.Module):
    """Dense spotting network ``(b, t, d) -> (b, t, c)``.

    The per-frame input MLP runs channels-last; its output is transposed once
    to channels-first for the trunk and the head, and the head output is
    transposed back (and made contiguous).

    Parameters
    ----------
    input_mlp : torch.nn.Module
        Maps ``(b, t, d)`` to ``(b, t, d')``.
    trunk : torch.nn.Module
        Maps ``(b, d', t)`` to ``(b, d'', t)``.
    head : torch.nn.Module
        Maps ``(b, d'', t)`` to ``(b, c, t)``.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import (
    ...     ConfidenceHead, InputMLP, SpottingNetwork, UNetTrunk)
    >>> network = SpottingNetwork(
    ...     input_mlp=InputMLP(n_features=32),
    ...     trunk=UNetTrunk(n_levels=2),
    ...     head=ConfidenceHead(n_features_in=64, n_classes=5),
    ... )
    >>> tuple(network(torch.zeros(2, 8, 32)).shape)
    (2, 8, 5)
    """

    def __init__(self, *, input_mlp: nn.Module, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.input_mlp = input_mlp
        self.trunk = trunk
        self.head = head

    def forward(self, x):
        """Map per-frame features to per-anchor outputs.

        Parameters
        ----------
        x : torch.Tensor of shape (b, t, n_features)
            A batch of chunks of per-frame features.

        Returns
        -------
        outputs : torch.Tensor of shape (b, t, n_classes)
            Confidence logits or displacements in frames, by the head.
        """
        h = self.trunk(self.input_mlp(x).transpose(1, 2))  # (b, d, t)
        return self.head(h).transpose(1, 2).contiguous()


def build_network(
    trunk: str = "unet",
    *,
    n_features: int,
    n_classes: int,
    n_frames: int,
    head: str = "confidence",
    displacement_radius: float = 12.0,
    transformer_size: str = "small",
    n_levels: int | None = None,
    trunk_params: dict | None = None,
) -> SpottingNetwork:
    """Build one spotting network: input MLP, a registered trunk and a head.

    Parameters
    ----------
    trunk : str, default="unet"
        A registered trunk name, see :func:`available_trunks`.
    n_features : int
        Input feature size P per frame (512 for ResNet+PCA, 8576 for the
        Combination features).
    n_classes : int
        Number of classes c.
    n_frames : int
        Chunk length t (224 at 2 fps, 112 at 1 fps).
    head : {"confidence", "displacement"}, default="confidence"
        Confidence logits or displacements in frames.
    displacement_radius : float, default=12.0
        Displacement radius in frames (``rd * fps``); only used by the
        displacement head.
    transformer_size : {"small", "base"}, default="small"
        Passed as ``size`` to trunks whose builder accepts it (the
        transformer); ignored by the others.
    n_levels : int or None, default=None
        Passed to trunks whose builder accepts it (the u-net; ``None``
        derives the levels from ``n_frames``); ignored by the others.
    trunk_params : dict or None, default=None
        Further keyword arguments of the trunk's builder; they override
        ``transformer_size`` and ``n_levels``.  A key the builder does not
        take is an error.

    Returns
    -------
    network : SpottingNetwork
        Maps ``(b, n_frames, n_features)`` to ``(b, n_frames, n_classes)``.

    Raises
    ------
    ValueError
        On an unknown trunk or head, or invalid sizes.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import build_network, count_parameters
    >>> network = build_network("unet", n_features=512, n_classes=17, n_frames=224)
    >>> count_parameters(network)
    17465297
    >>> small = build_network(
    ...     "transformer", n_features=20, n_classes=3, n_frames=16,
    ...     head="displacement", displacement_radius=6.0)
    >>> tuple(small(torch.zeros(2, 16, 20)).shape)
    (2, 16, 3)
    """
    for name, value in [
        ("n_features", n_features),
        ("n_classes", n_classes),
        ("n_frames", n_frames),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; expected one of {list(HEADS)}.")
    if head == "displacement" and not 0.0 < float(displacement_radius) < float("inf"):
        raise ValueError(
            "displacement_radius must be a positive finite number of frames, "
            f"got {displacement_radius!r}."
        )
    builder = get_trunk_builder(trunk)
    accepted = inspect.signature(builder).parameters
    options = {"n_levels": n_levels, "size": transformer_size}
    options = {key: value for key, value in options.items() if key in accepted}
    extra = dict(trunk_params or {})
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(
        key
        for key in extra
        if key in ("n_features_in", "n_frames")
        or (key not in accepted and not takes_any)
    )
    if unknown:
        takes = sorted(set(accepted) - {"n_features_in", "n_frames"})
        raise ValueError(
            f"trunk_params has {unknown}, which the {trunk!r} trunk's builder "
            f"does not take; it takes {takes}."
        )
    options.update(extra)
    input_mlp = InputMLP(n_features=n_features)
    trunk_module = builder(
        n_features_in=input_mlp.n_features_out, n_frames=n_frames, **options
    )
    n_trunk_out = trunk_module.n_features_out
    if head == "confidence":
        head_module = ConfidenceHead(n_features_in=n_trunk_out, n_classes=n_classes)
    else:
        head_module = DisplacementHead(
            n_features_in=n_trunk_out, n_classes=n_classes, radius=displacement_radius
        )
    return SpottingNetwork(input_mlp=input_mlp, trunk=trunk_module, head=head_module)


def count_parameters(module: nn.Module) -> int:
    """Total number of parameter elements of ``module``.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    n_parameters : int
        Sum of ``numel`` over all parameters (all are trainable here, so this
        equals the Keras count of the reference code).

    Examples
    --------
    >>> from torch import nn
    >>> from sk_spotting.nn import count_parameters
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(parameter.numel() for parameter in module.parameters())
