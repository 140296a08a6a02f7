"""Worker processes on shared Optuna studies: exact trial counts, no losses.

Every worker runs the studies of :func:`tune_in_turn` in order.  Before each
trial it counts the study's trials; a trial that still finds itself beyond the
first ``n_trials`` (workers starting at once) ends at once as FAIL, marked
surplus, so each study gets exactly ``n_trials`` complete or pruned trials.
Trials of killed workers are failed by Optuna's heartbeat (RDB storages) and
replaced.
"""

from __future__ import annotations

import copy
import numbers
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from joblib import Parallel, delayed
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import TrialState
from sklearn.utils import check_random_state

from ._objective import SpottingObjective

__all__ = ["Plan", "check_storage", "run_worker", "run_workers", "seed_from"]

PARAM_ATTR = "sk_spotting:param"
FIXED_ATTR = "sk_spotting:fixed_params"
SURPLUS_ATTR = "sk_spotting:surplus"
CARRIED_ATTR = "sk_spotting:carried_from"
# Trials that count towards n_trials_per_param (FAIL ones are replaced).
COUNTED = (
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.RUNNING,
    TrialState.WAITING,
)
SCHEMA_ATTEMPTS = 5  # tries to open a database whose tables others create
POLL_SECONDS = 0.5  # how often a worker looks whether others finished a study


class _Surplus(Exception):
    """A trial started by a worker after the study already had enough."""


@dataclass
class Plan:
    """Everything a worker needs; pickled to worker processes."""

    estimator: object
    X: list
    y: list
    validation: tuple | None
    splits: list | None
    scorer: object
    spaces: dict
    n_trials: int
    storage: object
    study_name: str
    sampler: object
    pruner: object
    seed: int | None


def _schema_race(exc):
    """Whether ``exc`` comes from workers creating Optuna's tables at once."""
    name = type(exc).__name__
    return name in {"IntegrityError", "ProgrammingError"} or (
        name == "OperationalError" and "already exists" in str(exc)
    )


def _open_database(url):
    """``RDBStorage`` of ``url``, retried while other workers create the schema.

    Workers opening a fresh database at once race to create Optuna's tables
    (optuna/optuna#1092); the losers see the tables once the winner is done.
    """
    rng = np.random.default_rng()
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.get_storage(url)
        except Exception as exc:  # sqlalchemy, driver and URL errors alike
            if _schema_race(exc) and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(rng.uniform(0.1, 0.5))
                continue
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ValueError(
                f"Cannot open the Optuna storage {url!r}: {type(exc).__name__}: {first}"
            ) from exc


