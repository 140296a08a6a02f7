"""Parameter names and Optuna search spaces, checked before any training.

A search space is an Optuna distribution, a list of values, or a
:class:`ZeroOrLogUniform` ("0, or log-uniform in [low, high]"), which Optuna
cannot express with one distribution: a log scale cannot hold 0.  It is
searched through one plain float, ``log10(<key>)``, whose values below
``log10(low)`` mean 0, so that every sampler (random, TPE, Gaussian process,
CMA-ES, QMC...) and every storage handles it, and "off" sits next to the
smallest values, where it belongs.  The functions below turn a value into
Optuna parameters and back; nothing else reads ``trial.params``.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

__all__ = ["DEFAULT_SEARCH_SPACES", "ZeroOrLogUniform"]

# Decoded values keep 12 significant digits: 10 ** log10(0.3) is
# 0.29999999999999993, and a value carried from one study to the next must
# come back exactly.
_SIGNIFICANT_DIGITS = 12


class ZeroOrLogUniform:
    """A search space of 0 (switched off) or a log-uniform value in [low, high].

    For parameters where 0 turns a feature off and useful values span
    decades, such as SAM's ``sam_rho`` and mixup's ``mixup_alpha``: a
    log-uniform :class:`~optuna.distributions.FloatDistribution` cannot hold
    0, and a uniform one spends most trials on large values.  Optuna searches
    one float ``u`` uniform in ``[log10(low) - w, log10(high)]``; the value is
    0 when ``u < log10(low)``, else ``10 ** u``.  The width ``w`` gives 0 the
    share ``zero_share`` of the range, so a random sampler proposes 0 that
    often.

    Parameters
    ----------
    low : float
        Smallest value other than 0; positive.
    high : float
        Largest value; greater than ``low``.
    zero_share : float, default=0.25
        Share of the searched range, in (0, 1), that means 0.

    Attributes
    ----------
    distribution : optuna.distributions.FloatDistribution
        What Optuna samples: ``log10`` of the value, below ``log10(low)``
        for 0.

    See Also
    --------
    tune_in_turn : Uses it for ``sam_rho`` and ``mixup_alpha`` by default.

    Notes
    -----
    Optuna records the float under the name ``"log10(<key>)"``; the trials
    table of :func:`tune_in_turn` and its ``best_params`` hold the values
    themselves (0.0 for "off").  Values keep 12 significant digits, so that a
    value such as 0.3 comes back exactly.

    Examples
    --------
    >>> from sk_spotting.model_selection import ZeroOrLogUniform
    >>> space = ZeroOrLogUniform(0.01, 1.0)
    >>> space.distribution
    FloatDistribution(high=0.0, log=False, low=-2.6666666666666665, step=None)
    >>> space.to_value(-2.5), space.to_value(-1.0), space.to_value(-2.0)
    (0.0, 0.1, 0.01)
    >>> space.to_internal(0.0) < -2.0, space.to_internal(0.1)
    (True, -1.0)
    >>> 0.0 in space, 0.5 in space, 0.001 in space
    (True, True, False)
    """

    def __init__(self, low, high, *, zero_share=0.25):
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"ZeroOrLogUniform: {name} must be a number, got {value!r}."
                )
        if not (0 < low < high < math.inf):
            raise ValueError(
                f"ZeroOrLogUniform needs 0 < low < high (finite), got low={low!r}, "
                f"high={high!r}."
            )
        if isinstance(zero_share, bool) or not (
            isinstance(zero_share, numbers.Real) and 0 < zero_share < 1
        ):
            raise ValueError(
                f"ZeroOrLogUniform: zero_share must be in (0, 1), got {zero_share!r}."
            )
        self.low, self.high = float(low), float(high)
        self.zero_share = float(zero_share)
        top, bottom = math.log10(self.high), math.log10(self.low)
        width = (top - bottom) * self.zero_share / (1 - self.zero_share)
        self.distribution = FloatDistribution(bottom - width, top)

    def to_value(self, internal):
        """The parameter value of an Optuna float.

        Parameters
        ----------
        internal : float
            A value drawn from ``distribution`` (``log10`` of the
            parameter, or below ``log10(low)`` for 0).

        Returns
        -------
        value : float
            0.0, or ``10 ** internal`` rounded to 12 significant digits and
            clipped to ``[low, high]``.
        """
        if internal < math.log10(self.low):
            return 0.0
        value = float(f"{10.0**internal:.{_SIGNIFICANT_DIGITS}g}")
        return min(max(value, self.low), self.high)

    def to_internal(self, value):
        """The Optuna float of a value of the space.

        Parameters
        ----------
        value : float
            0, or a value in ``[low, high]``.

        Returns
        -------
        internal : float
            ``log10(value)``; for 0, the middle of the share of
            ``distribution`` that stands for 0.

        Raises
        ------
        ValueError
            If ``value`` is not in the space.
        """
        if value not in self:
            raise ValueError(f"{value!r} is not in {self!r}.")
        if value == 0:
            return (self.distribution.low + math.log10(self.low)) / 2
        return math.log10(value)

    def __contains__(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        return value == 0 or self.low <= value <= self.high

    def __eq__(self, other):
        return isinstance(other, ZeroOrLogUniform) and (
            (self.low, self.high, self.zero_share)
            == (other.low, other.high, other.zero_share)
        )

    def __hash__(self):
        return hash((ZeroOrLogUniform, self.low, self.high, self.zero_share))

    def __repr__(self):
        share = "" if self.zero_share == 0.25 else f", zero_share={self.zero_share}"
        return f"ZeroOrLogUniform({self.low}, {self.high}{share})"


# Learning rate and weight decay: log-uniform over two decades around the
# reference's values (1e-3 and 2e-4).  SAM rho and mixup alpha: 0 (off) or
# log-uniform over two decades holding the reference's 0.5 and 2.0.  The
# reference's rho suits 32,000 steps of 256-chunk batches; at 2,000 steps of
# 16 chunks on synthetic data it kept the network near an untrained one
# (4.4 loose average-mAP, 18.6 with rho 0.05, 24.7 without SAM), so the
# good values can lie a decade lower, or at 0 (docs/tuning.md).
DEFAULT_SEARCH_SPACES = {
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    "sam_rho": ZeroOrLogUniform(0.01, 1.0),
    "weight_decay": FloatDistribution(2e-5, 2e-3, log=True),
    "mixup_alpha": ZeroOrLogUniform(0.04, 4.0),
}


def resolve_name(estimator, name):
    """Full ``get_params`` key of ``name``: itself or the one key ending in it."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"Parameter names must be non-empty strings, got {name!r}.")
    keys = list(estimator.get_params(deep=True))
    if name in keys:
        return name
    matches = [key for key in keys if key.endswith("__" + name)]
    if len(matches) == 1:
        return matches[0]
    kind = type(estimator).__name__
    if matches:
        raise ValueError(
            f"Parameter {name!r} is ambiguous in {kind}: it matches {matches}; "
            f"give the full name."
        )
    leaves = sorted({key.rsplit("__", 1)[-1] for key in keys} | set(keys))
    close = difflib.get_close_matches(name, leaves, n=3)
    hint = f" Did you mean {close}?" if close else ""
    raise ValueError(
        f"Unknown parameter {name!r}: {kind} has no parameter of that name or "
        f"ending in '__{name}'.{hint} Valid names are the keys of "
        f"estimator.get_params()."
    )


