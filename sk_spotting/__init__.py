"""sk_spotting: temporally precise action spotting in long videos.

A scikit-learn-compatible implementation of the dense-detection-anchor spotter of
Soares, Shah and Biswas (ICIP 2022), with the official SoccerNet average-mAP.
"""

__version__ = "0.1.0.dev0"

from ._dense import DenseAnchorSpotter, DenseScores  # noqa: E402
from ._persistence import load_spotter, save_spotter  # noqa: E402
from .data import ValidationSet  # noqa: E402

__all__ = [
    "DenseAnchorSpotter",
    "DenseScores",
    "ValidationSet",
    "load_spotter",
    "save_spotter",
    "__version__",
]
