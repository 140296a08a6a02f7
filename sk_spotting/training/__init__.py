"""How the network weights get fitted: chunks, SAM, mixup, skorch net, callbacks."""

from ._callbacks import (
    EpochProgressBar,
    KeepBestWeights,
    LinearDecay,
    LinearDecayScheduler,
    TrainingCheckpoint,
    ValidationScore,
)
from ._mixup import mixup_batch
from ._net import ConfidenceCriterion, DisplacementCriterion, SpottingNet
from ._optim import KerasAdamW
from ._sam import perturb_weights, restore_weights
from ._sampling import ChunkSampler
from ._storage import FeatureStore

__all__ = [
    "ChunkSampler",
    "ConfidenceCriterion",
    "DisplacementCriterion",
    "EpochProgressBar",
    "FeatureStore",
    "KeepBestWeights",
    "KerasAdamW",
    "LinearDecay",
    "LinearDecayScheduler",
    "SpottingNet",
    "TrainingCheckpoint",
    "ValidationScore",
    "mixup_batch",
    "perturb_weights",
    "restore_weights",
]
