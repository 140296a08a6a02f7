"""Pure-PyTorch networks and losses of the dense-anchor spotter.

Method: Soares, Shah and Biswas, "Temporally precise action spotting in soccer
videos using dense detection anchors", ICIP 2022 (arXiv 2205.10450); the
architecture, the losses and the parameter counts follow docs/method.md.


All public modules take and return float tensors; :class:`SpottingNetwork`
maps ``(b, t, d)`` features to ``(b, t, c)`` outputs (b batch, t frames,
d features, c classes).
"""

from ._heads import ConfidenceHead, DisplacementHead
from ._input import InputMLP
from ._losses import confidence_loss, displacement_loss
from ._network import HEADS, SpottingNetwork, build_network, count_parameters
from ._registry import (
    available_trunks,
    get_trunk,
    get_trunk_builder,
    register_trunk,
    unregister_trunk,
)
from .trunks import (
    TRANSFORMER_SIZES,
    TransformerTrunk,
    UNetTrunk,
    transformer_trunk,
    unet_trunk,
)

__all__ = [
    "HEADS",
    "TRANSFORMER_SIZES",
    "ConfidenceHead",
    "DisplacementHead",
    "InputMLP",
    "SpottingNetwork",
    "TransformerTrunk",
    "UNetTrunk",
    "available_trunks",
    "build_network",
    "confidence_loss",
    "count_parameters",
    "displacement_loss",
    "get_trunk",
    "get_trunk_builder",
    "register_trunk",
    "transformer_trunk",
    "unet_trunk",
    "unregister_trunk",
]
