"""Registered trunks: ``"unet"`` and ``"transformer"`` (docs/method.md, Networks)."""

from ._transformer import TRANSFORMER_SIZES, TransformerTrunk, transformer_trunk
from ._unet import UNetTrunk, unet_trunk

__all__ = [
    "TRANSFORMER_SIZES",
    "TransformerTrunk",
    "UNetTrunk",
    "transformer_trunk",
    "unet_trunk",
]
