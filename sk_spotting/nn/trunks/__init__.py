"""Registered trunks: ``"unet"`` (SPEC §2.2) and ``"transformer"`` (SPEC §2.3)."""

from ._transformer import TRANSFORMER_SIZES, TransformerTrunk, transformer_trunk
from ._unet import UNetTrunk, unet_trunk

__all__ = [
    "TRANSFORMER_SIZES",
    "TransformerTrunk",
    "UNetTrunk",
    "transformer_trunk",
    "unet_trunk",
]
