"""Tuning in turn with Optuna: one study per parameter, shareable by workers.

The paper tunes each hyper-parameter in turn on the validation set (learning
rate, then SAM rho, then weight decay, then mixup alpha).  ``tune_in_turn``
runs one Optuna study per parameter; each study holds the best values of the
previous ones fixed.  Any number of worker processes, on one machine or many,
can run ``tune_in_turn`` on the same storage and study name: each study gets
exactly ``n_trials_per_param`` finished trials, and every worker waits for the
last trials of a study before it starts the next one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from joblib import effective_n_jobs
from optuna.storages import InMemoryStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sklearn.base import clone

from ._objective import (
    check_scoring,
    check_validation,
    check_validation_hooks,
    fit_with_validation,
)
from ._processes import make_folder, remove_dead_folders, run_workers
from ._search_space import check_search_spaces, value_of
from ._workers import (
    CARRIED_ATTR,
    FIXED_ATTR,
    SURPLUS_ATTR,
    Plan,
    check_devices,
    check_heartbeat_interval,
    check_storage,
    run_worker,
    seed_from,
)

__all__ = ["TuningResult", "tune_in_turn"]


@dataclass(repr=False)
class TuningResult:
    """What :func:`tune_in_turn` found.

    Attributes
    ----------
    best_params : dict
        Best value of each tuned parameter, by full ``get_params`` key, in
        tuning order.
    best_scores : dict
        Best validation score of each parameter's study.
    best_estimator : estimator object
        A clone of the estimator with ``best_params`` set; fitted on ``X``
        (with the validation set, if one was given) when ``refit=True``.
    trials : pandas.DataFrame
        One row per trial of every study: ``param``, ``study``, ``number``,
        ``state``, ``value`` (for a pruned trial, its last reported
        validation score, as Optuna records it), ``duration`` (seconds),
        ``worker`` (host:pid), ``carried`` (True for the trial carried over
        from the previous study, see :func:`tune_in_turn`) and one column per
        tuned parameter with the value the trial used.
    studies : list of optuna.study.Study
        The studies, in tuning order (in-memory copies when ``n_jobs > 1``
        ran on a temporary journal).

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.model_selection import TuningResult
    >>> TuningResult({"learning_rate": 1e-3}, {"learning_rate": 0.5}, None,
    ...              pd.DataFrame(), [])
    TuningResult(best_params={'learning_rate': 0.001}, n_trials=0)
    """

    best_params: dict
    best_scores: dict
    best_estimator: object
    trials: pd.DataFrame
    studies: list

    def __repr__(self):
        return (
            f"TuningResult(best_params={self.best_params}, n_trials={len(self.trials)})"
        )


def _trials_table(studies, spaces, base_params):
    keys = list(spaces)
    rows = []
    for key, study in zip(keys, studies):
        fixed = study.user_attrs[FIXED_ATTR]
        for trial in study.get_trials(deepcopy=False):
            if trial.user_attrs.get(SURPLUS_ATTR):
                continue
            duration = trial.duration
            row = {
                "param": key,
                "study": study.study_name,
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "duration": None if duration is None else duration.total_seconds(),
                "worker": trial.user_attrs.get("worker"),
                "carried": CARRIED_ATTR in trial.user_attrs,
            }
            for other in keys:
                if other == key:
                    row[other] = value_of(trial.params, key, spaces[key])
                else:
                    row[other] = fixed.get(other, base_params[other])
            rows.append(row)
    columns = [
        "param",
        "study",
        "number",
        "state",
        "value",
        "duration",
        "worker",
        "carried",
    ]
    return pd.DataFrame(rows, columns=columns + list(keys))


def _in_memory(studies, storage):
    """In-memory copies of ``studies`` (their temporary journal goes away)."""
    memory = InMemoryStorage()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created"
    try:
        for study in studies:
            optuna.copy_study(
                from_study_name=study.study_name,
                from_storage=storage,
                to_storage=memory,
            )
    finally:
        optuna.logging.set_verbosity(level)
    return [optuna.load_study(study_name=s.study_name, storage=memory) for s in studies]


def tune_in_turn(
    estimator,
    X,
    y,
    *,
    X_valid=None,
    y_valid=None,
    cv=None,
    groups=None,
    params=("learning_rate", "sam_rho", "weight_decay", "mixup_alpha"),
    search_spaces=None,
    n_trials_per_param=10,
    scoring="loose",
    storage=None,
    study_name=None,
    n_jobs=1,
    random_state=None,
    pruner=None,
    sampler=None,
    refit=True,
    heartbeat_interval=60.0,
    devices=None,
):
    """Tune hyper-parameters one after the other, each with an Optuna study.

    For each parameter of ``params`` in turn, a study (named
    ``"<study_name>:<full parameter key>"``) runs ``n_trials_per_param``
    trials that search that parameter alone, with the parameters tuned
    before it fixed at their best values and the later ones as set on
    ``estimator``: the paper's protocol (learning rate, then SAM rho, then
    weight decay, then mixup alpha, on the validation set).  Each trial
    fits a clone with validation and reports the validation average-mAP
    to Optuna, so that ``pruner`` can stop bad trials early (see
    :func:`make_objective`).

    Parameters
    ----------
    estimator : estimator object
        A spotter whose ``fit`` takes ``X_valid``, ``y_valid`` and
        ``on_validation`` (:class:`~sk_spotting.DenseAnchorSpotter`), or a
        pipeline ending in one; the pipeline's transformers are fitted on the
        training videos and transform the validation videos.
    X : list of array-like of shape (n_frames_i, n_features)
        Training videos.
    y : list of pandas.DataFrame
        Events of each training video.
    X_valid : list of array-like, default=None
        Validation videos: every trial trains on ``X`` and is scored on
        them.
    y_valid : list of pandas.DataFrame, default=None
        Events of the validation videos.
    cv : int, cross-validation generator or iterable, default=None
        Without a validation set: each trial fits once per split and is
        scored on the held-out videos (mean over splits).  None is 5-fold.
    groups : array-like of shape (n_videos,), default=None
        Groups for group splitters, e.g. :func:`groups_from_meta`.
    params : sequence of str, default=("learning_rate", "sam_rho", \
"weight_decay", "mixup_alpha")
        Parameters in tuning order: ``get_params`` keys or their last part
        (``"learning_rate"`` finds ``"denseanchorspotter__learning_rate"``).
    search_spaces : dict, default=None
        Name to optuna distribution or list of values; parameters without an
        entry take the default spaces (see Notes).
    n_trials_per_param : int, default=10
        Trials run to the end (complete or pruned) in each study, whatever
        the number of workers; the first is the current value (see Notes).
    scoring : {"loose", "tight"} or scorer, default="loose"
        Loose or tight average-mAP, or a scorer from
        :func:`sk_spotting.metrics.make_spotting_scorer`.
    storage : str or optuna.storages.BaseStorage, default=None
        Where the studies live: None keeps them in memory (or in a temporary
        journal file shared by the ``n_jobs`` workers), a database URL
        (``"postgresql://user@host/db"``, ``"sqlite:///tune.db"``) or any
        optuna storage object, e.g. ``JournalStorage(JournalFileBackend(path))``
        or an ``RDBStorage`` with a heartbeat.  Workers on other machines
        join by calling ``tune_in_turn`` with the same storage and
        ``study_name``.
    study_name : str, default=None
        Prefix of the study names; required with ``storage``.
    n_jobs : int, default=1
        Worker processes started here (fresh ``spawn`` processes; -1 for
        one per CPU), each running trials of the same studies; torch threads
        are shared out between them.  A worker that dies leaves its trials to
        the others (see Notes).
    random_state : int, RandomState instance or None, default=None
        Seeds the default sampler of each study and worker.  Workers started
        separately (other machines) need different values or None.
    pruner : optuna.pruners.BasePruner, default=None
        Pruner of every study (copied per study); None is Optuna's default,
        :class:`~optuna.pruners.MedianPruner`; pass
        :class:`~optuna.pruners.NopPruner` to never prune.
    sampler : optuna.samplers.BaseSampler, default=None
        Sampler of every study (copied per study and reseeded per worker);
        None is a seeded :class:`~optuna.samplers.TPESampler` with
        ``constant_liar=True`` and ``n_trials_per_param // 2`` random startup
        trials (at most 10).
    refit : bool, default=True
        Fit ``best_estimator`` on ``X`` (validating on ``X_valid`` when given)
        after tuning.
    heartbeat_interval : float, default=60.0
        Seconds between the heartbeats of a running trial.  A trial whose
        worker died is failed and replaced: at once when that worker ran on
        this machine, else once its heartbeat has not moved for three
        intervals.  A database URL gets Optuna's heartbeat with this
        interval; other storages (journal files, an ``RDBStorage`` made
        without a heartbeat) get sk_spotting's (see Notes).
    devices : sequence of int or str, default=None
        Devices of the workers' spotters, round-robin: worker ``w`` sets the
        estimator's ``device`` parameter to ``devices[w % len(devices)]``
        (an int ``i`` is ``"cuda:i"``).  None leaves the device as set,
        except that several workers of a spotter with ``device="auto"`` on a
        machine with several GPUs spread over all of them.  ``best_estimator``
        keeps the estimator's own device.

    Returns
    -------
    result : TuningResult
        ``best_params``, ``best_scores``, ``best_estimator``, the ``trials``
        table and the ``studies``.

    Raises
    ------
    ValueError
        Before any training: unknown or ambiguous parameter names, an empty
        or single-valued search space or one the estimator rejects, a scorer
        that is not an average-mAP scorer, a storage that cannot be reached,
        ``storage`` without ``study_name``, unknown devices, or invalid data.
    RuntimeError
        If a study ends without any complete trial, or every worker process
        died before the studies were complete.

    See Also
    --------
    make_objective : The objective of each trial, for hand-written studies.
    groups_from_meta : Groups that keep the halves of a game together.

    Notes
    -----
    Default search spaces (:data:`DEFAULT_SEARCH_SPACES`): ``learning_rate``
    log-uniform in [1e-4, 1e-2] and ``weight_decay`` in [2e-5, 2e-3], around
    the reference's 1e-3 and 2e-4; ``sam_rho`` 0 (off) or log-uniform in
    [0.01, 1] and ``mixup_alpha`` 0 or log-uniform in [0.04, 4]
    (:class:`ZeroOrLogUniform`).  The reference's rho of 0.5 suits 32,000
    steps of 256-chunk batches; on short schedules good values lie a decade
    lower, or at 0 (docs/tuning.md).

    **The current value first.**  The first trial of the first study is the
    estimator's own value of the parameter (when it lies in the search
    space), so the defaults are the baseline.  Each later study starts with
    the previous study's best trial, whose configuration is exactly the
    current value of its parameter, carried over with its score and reports
    (not trained again, not counted in ``n_trials_per_param``, ``carried``
    in ``trials``).  So no study settles on a value worse than the one it
    replaces, and ``best_scores`` never decreases along ``params``.

    **Values already scored.**  A trial that proposes a value a complete
    trial of the same study already scored (0 of a :class:`ZeroOrLogUniform`,
    a repeated choice of a list, the carried value) takes that trial's score
    and reports, with the user attribute ``"sk_spotting:same_as"`` naming it,
    instead of training the same configuration again; it still counts.

    **Workers.**  Each worker counts the study's complete, pruned, running
    and waiting trials before starting one, and a trial that still finds
    itself beyond the first ``n_trials_per_param`` (two workers starting at
    once) ends at once as FAIL with the user attribute
    ``"sk_spotting:surplus"``; such trials are left out of ``trials``.  A
    worker then waits for the other workers' running trials before moving to
    the next parameter, and logs which trials it waits for.

    **Dead workers.**  Each trial records its worker (system attribute
    ``"sk_spotting:owner"``: host, boot, pid and process start time).  Before
    each trial and while waiting, workers fail the RUNNING trials of dead
    workers (system attribute ``"sk_spotting:failed_because"``) and run
    replacements: at once for a worker of this machine whose process is
    gone, else once the trial's heartbeat is ``3 * heartbeat_interval``
    seconds old (Optuna's heartbeat on databases, the system attribute
    ``"sk_spotting:heartbeat"`` elsewhere; a heartbeat-enabled storage's
    ``heartbeat_stale_trial_callback``, e.g. a retry, runs for them).  So
    when one of the ``n_jobs`` workers is killed the others finish the
    studies, and rerunning a killed call resumes it.  Killing the calling
    process stops its workers within seconds and removes the temporary
    folder; a folder left by a process killed with all its workers is
    removed by the next call.

    Rerunning with the same storage and ``study_name`` resumes: studies with
    enough trials are only read.  A study made for another parameter or
    other fixed values raises a ``ValueError``.

    With ``n_jobs > 1`` the workers are fresh processes (``spawn``) that
    receive memory-mapped videos by reference and other large arrays through
    one memory-mapped file each, not copied; scripts must call
    ``tune_in_turn`` under ``if __name__ == "__main__":``.  Optuna's log
    level in the calling process (``optuna.logging.set_verbosity``) holds in
    the workers too.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> from sk_spotting.model_selection import tune_in_turn
    >>> X, y = make_spotting_data(3, n_features=8, minutes=1.0, classes=["a"],
    ...                           random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=1, epochs=1,
    ...                              chunks_per_epoch=4, batch_size=4,
    ...                              use_displacement=False, random_state=0)
    >>> result = tune_in_turn(
    ...     spotter, X[:2], y[:2], X_valid=X[2:], y_valid=y[2:],
    ...     params=["learning_rate", "sam_rho"], n_trials_per_param=2,
    ...     search_spaces={"sam_rho": [0.0, 0.5]}, random_state=0, refit=False)
    >>> list(result.best_params)
    ['learning_rate', 'sam_rho']
    >>> result.trials[["param", "number", "state", "carried"]].shape
    (5, 4)
    """
    spaces = check_search_spaces(estimator, params, search_spaces)
    scorer = check_scoring(scoring)
    check_validation_hooks(estimator)
    if not isinstance(n_trials_per_param, (int, np.integer)) or n_trials_per_param < 1:
        raise ValueError(
            f"n_trials_per_param must be a positive integer, got "
            f"{n_trials_per_param!r}."
        )
    if pruner is not None and not isinstance(pruner, optuna.pruners.BasePruner):
        raise TypeError(f"pruner must be an optuna pruner, got {pruner!r}.")
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise TypeError(f"sampler must be an optuna sampler, got {sampler!r}.")
    heartbeat_interval = check_heartbeat_interval(heartbeat_interval)
    n_jobs = effective_n_jobs(n_jobs)
    device_key, devices = check_devices(estimator, devices, n_jobs)
    if storage is not None and study_name is None:
        raise ValueError(
            "Give a study_name with a storage: workers find the studies by name."
        )
    if study_name is not None and not isinstance(study_name, str):
        raise TypeError(f"study_name must be a string, got {study_name!r}.")
    validation, splits = check_validation(estimator, X, y, X_valid, y_valid, cv, groups)
    storage = check_storage(storage, n_jobs, heartbeat_interval)
    seed = seed_from(random_state)  # before the folder: a bad value leaves none
    folder = temporary = None
    if n_jobs > 1:
        remove_dead_folders()
        folder = make_folder()
    if storage is None:
        study_name = study_name or "sk_spotting"
        if n_jobs > 1:
            temporary = str(folder / "journal.log")
            storage = JournalStorage(JournalFileBackend(temporary))
        else:
            storage = InMemoryStorage()
    plan = Plan(
        estimator=estimator,
        X=list(X),
        y=list(y),
        validation=validation,
        splits=splits,
        scorer=scorer,
        spaces=spaces,
        n_trials=int(n_trials_per_param),
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        heartbeat_interval=float(heartbeat_interval),
        device_key=device_key,
        devices=devices,
        log_level=optuna.logging.get_verbosity(),
    )
    keys = list(spaces)
    try:
        if n_jobs > 1:
            best_params = run_workers(plan, n_jobs, folder)
        else:
            best_params = run_worker(plan, 0)
        studies = [
            optuna.load_study(study_name=f"{study_name}:{key}", storage=storage)
            for key in keys
        ]
        if temporary is not None:
            studies = _in_memory(studies, storage)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    base_params = estimator.get_params(deep=True)
    best_scores = {key: study.best_value for key, study in zip(keys, studies)}
    best_estimator = clone(estimator).set_params(**best_params)
    if refit:
        valid = validation or (None, None)
        fit_with_validation(best_estimator, plan.X, plan.y, *valid)
    return TuningResult(
        best_params=best_params,
        best_scores=best_scores,
        best_estimator=best_estimator,
        trials=_trials_table(studies, spaces, base_params),
        studies=studies,
    )
