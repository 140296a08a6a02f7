"""An Optuna objective for spotters: fit with validation, report, prune, score."""

from __future__ import annotations

import inspect
import os
import socket

import numpy as np
import optuna
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline

from ..data import ValidationSet, check_events, check_videos, check_videos_and_events
from ..metrics import average_map_scorer, tight_average_map_scorer
from ..metrics._scorer import _SpottingScorer
from ._search_space import check_search_spaces, resolve_name, suggest

__all__ = ["make_objective"]

# Order of the networks within one fit: their epochs get consecutive step ranges.
NETWORKS = ("confidence", "displacement")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def check_scoring(scoring):
    """One of sk_spotting's average-mAP scorers, from a name or a scorer."""
    if isinstance(scoring, str):
        named = {"loose": average_map_scorer, "tight": tight_average_map_scorer}
        if scoring in named:
            return named[scoring]
    elif scoring in (average_map_scorer, tight_average_map_scorer) or isinstance(
        scoring, _SpottingScorer
    ):
        return scoring
    raise ValueError(
        f"scoring must be 'loose', 'tight', sk_spotting.metrics.average_map_scorer, "
        f"tight_average_map_scorer or a scorer from make_spotting_scorer, got "
        f"{scoring!r}. Scikit-learn's scorers compare arrays of labels and cannot "
        f"score event tables."
    )


def final_estimator(estimator):
    """The estimator at the end of (nested) pipelines."""
    while isinstance(estimator, Pipeline):
        estimator = estimator._final_estimator
    return estimator


def check_validation_hooks(estimator):
    """Raise unless the final estimator's ``fit`` takes validation and hooks."""
    final = final_estimator(estimator)
    fit = getattr(final, "fit", None)
    parameters = inspect.signature(fit).parameters if fit is not None else {}
    missing = [
        p for p in ("X_valid", "y_valid", "on_validation") if p not in parameters
    ]
    if missing:
        raise TypeError(
            f"{type(final).__name__}.fit takes no {missing}: tuning needs a spotter "
            f"whose fit accepts validation videos and an on_validation hook, such "
            f"as DenseAnchorSpotter."
        )


def _routes_validation(pipeline):
    """Whether scikit-learn's metadata routing carries ``X_valid`` through."""
    import sklearn

    return bool(sklearn.get_config().get("enable_metadata_routing")) and (
        "X_valid" in (getattr(pipeline, "transform_input", None) or ())
    )


def fit_with_validation(
    estimator, X, y, X_valid=None, y_valid=None, on_validation=None
):
    """Fit ``estimator``; a pipeline's transformers also transform ``X_valid``.

    With scikit-learn's metadata routing on and a pipeline built with
    ``transform_input=["X_valid"]``, routing does it: the validation set goes
    to ``fit`` as a :class:`~sk_spotting.ValidationSet` (which the pipeline's
    :class:`~sk_spotting.preprocessing.PerFrame` steps transform) and the
    spotter is asked for it.  Otherwise the transformers are fitted on ``X``
    only, then ``X_valid`` goes through them by hand, so that the spotter at
    the end validates on features like its own.
    """
    if isinstance(estimator, Pipeline) and _routes_validation(estimator):
        requests, kwargs = {}, {}
        if X_valid is not None:
            requests["X_valid"] = True
            kwargs["X_valid"] = ValidationSet(X_valid, y_valid)
        if on_validation is not None:
            requests["on_validation"] = True
            kwargs["on_validation"] = on_validation
        if requests:
            estimator._final_estimator.set_fit_request(**requests)
        return estimator.fit(X, y, **kwargs)
    if isinstance(estimator, Pipeline):
        X_t, X_valid_t = X, X_valid
        if len(estimator.steps) > 1:
            head = estimator[:-1]
            X_t = head.fit_transform(X, y)
            if X_valid is not None:
                X_valid_t = head.transform(X_valid)
            estimator.steps[:-1] = head.steps  # fitted steps (clones with memory)
        fit_with_validation(
            estimator._final_estimator, X_t, y, X_valid_t, y_valid, on_validation
        )
        return estimator
    kwargs = {}
    if X_valid is not None:
        kwargs.update(X_valid=X_valid, y_valid=y_valid)
    if on_validation is not None:
        kwargs["on_validation"] = on_validation
    return estimator.fit(X, y, **kwargs)


