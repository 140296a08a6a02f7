"""How the network weights get fitted: chunks, SAM, mixup, skorch net, callbacks."""

from ._callbacks import EpochProgressBar, KeepBestWeights, LinearDecay, ValidationScore
from ._mixup import mixup_batch
from ._net import ConfidenceCriterion, DisplacementCriterion, SpottingNet
from ._sam import perturb_weights, restore_weights
from ._sampling import ChunkSampler

__all__ = [
    "ChunkSampler",
    "ConfidenceCriterion",
    "DisplacementCriterion",
    "EpochProgressBar",
    "KeepBestWeights",
    "LinearDecay",
    "SpottingNet",
    "ValidationScore",
    "mixup_batch",
    "perturb_weights",
    "restore_weights",
]
