"""Evaluation metrics: the SoccerNet average-mAP, its bootstrap intervals and
scikit-learn scorers."""

from ._bootstrap import BootstrapResult, bootstrap_average_map
from ._scorer import (
    average_map_scorer,
    make_spotting_scorer,
    tight_average_map_scorer,
)
from ._spotting import (
    LOOSE_TOLERANCES,
    TIGHT_TOLERANCES,
    SpottingEvaluation,
    average_map_score,
)

__all__ = [
    "BootstrapResult",
    "LOOSE_TOLERANCES",
    "TIGHT_TOLERANCES",
    "SpottingEvaluation",
    "average_map_score",
    "average_map_scorer",
    "bootstrap_average_map",
    "make_spotting_scorer",
    "tight_average_map_scorer",
]