class _StepLayout:
    """Unique Optuna steps: ``fold * per_fold + network offset + epoch``.

    For a spotter with ``epochs`` (and ``use_displacement``), the confidence
    network's epochs are steps ``1..epochs`` of a fold and the displacement
    network's ``epochs + 1 .. 2 * epochs``; without ``epochs`` the steps count
    the reports of the trial.
    """

    def __init__(self, estimator):
        params = final_estimator(estimator).get_params(deep=False)
        epochs = params.get("epochs")
        self.epochs = int(epochs) if isinstance(epochs, (int, np.integer)) else None
        n_networks = 2 if params.get("use_displacement", True) else 1
        self.per_fold = None if self.epochs is None else n_networks * self.epochs
        self._count = 0

    def step(self, fold, network, epoch):
        self._count += 1
        if self.epochs is None or network not in NETWORKS:
            return self._count
        return fold * self.per_fold + NETWORKS.index(network) * self.epochs + epoch


class _Reporter:
    """``on_validation`` hook that reports to a trial and prunes it."""

    def __init__(self, trial, layout, fold):
        self.trial, self.layout, self.fold = trial, layout, fold

    def __call__(self, network, epoch, score):
        step = self.layout.step(self.fold, network, epoch)
        self.trial.report(float(score), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at the {network} network's epoch {epoch} of fold "
                f"{self.fold} (step {step}, validation average-mAP {score:.4f})"
            )


def _take(items, indices):
    return [items[i] for i in indices]


class SpottingObjective:
    """Callable ``objective(trial) -> score``; see :func:`make_objective`."""

    def __init__(
        self, estimator, X, y, spaces, fixed_params, validation, splits, scorer
    ):
        self.estimator = estimator
        self.X, self.y = X, y
        self.spaces = spaces
        self.fixed_params = fixed_params
        self.validation = validation
        self.splits = splits
        self.scorer = scorer

    def _folds(self):
        if self.splits is None:
            yield (self.X, self.y, *self.validation)
            return
        for train, test in self.splits:
            yield (
                _take(self.X, train),
                _take(self.y, train),
                _take(self.X, test),
                _take(self.y, test),
            )

    def __call__(self, trial):
        params = {key: suggest(trial, key, d) for key, d in self.spaces.items()}
        trial.set_user_attr("worker", WORKER)
        estimator = clone(self.estimator).set_params(**self.fixed_params, **params)
        layout = _StepLayout(estimator)
        scores = []
        for fold, (X, y, X_valid, y_valid) in enumerate(self._folds()):
            model = clone(estimator)
            reporter = _Reporter(trial, layout, fold)
            fit_with_validation(model, X, y, X_valid, y_valid, reporter)
            scores.append(float(self.scorer(model, X_valid, y_valid)))
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))


def _check_data(estimator, X, y, name_x="X", name_y="y"):
    frame_rate = final_estimator(estimator).get_params(deep=False).get("frame_rate")
    if frame_rate is None:
        videos = check_videos(X, name=name_x)
        check_events(y, n_videos=len(videos), name=name_y)
        return
    check_videos_and_events(X, y, frame_rate=frame_rate)


def check_validation(estimator, X, y, X_valid, y_valid, cv, groups):
    """``(validation, splits)``: a validation set, or cross-validation splits."""
    _check_data(estimator, X, y)
    if (X_valid is None) != (y_valid is None):
        raise ValueError("Give both X_valid and y_valid, or neither.")
    if X_valid is not None:
        if cv is not None or groups is not None:
            raise ValueError(
                "Give either a validation set (X_valid, y_valid) or cv (and "
                "groups), not both."
            )
        _check_data(estimator, X_valid, y_valid)
        return (list(X_valid), list(y_valid)), None
    splitter = check_cv(cv)
    splits = [
        (np.asarray(train), np.asarray(test))
        for train, test in splitter.split(list(X), list(y), groups)
    ]
    return None, splits


