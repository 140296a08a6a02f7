"""Whose trials are dead: owner records, heartbeats and the stale-trial sweep.

A worker records, in each trial it runs, who it is (host, boot, pid
namespace, pid and process start time) and, on storages without Optuna's
heartbeat (journal files, an ``RDBStorage`` made without one), refreshes a
heartbeat from a background thread; both are system attributes of the trial,
which Optuna's retry callbacks do not copy to the retried trial.  Before
each trial and while it waits for other workers, a worker sweeps the study's
RUNNING trials and fails those whose worker is gone:

* at once when that worker ran on this machine (same host name, boot and pid
  namespace) and its process no longer exists (or is a zombie, or its pid now
  belongs to a newer process);
* otherwise once its heartbeat has not moved for the grace period, as seen
  by the sweeping worker's own clock (so clocks of different machines need
  not agree).  A trial without any heartbeat counts from when the sweeper
  first saw it.

Storages with Optuna's heartbeat fail their stale trials themselves
(:func:`optuna.storages.fail_stale_trials`); there only the first rule is
added, and the storage's ``heartbeat_stale_trial_callback`` (e.g. a retry) is
run for the trials it fails.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import InMemoryStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

__all__ = [
    "HEARTBEAT_ATTR",
    "OWNER_ATTR",
    "Heartbeat",
    "StaleTrialSweeper",
    "owner_state",
    "this_process",
]

OWNER_ATTR = "sk_spotting:owner"
HEARTBEAT_ATTR = "sk_spotting:heartbeat"
FAILED_ATTR = "sk_spotting:failed_because"
# Heartbeats this many intervals old make a trial stale.
GRACE_INTERVALS = 3

logger = optuna.logging.get_logger("optuna.sk_spotting")


def _read(path):
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def _stat_fields(pid):
    """Fields of ``/proc/<pid>/stat`` after the command name, or None."""
    text = _read(f"/proc/{pid}/stat")
    if text is None or ")" not in text:
        return None
    return text.rsplit(")", 1)[1].split()


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def this_process():
    """Who this process is, as recorded in the trials it runs.

    Returns
    -------
    owner : dict
        ``host``, ``pid`` and, on Linux, ``boot`` (the kernel's boot id),
        ``pid_namespace`` and ``start`` (process start time in clock ticks
        since boot); these three are None elsewhere.
    """
    fields = _stat_fields(os.getpid())
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "boot": _read("/proc/sys/kernel/random/boot_id"),
        "pid_namespace": _pid_namespace(),
        "start": None if fields is None else fields[19],
    }


def owner_state(owner):
    """``"alive"``, ``"dead"`` or ``"unknown"`` for an owner record.

    ``"dead"`` only for a process of this machine (same host name, boot and
    pid namespace) that is gone, a zombie, or whose pid now belongs to a
    process started later; a process elsewhere is ``"unknown"``.
    """
    if not isinstance(owner, dict):
        return "unknown"
    here = this_process()
    if here["boot"] is None or any(
        owner.get(key) != here[key] for key in ("host", "boot", "pid_namespace")
    ):
        return "unknown"
    fields = _stat_fields(owner.get("pid"))
    if fields is None or fields[0] in ("Z", "X", "x"):
        return "dead"
    return "alive" if fields[19] == owner.get("start") else "dead"


def set_system_attr(trial, key, value):
    """Set a system attribute of a running ``optuna.trial.Trial``."""
    trial.storage.set_trial_system_attr(trial._trial_id, key, value)


class Heartbeat:
    """Refresh a trial's heartbeat attribute every ``interval`` seconds.

    A context manager: the thread starts on entry and is joined on exit,
    before the trial is told its result.
    """

    def __init__(self, trial, interval):
        self.trial, self.interval = trial, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name="sk_spotting-heartbeat", daemon=True
        )

    def _beat(self):
        while True:
            try:
                set_system_attr(self.trial, HEARTBEAT_ATTR, time.time())
            except UpdateFinishedTrialError:
                return  # failed by another worker: nothing left to keep alive
            except Exception as exc:  # a storage hiccup: try again next time
                logger.warning(
                    f"Could not record the heartbeat of trial {self.trial.number}: "
                    f"{type(exc).__name__}: {exc}"
                )
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def uses_own_heartbeat(storage):
    """Whether trials on ``storage`` need sk_spotting's heartbeat thread."""
    return not isinstance(storage, InMemoryStorage) and not is_heartbeat_enabled(
        storage
    )


class StaleTrialSweeper:
    """Fail the RUNNING trials of dead workers; see the module docstring.

    Parameters
    ----------
    grace_period : float
        Seconds without a new heartbeat after which a trial is stale.
    """

    def __init__(self, grace_period, clock=time.monotonic):
        self.grace_period = grace_period
        self.clock = clock
        self._seen = {}  # trial id -> (heartbeat, when first seen with it)

    def silence(self, trial):
        """Seconds since ``trial``'s heartbeat last moved, as seen here."""
        beat = trial.system_attrs.get(HEARTBEAT_ATTR)
        now = self.clock()
        last = self._seen.get(trial._trial_id)
        if last is None or last[0] != beat:
            self._seen[trial._trial_id] = (beat, now)
            return 0.0
        return now - last[1]

    def _reason(self, trial, own_heartbeat):
        owner = trial.system_attrs.get(OWNER_ATTR)
        if owner_state(owner) == "dead":
            return f"its worker {owner['host']}:{owner['pid']} is gone"
        if own_heartbeat:
            silence = self.silence(trial)
            if silence > self.grace_period:
                return f"no heartbeat for {silence:.0f} s"
        return None

    def sweep(self, study):
        """Fail stale trials of ``study``; returns the numbers of those failed."""
        storage = study._storage
        if isinstance(storage, InMemoryStorage):
            return []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        own_heartbeat = uses_own_heartbeat(storage)
        failed = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            reason = self._reason(trial, own_heartbeat)
            if reason is None:
                continue
            try:
                storage.set_trial_system_attr(trial._trial_id, FAILED_ATTR, reason)
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # finished, or failed by another worker meanwhile
            logger.warning(
                f"Trial {trial.number} of study {study.study_name!r} failed: "
                f"{reason}; another trial takes its place."
            )
            failed.append(trial.number)
            self._retry(study, trial._trial_id)
        return failed

    @staticmethod
    def _retry(study, trial_id):
        storage = study._storage
        if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
            callback = storage.get_heartbeat_stale_trial_callback()
            if callback is not None:
                callback(study, copy.deepcopy(storage.get_trial(trial_id)))


def describe_running(trials, sweeper, own_heartbeat):
    """One phrase per RUNNING trial: its number, worker and heartbeat."""
    parts = []
    for trial in trials:
        owner = trial.system_attrs.get(OWNER_ATTR) or {}
        text = f"trial {trial.number} (worker {owner.get('host', '?')}:"
        text += f"{owner.get('pid', '?')}"
        if own_heartbeat:
            text += f", heartbeat unchanged for {sweeper.silence(trial):.0f} s"
        parts.append(text + ")")
    return ", ".join(parts)