def check_storage(storage, n_jobs):
    """An Optuna storage that answers, or None; raise a clear error if not."""
    if storage is None:
        return None
    if isinstance(storage, str):
        return _open_database(storage)
    if not isinstance(storage, BaseStorage):
        raise TypeError(
            f"storage must be None, a database URL or an optuna storage "
            f"(RDBStorage, JournalStorage...), got {type(storage).__name__}."
        )
    try:
        storage.get_all_studies()
    except Exception as exc:
        raise ValueError(
            f"Cannot read the Optuna storage {storage!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if n_jobs > 1 and isinstance(storage, InMemoryStorage):
        raise ValueError(
            "An InMemoryStorage cannot be shared by worker processes: use "
            "storage=None (a temporary journal file) or a file or database "
            "storage with n_jobs > 1."
        )
    return storage


def seed_from(random_state):
    if random_state is None:
        return None
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _make_sampler(plan, index, worker):
    if plan.sampler is not None:
        sampler = copy.deepcopy(plan.sampler)
        if worker > 0:
            sampler.reseed_rng()  # workers must not propose the same values
        return sampler
    seed = None
    if plan.seed is not None:
        state = np.random.SeedSequence([plan.seed, index, worker]).generate_state(1)
        seed = int(state[0])
    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=max(1, min(10, plan.n_trials // 2)),
        constant_liar=True,
    )


def _open_study(plan, index, key, fixed, worker):
    """Create or load the study of ``key``; returns ``(study, created)``."""
    name = f"{plan.study_name}:{key}"
    sampler = _make_sampler(plan, index, worker)
    pruner = copy.deepcopy(plan.pruner)
    try:
        study = optuna.create_study(
            storage=plan.storage,
            study_name=name,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(
            study_name=name, storage=plan.storage, sampler=sampler, pruner=pruner
        )
        created = False
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"Study {name!r} exists and minimizes; choose another name.")
    for attr, value in ((PARAM_ATTR, key), (FIXED_ATTR, fixed)):
        found = study.user_attrs.get(attr)
        if found is None:
            study.set_user_attr(attr, value)
        elif found != value:
            raise ValueError(
                f"Study {name!r} already exists with {attr}={found!r}, not "
                f"{value!r}: choose another study_name or delete the study."
            )
    return study, created


def _in_space(value, distribution):
    if isinstance(distribution, CategoricalDistribution):
        return any(value == choice for choice in distribution.choices)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    step = distribution.step
    if step is None:
        return not isinstance(distribution, IntDistribution) or value == int(value)
    position = (value - distribution.low) / step
    return abs(position - round(position)) < 1e-8


def _start_from_current(study, plan, key, previous):
    """Make the current value of ``key`` the study's first trial.

    The first study trains it; a later study carries over the previous
    study's best trial, which had exactly this configuration, with its score
    and reports.  So no study settles on a value worse than the one it
    replaces.  Skipped when the current value is outside the search space.
    """
    value = plan.estimator.get_params(deep=True)[key]
    distribution = plan.spaces[key]
    if not _in_space(value, distribution):
        return
    if previous is None:
        study.enqueue_trial({key: value})
        return
    best = previous.best_trial
    study.add_trial(
        optuna.trial.create_trial(
            params={key: value},
            distributions={key: distribution},
            value=best.value,
            intermediate_values=best.intermediate_values,
            user_attrs={**best.user_attrs, CARRIED_ATTR: previous.study_name},
        )
    )


def _fail_stale(study):
    """Mark trials of dead workers FAIL (storages with a heartbeat only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _counted(trials):
    """Trials that count towards the study's number (not carried, not FAIL)."""
    return [
        t for t in trials if t.state in COUNTED and CARRIED_ATTR not in t.user_attrs
    ]


class _Guarded:
    """Run the objective only if the trial is among the first ``n_trials``."""

    def __init__(self, objective, n_trials):
        self.objective, self.n_trials = objective, n_trials

    def __call__(self, trial):
        counted = _counted(trial.study.get_trials(deepcopy=False))
        first = sorted(t.number for t in counted)[: self.n_trials]
        if trial.number not in first:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise _Surplus(
                f"trial {trial.number} is surplus: the study already has "
                f"{self.n_trials} trials"
            )
        return self.objective(trial)


def _optimize(study, objective, n_trials):
    """Run trials until the study has ``n_trials`` finished ones."""
    guarded = _Guarded(objective, n_trials)
    while True:
        _fail_stale(study)
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        n_counted = len(_counted(trials))
        if n_counted < n_trials or TrialState.WAITING in states:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                study.optimize(guarded, n_trials=1, catch=(_Surplus,))
        elif TrialState.RUNNING in states:
            time.sleep(POLL_SECONDS)  # other workers' last trials
        else:
            return


def _best_value(study, key):
    try:
        best = study.best_trial
    except ValueError:
        raise RuntimeError(
            f"Study {study.study_name!r} has no complete trial (all pruned or "
            f"failed): cannot choose {key!r}. Use more trials or a gentler pruner."
        ) from None
    return best.params[key]


def run_worker(plan, worker):
    """One worker: every study in turn; returns the best values."""
    fixed, previous = {}, None
    for index, (key, distribution) in enumerate(plan.spaces.items()):
        study, created = _open_study(plan, index, key, dict(fixed), worker)
        if created:
            _start_from_current(study, plan, key, previous)
        objective = SpottingObjective(
            plan.estimator,
            plan.X,
            plan.y,
            {key: distribution},
            dict(fixed),
            plan.validation,
            plan.splits,
            plan.scorer,
        )
        _optimize(study, objective, plan.n_trials)
        fixed[key] = _best_value(study, key)
        previous = study
    return fixed


def _worker_process(plan, worker, n_threads):
    """Entry point of a worker process started by :func:`run_workers`."""
    import torch

    torch.set_num_threads(n_threads)
    return run_worker(plan, worker)


def run_workers(plan, n_jobs):
    """Run ``n_jobs`` workers in processes; returns the best values.

    joblib's loky processes receive memory-mapped videos by reference (file,
    offset, strides) and large in-memory arrays through one shared memory
    map, so the videos are not copied once per worker.
    """
    n_threads = max(1, (os.cpu_count() or 1) // n_jobs)
    results = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_worker_process)(plan, worker, n_threads) for worker in range(n_jobs)
    )
    return results[0]