def make_objective(
    estimator,
    X,
    y,
    *,
    search_spaces,
    X_valid=None,
    y_valid=None,
    cv=None,
    groups=None,
    scoring="loose",
    fixed_params=None,
):
    """Build an Optuna objective that fits and scores a spotter.

    For each trial the objective suggests a value for every parameter of
    ``search_spaces``, sets them (and ``fixed_params``) on a clone of
    ``estimator``, fits it with validation and returns its validation score.
    During each fit, the spotter's validation average-mAP is reported to the
    trial through its ``on_validation`` hook, so that a pruner (median,
    Hyperband...) stops bad trials early.

    Parameters
    ----------
    estimator : estimator object
        A spotter whose ``fit`` takes ``X_valid``, ``y_valid`` and
        ``on_validation`` (such as :class:`~sk_spotting.DenseAnchorSpotter`),
        or a pipeline ending in one; the pipeline's transformers are fitted
        on the training videos and transform the validation videos.
    X : list of array-like of shape (n_frames_i, n_features)
        Training videos.
    y : list of pandas.DataFrame
        Events of each training video.
    search_spaces : dict
        Parameter name to an optuna distribution (``FloatDistribution``,
        ``IntDistribution``, ``CategoricalDistribution``) or a list of values.
        Names are ``get_params`` keys or their last part
        (``"learning_rate"`` for ``"denseanchorspotter__learning_rate"``).
    X_valid : list of array-like, default=None
        Validation videos: each trial fits once on ``X``, validates and
        scores on ``X_valid``.
    y_valid : list of pandas.DataFrame, default=None
        Events of the validation videos.
    cv : int, cross-validation generator or iterable, default=None
        Without a validation set, each trial fits once per split, validating
        and scoring on the held-out videos, and returns the mean score.  None
        is 5-fold :class:`~sklearn.model_selection.KFold`; use
        :class:`~sklearn.model_selection.GroupKFold` with
        :func:`groups_from_meta` so the halves of a game stay together.
    groups : array-like of shape (n_videos,), default=None
        Group of each video, for group splitters.
    scoring : {"loose", "tight"} or scorer, default="loose"
        Loose or tight average-mAP, or a scorer from
        :func:`sk_spotting.metrics.make_spotting_scorer`.
    fixed_params : dict, default=None
        Parameters set on every trial's estimator (full or short names).

    Returns
    -------
    objective : callable
        ``objective(trial) -> float``, greater is better
        (``direction="maximize"``).  Each trial records the user attributes
        ``worker`` (host:pid) and ``fold_scores``.

    Raises
    ------
    ValueError
        For an unknown or ambiguous parameter, an empty or single-valued
        search space, a value the estimator rejects, a scorer that is not an
        average-mAP scorer, or invalid data; all before any training.

    See Also
    --------
    tune_in_turn : One study per parameter, each fixing the previous best.

    Notes
    -----
    Steps reported to the trial are unique across folds and networks: for a
    spotter with ``epochs`` E (both networks), validation at the confidence
    network's epoch ``e`` of fold ``f`` is step ``2 E f + e`` and at the
    displacement network's epoch ``e`` step ``2 E f + E + e``.

    Examples
    --------
    >>> import optuna
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> from sk_spotting.model_selection import make_objective
    >>> X, y = make_spotting_data(3, n_features=8, minutes=1.0, classes=["a"],
    ...                           random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=1, epochs=1,
    ...                              chunks_per_epoch=4, batch_size=4,
    ...                              use_displacement=False, random_state=0)
    >>> objective = make_objective(
    ...     spotter, X[:2], y[:2], X_valid=X[2:], y_valid=y[2:],
    ...     search_spaces={"learning_rate": optuna.distributions.FloatDistribution(
    ...         1e-4, 1e-2, log=True)})
    >>> study = optuna.create_study(direction="maximize",
    ...                             sampler=optuna.samplers.RandomSampler(0))
    >>> study.optimize(objective, n_trials=2)
    >>> len(study.trials), list(study.best_params)
    (2, ['learning_rate'])
    """
    spaces = check_search_spaces(estimator, list(search_spaces), search_spaces)
    fixed = {}
    for name, value in (fixed_params or {}).items():
        fixed[resolve_name(estimator, name)] = value
    overlap = sorted(set(fixed) & set(spaces))
    if overlap:
        raise ValueError(f"{overlap} are both fixed and searched.")
    clone(estimator).set_params(**fixed)
    scorer = check_scoring(scoring)
    check_validation_hooks(estimator)
    validation, splits = check_validation(estimator, X, y, X_valid, y_valid, cv, groups)
    return SpottingObjective(
        estimator, list(X), list(y), spaces, fixed, validation, splits, scorer
    )
