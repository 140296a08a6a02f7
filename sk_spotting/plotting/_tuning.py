"""The trials of one study of :func:`sk_spotting.model_selection.tune_in_turn`."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from ._figures import _new_axes

__all__ = ["plot_tuning_trials"]

_STATES = {
    "COMPLETE": {"color": "tab:blue", "marker": "o", "label": "complete"},
    "PRUNED": {"color": "tab:gray", "marker": "x", "label": "pruned"},
}


def _key(result, param):
    keys = list(result.best_params)
    matches = [k for k in keys if k == param or k.endswith("__" + param)]
    if len(matches) != 1:
        raise ValueError(f"param {param!r} is not one of the tuned parameters {keys}.")
    return matches[0]


def _set_scale(ax, values):
    """Log scale over decades; symlog when 0 ("off") is among them."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        return  # choices such as "hard" / "soft": keep the categorical axis
    values = values.astype(float)
    positive = values[values > 0]
    if len(positive) < 2 or positive.max() / positive.min() < 10 or (values < 0).any():
        return
    if (values == 0).any():  # linear up to the decade below the smallest value
        ax.set_xscale("symlog", linthresh=10.0 ** np.floor(np.log10(positive.min())))
    else:
        ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: no clutter


def plot_tuning_trials(result, param, *, ax=None, title=None):
    """Every trial of one study of ``tune_in_turn``, at its validation score.

    Complete trials are blue dots, pruned ones grey crosses at the last
    score they reported, the trial carried over from the previous study a
    green square, and the value kept a red circle.  The x axis is
    logarithmic when the values span a decade or more (symmetric-log when
    0, "off", is among them).

    Parameters
    ----------
    result : TuningResult
        What :func:`sk_spotting.model_selection.tune_in_turn` returned.
    param : str
        The study's parameter, full ``get_params`` key or its last part.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None makes a new figure.
    title : str, default=None
        Axes title; None is the parameter's name.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``param`` was not tuned.

    See Also
    --------
    sk_spotting.model_selection.tune_in_turn : Makes ``result``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.model_selection import TuningResult
    >>> from sk_spotting.plotting import plot_tuning_trials
    >>> trials = pd.DataFrame({
    ...     "param": ["sam_rho"] * 3, "state": ["COMPLETE", "PRUNED", "COMPLETE"],
    ...     "value": [0.2, 0.1, 0.3], "carried": [False] * 3,
    ...     "sam_rho": [0.0, 0.5, 0.05]})
    >>> result = TuningResult({"sam_rho": 0.05}, {"sam_rho": 0.3}, None, trials, [])
    >>> ax = plot_tuning_trials(result, "sam_rho")
    >>> ax.get_xscale(), len(ax.collections)
    ('symlog', 4)
    """
    key = _key(result, param)
    ax = _new_axes(ax, (4.0, 3.2))
    table = result.trials[result.trials["param"] == key]
    run = table[~table["carried"].astype(bool)]
    for state, style in _STATES.items():
        rows = run[run["state"] == state]
        ax.scatter(rows[key], rows["value"], **style)
    carried = table[table["carried"].astype(bool)]
    ax.scatter(
        carried[key],
        carried["value"],
        color="tab:green",
        marker="s",
        label="carried over",
    )
    ax.scatter(
        [result.best_params[key]],
        [result.best_scores[key]],
        s=160,
        facecolors="none",
        edgecolors="tab:red",
        label="kept",
    )
    _set_scale(ax, table[key].dropna())
    ax.set_title(title if title is not None else key.rsplit("__", 1)[-1])
    ax.set_xlabel(key.rsplit("__", 1)[-1])
    ax.set_ylabel("validation score")
    ax.grid(alpha=0.3)
    return ax
