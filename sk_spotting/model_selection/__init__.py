"""Model selection for spotters: video-level splits and Optuna tuning.

``groups_from_meta`` keeps the halves of a game on one side of a split;
``tune_in_turn`` tunes hyper-parameters one after the other (the paper's
protocol) with Optuna studies that several worker processes, on one machine or
many, can share; ``make_objective`` builds the objective of one trial for
hand-written studies; ``tune_nms_windows`` chooses per-class NMS windows of a
fitted spotter on validation videos.  Scikit-learn's own tools (``GridSearchCV``,
``cross_validate``) and ``optuna_integration.OptunaSearchCV`` work with
spotters too, given a scorer from :mod:`sk_spotting.metrics`.

Examples
--------
>>> import pandas as pd
>>> from sklearn.model_selection import GroupKFold
>>> from sk_spotting.model_selection import groups_from_meta
>>> meta = pd.DataFrame({"game": ["g0", "g0", "g1", "g1"], "half": [1, 2, 1, 2]})
>>> groups = groups_from_meta(meta)
>>> sorted(test.tolist() for _, test in GroupKFold(2).split(range(4), groups=groups))
[[0, 1], [2, 3]]
"""

from ._nms_windows import DEFAULT_NMS_WINDOWS, tune_nms_windows
from ._objective import make_objective
from ._optuna import TuningResult, tune_in_turn
from ._search_space import DEFAULT_SEARCH_SPACES, ZeroOrLogUniform
from ._split import groups_from_meta

__all__ = [
    "DEFAULT_NMS_WINDOWS",
    "DEFAULT_SEARCH_SPACES",
    "TuningResult",
    "ZeroOrLogUniform",
    "groups_from_meta",
    "make_objective",
    "tune_in_turn",
    "tune_nms_windows",
]
