"""Workers on shared Optuna studies: exact trial counts, no lost or stuck trials.

Every worker runs the studies of :func:`tune_in_turn` in order.  Before each
trial it counts the study's trials; a trial that still finds itself beyond the
first ``n_trials`` (workers starting at once) ends at once as FAIL, marked
surplus, so each study gets exactly ``n_trials`` complete or pruned trials.
Trials of dead workers are failed by the stale-trial sweep (``_liveness``)
and replaced; a worker waiting for other workers' trials says what it waits
for.
"""

from __future__ import annotations

import copy
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._liveness import (
    GRACE_INTERVALS,
    OWNER_ATTR,
    Heartbeat,
    StaleTrialSweeper,
    describe_running,
    logger,
    set_system_attr,
    this_process,
    uses_own_heartbeat,
)
from ._objective import WORKER, SpottingObjective
from ._search_space import as_optuna, contains, suggest, value_of

__all__ = ["Plan", "check_storage", "run_worker", "seed_from"]

PARAM_ATTR = "sk_spotting:param"
FIXED_ATTR = "sk_spotting:fixed_params"
SURPLUS_ATTR = "sk_spotting:surplus"
CARRIED_ATTR = "sk_spotting:carried_from"
SAME_AS_ATTR = "sk_spotting:same_as"
# Trials that count towards n_trials_per_param (FAIL ones are replaced).
COUNTED = (
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.RUNNING,
    TrialState.WAITING,
)
SCHEMA_ATTEMPTS = 5  # tries to open a database whose tables others create
POLL_SECONDS = 0.5  # how often a worker looks whether others finished a study
WAIT_LOG_SECONDS = 30.0  # how often a waiting worker says what it waits for


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
    heartbeat_interval: float = 60.0
    device_key: str | None = None
    devices: tuple | None = None
    log_level: int | None = None

    def device_of(self, worker):
        """The device of ``worker``'s spotters (round-robin), or None."""
        if not self.devices:
            return None
        return self.devices[worker % len(self.devices)]


def _schema_race(exc):
    """Whether ``exc`` comes from workers creating Optuna's tables at once."""
    name = type(exc).__name__
    return name in {"IntegrityError", "ProgrammingError"} or (
        name == "OperationalError" and "already exists" in str(exc)
    )


def _open_database(url, heartbeat_interval):
    """``RDBStorage`` of ``url`` with a heartbeat, retried while others create it.

    Workers opening a fresh database at once race to create Optuna's tables
    (optuna/optuna#1092); the losers see the tables once the winner is done.
    """
    rng = np.random.default_rng()
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=GRACE_INTERVALS * heartbeat_interval,
                )
        except Exception as exc:  # sqlalchemy, driver and URL errors alike
            if _schema_race(exc) and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(rng.uniform(0.1, 0.5))
                continue
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ValueError(
                f"Cannot open the Optuna storage {url!r}: {type(exc).__name__}: {first}"
            ) from exc


def check_heartbeat_interval(heartbeat_interval):
    """A positive finite number of seconds, or a clear error."""
    if (
        isinstance(heartbeat_interval, bool)
        or not isinstance(heartbeat_interval, numbers.Real)
        or not 0 < heartbeat_interval < float("inf")
    ):
        raise ValueError(
            f"heartbeat_interval must be a positive number of seconds, got "
            f"{heartbeat_interval!r}."
        )
    return heartbeat_interval


def check_storage(storage, n_jobs, heartbeat_interval):
    """An Optuna storage that answers, or None; raise a clear error if not."""
    if storage is None:
        return None
    if isinstance(storage, str):
        return _open_database(storage, heartbeat_interval)
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


def _start_from_current(study, plan, key, previous):
    """Make the current value of ``key`` the study's first trial.

    The first study trains it; a later study carries over the previous
    study's best trial, which had exactly this configuration, with its score
    and reports.  So no study settles on a value worse than the one it
    replaces.  Skipped when the current value is outside the search space.
    """
    value = plan.estimator.get_params(deep=True)[key]
    space = plan.spaces[key]
    if not contains(space, value):
        return
    params, distributions = as_optuna(key, space, value)
    if previous is None:
        study.enqueue_trial(params)
        return
    best = previous.best_trial
    study.add_trial(
        optuna.trial.create_trial(
            params=params,
            distributions=distributions,
            value=best.value,
            intermediate_values=best.intermediate_values,
            user_attrs={**best.user_attrs, CARRIED_ATTR: previous.study_name},
        )
    )


def _counted(trials):
    """Trials that count towards the study's number (not carried, not FAIL)."""
    return [
        t for t in trials if t.state in COUNTED and CARRIED_ATTR not in t.user_attrs
    ]


class _Guarded:
    """Run the objective only if the trial is among the first ``n_trials``.

    The trial first records its worker (and device); on storages without
    Optuna's heartbeat a thread refreshes its heartbeat while it runs.  With
    ``searched=(key, space)``, a trial proposing a value that a complete
    trial of the study already scored (0 of a :class:`ZeroOrLogUniform`, a
    choice of a list) takes that trial's score and reports instead of
    training again.
    """

    def __init__(
        self, objective, n_trials, heartbeat_interval=None, device=None, searched=None
    ):
        self.objective, self.n_trials = objective, n_trials
        self.heartbeat_interval = heartbeat_interval
        self.device = device
        self.searched = searched

    def _twin(self, trial):
        """The complete trial of the study that used the proposed value, or None."""
        if self.searched is None:
            return None
        key, space = self.searched
        value = suggest(trial, key, space)
        complete = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        for other in complete:
            if value_of(other.params, key, space) == value:
                return other
        return None

    def __call__(self, trial):
        set_system_attr(trial, OWNER_ATTR, this_process())
        if self.device is not None:
            trial.set_user_attr("device", self.device)
        counted = _counted(trial.study.get_trials(deepcopy=False))
        first = sorted(t.number for t in counted)[: self.n_trials]
        if trial.number not in first:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise _Surplus(
                f"trial {trial.number} is surplus: the study already has "
                f"{self.n_trials} trials"
            )
        twin = self._twin(trial)
        if twin is not None:
            trial.set_user_attr("worker", WORKER)  # as the objective records it
            trial.set_user_attr(SAME_AS_ATTR, twin.number)
            for step, value in twin.intermediate_values.items():
                trial.report(value, step)
            return twin.value
        if self.heartbeat_interval is None:
            return self.objective(trial)
        with Heartbeat(trial, self.heartbeat_interval):
            return self.objective(trial)


