"""Parameter names and Optuna search spaces, checked before any training."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

__all__ = ["DEFAULT_SEARCH_SPACES"]

# Around the defaults (learning rate 1e-3, weight decay 2e-4, SAM rho
# 0.5, mixup alpha 2.0): a decade either side on log scales for the learning
# rate and weight decay, whose recorded values span 5e-5 to 2e-3; linear for
# rho and alpha, whose recorded values include 0 (off), 0.1, 0.5, 0.7 and 2.0.
DEFAULT_SEARCH_SPACES = {
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    "sam_rho": FloatDistribution(0.0, 1.0),
    "weight_decay": FloatDistribution(2e-5, 2e-3, log=True),
    "mixup_alpha": FloatDistribution(0.0, 4.0),
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


def _as_distribution(name, space):
    if isinstance(space, BaseDistribution):
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
            f"(FloatDistribution, IntDistribution, CategoricalDistribution) or a "
            f"list of values, got {type(space).__name__}."
        )
    if distribution.single():
        raise ValueError(
            f"The search space of {name!r} holds a single value ({distribution}); "
            f"there is nothing to tune. Fix the parameter with set_params instead."
        )
    return distribution


def _bounds(distribution):
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


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
        distribution = _as_distribution(key, space)
        _check_values(estimator, key, distribution)
        spaces[key] = distribution
    return spaces


def suggest(trial, key, distribution):
    """Ask ``trial`` for a value of ``key`` from ``distribution``."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            key,
            distribution.low,
            distribution.high,
            step=distribution.step,
            log=distribution.log,
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            key,
            distribution.low,
            distribution.high,
            step=distribution.step,
            log=distribution.log,
        )
    return trial.suggest_categorical(key, distribution.choices)
