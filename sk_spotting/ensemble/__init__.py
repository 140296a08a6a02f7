"""Ensembles of spotters: several fits, one prediction from their dense outputs.

:class:`VotingSpotter` fits several spotters (different seeds or settings), in
parallel processes or on several GPUs, averages their dense confidences and
displacements, and decodes the average with one NMS, as the reference does for
its challenge entries (docs/ensembles.md).

Examples
--------
>>> from sk_spotting import DenseAnchorSpotter
>>> from sk_spotting.ensemble import VotingSpotter
>>> ensemble = VotingSpotter.from_seeds(DenseAnchorSpotter(), seeds=[0, 1])
>>> [name for name, _ in ensemble.estimators]
['seed_0', 'seed_1']
"""

from ._voting import VotingSpotter

__all__ = ["VotingSpotter"]