class _WaitLog:
    """Say, every ``WAIT_LOG_SECONDS``, which running trials a worker waits for."""

    def __init__(self, study, sweeper, own_heartbeat):
        self.study, self.sweeper = study, sweeper
        self.own_heartbeat = own_heartbeat
        self.next = time.monotonic()

    def __call__(self, running):
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + WAIT_LOG_SECONDS
        grace = self.sweeper.grace_period
        logger.info(
            f"Study {self.study.study_name!r} is full; waiting for "
            f"{describe_running(running, self.sweeper, self.own_heartbeat)} "
            f"before the next study (a trial whose worker is gone is failed at "
            f"once on this machine, after {grace:.0f} s without heartbeat elsewhere)."
        )


def _optimize(
    study, objective, n_trials, *, heartbeat_interval=60.0, device=None, searched=None
):
    """Run trials until the study has ``n_trials`` finished ones.

    Waiting for other workers' last trials ends: each of them finishes, or
    is failed by the stale-trial sweep once its worker is gone, and replaced.
    """
    own_heartbeat = uses_own_heartbeat(study._storage)
    guarded = _Guarded(
        objective,
        n_trials,
        heartbeat_interval if own_heartbeat else None,
        device,
        searched,
    )
    sweeper = StaleTrialSweeper(GRACE_INTERVALS * heartbeat_interval)
    wait_log = _WaitLog(study, sweeper, own_heartbeat)
    while True:
        sweeper.sweep(study)
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        n_counted = len(_counted(trials))
        if n_counted < n_trials or TrialState.WAITING in states:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    study.optimize(guarded, n_trials=1, catch=(_Surplus,))
            except UpdateFinishedTrialError as exc:
                logger.warning(
                    f"A trial of study {study.study_name!r} was failed by another "
                    f"worker while it ran here ({exc}); its result is dropped."
                )
        elif TrialState.RUNNING in states:
            wait_log([t for t in trials if t.state == TrialState.RUNNING])
            time.sleep(POLL_SECONDS)  # other workers' last trials
        else:
            return


def _best_value(study, key, space):
    try:
        best = study.best_trial
    except ValueError:
        raise RuntimeError(
            f"Study {study.study_name!r} has no complete trial (all pruned or "
            f"failed): cannot choose {key!r}. Use more trials or a gentler pruner."
        ) from None
    return value_of(best.params, key, space)


def run_worker(plan, worker):
    """One worker: every study in turn; returns the best values."""
    estimator = plan.estimator
    device = plan.device_of(worker)
    if device is not None:
        estimator = clone(estimator).set_params(**{plan.device_key: device})
    fixed, previous = {}, None
    for index, (key, space) in enumerate(plan.spaces.items()):
        study, created = _open_study(plan, index, key, dict(fixed), worker)
        if created:
            _start_from_current(study, plan, key, previous)
        objective = SpottingObjective(
            estimator,
            plan.X,
            plan.y,
            {key: space},
            dict(fixed),
            plan.validation,
            plan.splits,
            plan.scorer,
        )
        _optimize(
            study,
            objective,
            plan.n_trials,
            heartbeat_interval=plan.heartbeat_interval,
            device=device,
            searched=(key, space),
        )
        fixed[key] = _best_value(study, key, space)
        previous = study
    return fixed


def _check_device(device):
    """A torch device string from ``device`` (an int is a CUDA index)."""
    import torch

    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        device = f"cuda:{int(device)}"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"devices holds {device!r}, which is not a torch device (give CUDA "
            f"indices such as 0, or names such as 'cuda:1' or 'cpu')."
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (parsed.index or 0) >= count:
            raise ValueError(
                f"devices holds {device!r}, but this machine has {count} CUDA "
                f"device(s)."
            )
    return str(parsed)


def check_devices(estimator, devices, n_jobs):
    """``(device_key, devices)`` of the workers' spotters, or ``(None, None)``.

    Given ``devices``, worker ``w`` uses ``devices[w % len(devices)]``.
    Without, several workers of a spotter with ``device="auto"`` on a machine
    with several GPUs spread over all of them; otherwise the device stays as
    set on the estimator.
    """
    from ._search_space import resolve_name

    try:
        key = resolve_name(estimator, "device")
    except ValueError:
        key = None
    if devices is None:
        if key is None or n_jobs < 2:
            return None, None
        if estimator.get_params(deep=True)[key] != "auto":
            return None, None
        import torch

        if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
            return None, None
        return key, tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    if key is None:
        raise ValueError(
            f"devices is given, but {type(estimator).__name__} has no 'device' "
            f"parameter to set."
        )
    if isinstance(devices, (str, int, np.integer)):
        devices = [devices]
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty: give at least one device, or None.")
    return key, tuple(_check_device(d) for d in devices)
