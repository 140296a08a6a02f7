"""Figures of spotting results: mAP against tolerance, per-class AP, timelines
and displacement errors; and the trials of a tuning study.

Every function returns a :class:`matplotlib.axes.Axes` drawn on a new
:class:`matplotlib.figure.Figure` (or on the ``ax`` given); nothing is shown
and :mod:`matplotlib.pyplot` is never used, so the functions are safe in
scripts, servers and tests.  Save a figure with ``ax.figure.savefig(path)``.

Examples
--------
>>> import pandas as pd
>>> from sk_spotting.metrics import average_map_score
>>> from sk_spotting.plotting import plot_map_vs_tolerance
>>> y_true = [pd.DataFrame({"time": [10.0], "label": ["Goal"]})]
>>> y_pred = [pd.DataFrame({"time": [12.0], "label": ["Goal"],
...                         "confidence": [0.9]})]
>>> result = average_map_score(y_true, y_pred, tolerances=range(1, 61),
...                            return_details=True)
>>> ax = plot_map_vs_tolerance(result)
>>> float(ax.lines[0].get_ydata()[-1])
100.0
"""

from ._figures import (
    matched_time_errors,
    plot_displacement_errors,
    plot_map_vs_tolerance,
    plot_per_class_ap,
    plot_timeline,
)
from ._tuning import plot_tuning_trials

__all__ = [
    "matched_time_errors",
    "plot_displacement_errors",
    "plot_map_vs_tolerance",
    "plot_per_class_ap",
    "plot_timeline",
    "plot_tuning_trials",
]