def _as_space(name, space):
    if isinstance(space, (BaseDistribution, ZeroOrLogUniform)):
        distribution = space
    elif isinstance(space, (list, tuple)):
        if not space:
            raise ValueError(
                f"The search space of {name!r} is empty: give at least two values."
            )
        distribution = CategoricalDistribution(list(space))
    else:
        raise TypeError(
            f"The search space of {name!r} must be an optuna distribution "
            f"(FloatDistribution, IntDistribution, CategoricalDistribution), a "
            f"ZeroOrLogUniform or a list of values, got {type(space).__name__}."
        )
    if isinstance(distribution, BaseDistribution) and distribution.single():
        raise ValueError(
            f"The search space of {name!r} holds a single value ({distribution}); "
            f"there is nothing to tune. Fix the parameter with set_params instead."
        )
    return distribution


def _bounds(space):
    if isinstance(space, CategoricalDistribution):
        return list(space.choices)
    if isinstance(space, ZeroOrLogUniform):
        return [0.0, space.low, space.high]
    return [space.low, space.high]


def _check_values(estimator, key, distribution):
    """Set the extreme values of a space on a clone and run its validation."""
    owner_key = key.rpartition("__")[0]
    owner = estimator.get_params(deep=True)[owner_key] if owner_key else estimator
    if not hasattr(owner, "_parameter_constraints"):
        return  # nothing declared to check against
    try:
        owner._validate_params()
    except InvalidParameterError:
        return  # already invalid as given: fit reports it, not the space
    for value in _bounds(distribution):
        probe = clone(estimator).set_params(**{key: value})
        owner = probe.get_params(deep=True)[owner_key] if owner_key else probe
        try:
            owner._validate_params()
        except InvalidParameterError as exc:
            raise ValueError(
                f"The search space of {key!r} ({distribution}) holds {value!r}, "
                f"which the estimator rejects: {exc}"
            ) from None


