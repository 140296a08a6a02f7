"""Data sets: SoccerNet-v2 reading and writing, and SoccerNet-like synthetic data.

``SOCCERNET_V2_CLASSES`` holds the 17 SoccerNet-v2 classes in the official
devkit's ``EVENT_DICTIONARY_V2`` order; any other list of class names works
with the rest of sk_spotting (other sports, other annotations).

Examples
--------
>>> from sk_spotting.datasets import SOCCERNET_V2_CLASSES
>>> len(SOCCERNET_V2_CLASSES)
17
>>> SOCCERNET_V2_CLASSES[:3]
('Penalty', 'Kick-off', 'Goal')
"""

from ._soccernet import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    read_soccernet_predictions,
    soccernet_games,
    write_soccernet_predictions,
)
from ._synthetic import make_soccernet_tree, make_spotting_data

__all__ = [
    "SOCCERNET_V2_CLASSES",
    "load_soccernet",
    "make_soccernet_tree",
    "make_spotting_data",
    "read_soccernet_predictions",
    "soccernet_games",
    "write_soccernet_predictions",
]