def check_search_spaces(estimator, names, search_spaces=None, *, defaults=True):
    """Resolve names and give each a checked distribution.

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) whose parameters are tuned.
    names : sequence of str
        Parameters to tune, short or full ``get_params`` keys.
    search_spaces : mapping, default=None
        Name (short or full) to distribution or list of values.
    defaults : bool, default=True
        Fall back on :data:`DEFAULT_SEARCH_SPACES` by short name.

    Returns
    -------
    spaces : dict
        Full key to distribution, in the order of ``names``.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("params is empty: give at least one parameter to tune.")
    if search_spaces is None:
        search_spaces = {}
    if not isinstance(search_spaces, Mapping):
        raise TypeError(
            f"search_spaces must be a dict from parameter name to distribution, "
            f"got {type(search_spaces).__name__}."
        )
    keys = [resolve_name(estimator, name) for name in names]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"params names {duplicated} more than once.")
    given = {
        resolve_name(estimator, name): space for name, space in search_spaces.items()
    }
    extra = sorted(set(given) - set(keys))
    if extra:
        raise ValueError(
            f"search_spaces has entries for {extra}, which are not in params {names}."
        )
    spaces = {}
    for name, key in zip(names, keys):
        if key in given:
            space = given[key]
        elif defaults and key.rsplit("__", 1)[-1] in DEFAULT_SEARCH_SPACES:
            space = DEFAULT_SEARCH_SPACES[key.rsplit("__", 1)[-1]]
        else:
            raise ValueError(
                f"No search space for {name!r}: give one in search_spaces "
                f"(defaults exist for {sorted(DEFAULT_SEARCH_SPACES)})."
            )
        distribution = _as_space(key, space)
        _check_values(estimator, key, distribution)
        spaces[key] = distribution
    return spaces


def optuna_name(key, space):
    """The name under which Optuna records the values of ``key``."""
    return f"log10({key})" if isinstance(space, ZeroOrLogUniform) else key


def suggest(trial, key, space):
    """Ask ``trial`` for a value of ``key`` from ``space``; returns the value."""
    if isinstance(space, ZeroOrLogUniform):
        d = space.distribution
        return space.to_value(
            trial.suggest_float(optuna_name(key, space), d.low, d.high)
        )
    if isinstance(space, FloatDistribution):
        return trial.suggest_float(
            key, space.low, space.high, step=space.step, log=space.log
        )
    if isinstance(space, IntDistribution):
        return trial.suggest_int(
            key, space.low, space.high, step=space.step, log=space.log
        )
    return trial.suggest_categorical(key, space.choices)


def value_of(params, key, space):
    """The value of ``key`` in a trial's ``params`` (NaN when absent)."""
    name = optuna_name(key, space)
    if name not in params:
        return np.nan
    if isinstance(space, ZeroOrLogUniform):
        return space.to_value(params[name])
    return params[name]


def contains(space, value):
    """Whether ``value`` is one that ``space`` can propose."""
    if isinstance(space, ZeroOrLogUniform):
        return value in space
    if isinstance(space, CategoricalDistribution):
        return any(value == choice for choice in space.choices)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if not space.low <= value <= space.high:
        return False
    step = space.step
    if step is None:
        return not isinstance(space, IntDistribution) or value == int(value)
    position = (value - space.low) / step
    return abs(position - round(position)) < 1e-8


def as_optuna(key, space, value):
    """``(params, distributions)`` of a trial that used ``value``."""
    name = optuna_name(key, space)
    if isinstance(space, ZeroOrLogUniform):
        return {name: space.to_internal(value)}, {name: space.distribution}
    return {name: value}, {name: space}
