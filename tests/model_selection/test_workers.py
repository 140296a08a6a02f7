"""Worker processes sharing studies: journal file, PostgreSQL, dead workers.

Dead workers are real processes killed with SIGKILL: one worker of two (the
other finishes the studies), a whole run (the rerun resumes it), and the
parent of two workers (they stop and the temporary folder goes away).
"""

import json
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np
import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from sk_spotting.model_selection import _liveness, _processes, _workers, tune_in_turn

from ._fakes import ScriptedSpotter
from ._postgres import wait_until
from .conftest import run_worker_script

# tune_in_turn on a shared storage, configured by JSON in $SK_SPOTTING_TEST_CONFIG
# (not on the command line: database URLs hold a password).
WORKER = """
import json, os, sys, warnings
import optuna
from sk_spotting.datasets import make_spotting_data
from sk_spotting.model_selection import tune_in_turn
from tests.model_selection._fakes import ScriptedSpotter
from tests.model_selection.conftest import CLASSES, tiny_spotter

config = json.loads(os.environ["SK_SPOTTING_TEST_CONFIG"])
if config["storage"] == "journal":
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    storage = JournalStorage(JournalFileBackend(config["where"]))
elif config["storage"] == "none":
    storage = None
else:
    storage = config["where"]
X, y = make_spotting_data(6, n_features=16, minutes=2.0, classes=CLASSES,
                          random_state=0)
if config["model"] == "tiny":
    estimator = tiny_spotter(epochs=1, chunks_per_epoch=8, use_displacement=False)
else:
    estimator = ScriptedSpotter(
        sleep=config["model"], record=config["record"], wait_for=config["wait_for"]
    )
tune_in_turn(
    estimator, X[:4], y[:4], X_valid=X[4:], y_valid=y[4:],
    params=config["params"], n_trials_per_param=config["n_trials"],
    storage=storage, study_name=config["name"], random_state=config["seed"],
    pruner=optuna.pruners.NopPruner(), refit=False, n_jobs=config["n_jobs"],
    heartbeat_interval=config["heartbeat"],
)
print("worker done", flush=True)
"""
LR, RHO = "learning_rate", "sam_rho"


def _start(
    storage,
    where,
    name,
    seed,
    model="tiny",
    params=(LR,),
    n=3,
    n_jobs=1,
    heartbeat=60.0,
    env=None,
    record=None,
    wait_for=0,
):
    config = {
        "record": None if record is None else str(record),
        "wait_for": wait_for,
        "storage": storage,
        "where": str(where),
        "name": name,
        "seed": seed,
        "model": model,
        "params": list(params),
        "n_trials": n,
        "n_jobs": n_jobs,
        "heartbeat": heartbeat,
    }
    env = {**(env or {}), "SK_SPOTTING_TEST_CONFIG": json.dumps(config)}
    return run_worker_script(WORKER, env=env)


def _wait(processes, timeout=240):
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output
        assert "worker done" in output
        outputs.append(output)
    return outputs


def _load(storage, name, param):
    return optuna.load_study(study_name=f"{name}:{param}", storage=storage)


def _check_exact_counts(storage, name, params, n):
    """Exactly ``n`` finished trials per study, none running, numbers unique."""
    for param in params:
        trials = _load(storage, name, param).get_trials(deepcopy=False)
        done = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE
            and _workers.CARRIED_ATTR not in t.user_attrs
        ]
        assert len(done) == n, [(t.number, t.state) for t in trials]
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        assert len({t.number for t in trials}) == len(trials)


def _check_two_workers_shared_studies(storage, name, params, n):
    _check_exact_counts(storage, name, params, n)
    workers = set()
    for param in params:
        trials = _load(storage, name, param).get_trials(deepcopy=False)
        for t in trials:  # anything not complete is a marked surplus trial
            assert t.state == TrialState.COMPLETE or t.user_attrs.get(
                _workers.SURPLUS_ATTR
            )
        workers |= {
            t.user_attrs["worker"]
            for t in trials
            if t.state == TrialState.COMPLETE
            and _workers.CARRIED_ATTR not in t.user_attrs
        }
    assert len(workers) == 2, workers  # both worker processes ran trials
    # the second study holds the first one's best value fixed in every worker
    first, second = (_load(storage, name, p) for p in params)
    fixed = second.user_attrs[_workers.FIXED_ATTR]
    assert fixed == {params[0]: first.best_params[params[0]]}


def test_two_workers_on_a_journal_file(tmp_path):
    journal = tmp_path / "journal.log"
    params = [LR, RHO]
    workers = [
        _start("journal", journal, "j", seed, params=params, n=2) for seed in (0, 1)
    ]
    _wait(workers)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    _check_two_workers_shared_studies(storage, "j", params, 2)


def test_two_workers_on_postgresql(postgres_url):
    params = [LR, RHO]
    workers = [
        _start("url", postgres_url, "pg", seed, params=params, n=2) for seed in (0, 1)
    ]
    _wait(workers)
    _check_two_workers_shared_studies(postgres_url, "pg", params, 2)


# ------------------------------------------------------------ dead workers
def _storage_of(kind, tmp_path, request):
    """``(name for _start, where, storage to read)`` of a journal or PostgreSQL."""
    if kind == "journal":
        journal = tmp_path / "journal.log"
        return "journal", journal, JournalStorage(JournalFileBackend(str(journal)))
    url = request.getfixturevalue("postgres_url")
    return "url", url, optuna.storages.RDBStorage(url)


def _running_owners(storage, study_name):
    """Owner records of the RUNNING trials of a study (none if it is absent)."""
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name not in names:
        return []
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [
        t.system_attrs[_liveness.OWNER_ATTR]
        for t in trials
        if _liveness.OWNER_ATTR in t.system_attrs
    ]


def _alive(owner):
    return _liveness.owner_state(owner) != "dead"


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_killed_worker_of_two_is_replaced_and_the_rerun_adds_nothing(
    kind, tmp_path, request
):
    name = f"kill-one-{kind}"
    kind, where, storage = _storage_of(kind, tmp_path, request)
    both = {"record": tmp_path / "fits.txt", "wait_for": 2}  # train at once
    parent = _start(
        kind, where, name, 0, model=1.0, params=[LR, RHO], n=3, n_jobs=2, **both
    )
    owners = []

    def both_busy():
        assert parent.poll() is None, parent.communicate()[0]
        owners[:] = _running_owners(storage, f"{name}:{LR}")
        return len({o["pid"] for o in owners}) == 2

    wait_until(both_busy, 180, "two workers never ran trials at once")
    victim = owners[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    output, _ = parent.communicate(timeout=180)
    assert parent.returncode == 0, output
    assert "died (killed by SIGKILL); the other workers ran its trials" in output
    _check_exact_counts(storage, name, [LR, RHO], 3)
    first = _load(storage, name, LR)
    (killed,) = [
        t
        for t in first.get_trials(deepcopy=False)
        if t.system_attrs.get(_liveness.OWNER_ATTR, {}).get("pid") == victim
        and t.state == TrialState.FAIL
    ]
    reason = killed.system_attrs[_liveness.FAILED_ATTR]
    assert reason.endswith(f":{victim} is gone")
    # the same command again: everything is done, nothing is run or counted twice
    before = {p: len(_load(storage, name, p).trials) for p in (LR, RHO)}
    _wait([_start(kind, where, name, 0, model=1.0, params=[LR, RHO], n=3, n_jobs=2)])
    assert {p: len(_load(storage, name, p).trials) for p in (LR, RHO)} == before


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_rerun_after_a_killed_run_fails_its_trial_and_completes(
    kind, tmp_path, request
):
    name = f"kill-all-{kind}"
    kind, where, storage = _storage_of(kind, tmp_path, request)
    run = _start(kind, where, name, 0, model=60.0, n=3)

    def busy():
        assert run.poll() is None, run.communicate()[0]
        return bool(_running_owners(storage, f"{name}:{LR}"))

    wait_until(busy, 180, "the run never started a trial")
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    # the rerun does not wait for the dead trial: it fails it and replaces it
    _wait([_start(kind, where, name, 1, model=0.0, n=3)], timeout=120)
    _check_exact_counts(storage, name, [LR], 3)
    trials = _load(storage, name, LR).get_trials(deepcopy=False)
    (killed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert killed.number == 0
    assert killed.system_attrs[_liveness.FAILED_ATTR].endswith(f":{run.pid} is gone")


def test_killed_parent_stops_its_workers_and_leaves_no_folder(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    parent = _start(
        "none",
        "",
        "orphans",
        0,
        model=60.0,
        n=3,
        n_jobs=2,
        env={"TMPDIR": str(temporary)},
        record=tmp_path / "fits.txt",
        wait_for=2,
    )
    owners = []

    def both_busy():
        assert parent.poll() is None, parent.communicate()[0]
        journals = list(temporary.glob("sk_spotting_tune_*/journal.log"))
        if not journals:
            return False
        storage = JournalStorage(JournalFileBackend(str(journals[0])))
        owners[:] = _running_owners(storage, f"orphans:{LR}")
        return len({o["pid"] for o in owners}) == 2

    wait_until(both_busy, 180, "two workers never ran trials at once")
    parent.send_signal(signal.SIGKILL)
    parent.communicate(timeout=30)
    pids = [o["pid"] for o in owners]
    wait_until(
        lambda: not any(_alive(owner) for owner in owners),
        60,
        f"workers {pids} outlived their parent",
    )
    wait_until(
        lambda: not list(temporary.iterdir()), 30, "the temporary folder is left"
    )


def test_folders_of_dead_calls_are_removed_and_live_ones_kept(tmp_path):
    dead, live = tmp_path / "sk_spotting_tune_dead", tmp_path / "sk_spotting_tune_live"
    other = tmp_path / "sk_spotting_tune_elsewhere"
    here = _liveness.this_process()
    for folder, owner in [
        (dead, {**here, "start": "0"}),  # this pid, started at another time
        (live, here),
        (other, {**here, "host": "another-machine", "start": "0"}),
    ]:
        folder.mkdir()
        (folder / _processes.OWNER_FILE).write_text(json.dumps(owner))
    assert _processes.remove_dead_folders(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


# --------------------------------------------------- heartbeats, in process
def _objective(trial):
    return trial.suggest_float("x", 0, 1)


def _foreign(trial):
    """Make ``trial`` look like one of a worker on another machine."""
    owner = {**_liveness.this_process(), "host": "another-machine"}
    _liveness.set_system_attr(trial, _liveness.OWNER_ATTR, owner)


def test_trial_of_another_machine_fails_once_its_heartbeat_stops(tmp_path, caplog):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=storage, direction="maximize")
    silent, beating = study.ask(), study.ask()
    _foreign(silent)
    _foreign(beating)
    # the beating trial keeps its heartbeat for 2 s, then finishes
    heartbeat = _liveness.Heartbeat(beating, 0.1)
    heartbeat.__enter__()

    def finish():
        heartbeat.__exit__(None, None, None)
        study.tell(beating, 0.5)

    timer = threading.Timer(2.0, finish)
    timer.start()
    optuna.logging.enable_propagation()
    try:
        _workers._optimize(study, _objective, n_trials=3, heartbeat_interval=0.2)
    finally:
        optuna.logging.disable_propagation()
        timer.join()
    trials = study.get_trials(deepcopy=False)
    assert trials[silent.number].state == TrialState.FAIL
    reason = trials[silent.number].system_attrs[_liveness.FAILED_ATTR]
    assert reason.startswith("no heartbeat for")
    assert trials[beating.number].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    # the wait was announced, with the trial waited for
    assert "waiting for trial 0 (worker another-machine:" in caplog.text
    assert "trial 1 (worker another-machine:" in caplog.text
    assert f"Trial 0 of study {study.study_name!r} failed: no heartbeat" in caplog.text


def test_our_own_trials_beat_while_they_run(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=storage, direction="maximize")
    beats = []

    def slow(trial):
        for _ in range(3):
            time.sleep(0.15)
            beats.append(
                study.trials[trial.number].system_attrs[_liveness.HEARTBEAT_ATTR]
            )
        return 1.0

    _workers._optimize(study, slow, n_trials=1, heartbeat_interval=0.1)
    assert len(set(beats)) >= 2  # it moved while the trial ran
    (trial,) = study.trials
    assert trial.system_attrs[_liveness.OWNER_ATTR] == _liveness.this_process()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_dead_trial_goes_through_the_storage_retry_callback(
    database, videos, tmp_path, request
):
    """A storage of the user's with a heartbeat and a retry callback."""
    X, y = videos
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'tune.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        storage = RDBStorage(
            url,
            heartbeat_interval=60,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(1),
        )
    name = f"retry-{database}"
    run = _start("url", url, name, 0, model=60.0, n=3)
    wait_until(
        lambda: bool(_running_owners(storage, f"{name}:{LR}")),
        180,
        "the run never started a trial",
    )
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    result = tune_in_turn(
        ScriptedSpotter(),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=[LR],
        n_trials_per_param=3,
        storage=storage,
        study_name=name,
        random_state=1,
        refit=False,
    )
    trials = {t.number: t for t in result.studies[0].get_trials()}
    assert trials[0].state == TrialState.FAIL
    finished = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(finished) == 3
    (retried,) = [t for t in finished if t.system_attrs.get("failed_trial") == 0]
    assert retried.params == trials[0].params
    assert result.trials.set_index("number")["state"][0] == "FAIL"


def test_an_error_in_a_worker_is_raised_and_stops_the_others(videos):
    X, y = videos
    with pytest.raises(ValueError, match="non-negative") as error:
        tune_in_turn(
            ScriptedSpotter(sleep=-1.0),  # time.sleep(-1) raises in every fit
            X[:4],
            y[:4],
            X_valid=X[4:],
            y_valid=y[4:],
            params=[LR],
            n_trials_per_param=2,
            n_jobs=2,
            refit=False,
        )
    if sys.version_info >= (3, 11):  # exceptions carry notes
        notes = "".join(error.value.__notes__)
        assert "in tuning worker" in notes and "Traceback" in notes


# ------------------------------------------------ videos and devices per worker
def test_workers_map_videos_and_take_local_classes(tmp_path, monkeypatch):
    from sk_spotting.datasets import make_spotting_data

    X, y = make_spotting_data(4, n_features=8, minutes=1.0, classes=["a", "b"])
    # two videos as .npy memory maps, two in memory (shared through files)
    for i in (0, 2):
        np.save(tmp_path / f"{i}.npy", X[i])
        X[i] = np.load(tmp_path / f"{i}.npy", mmap_mode="r")
    monkeypatch.setattr(_processes, "SHARE_BYTES", 0)

    class Local(ScriptedSpotter):  # not importable: travels by value
        pass

    result = tune_in_turn(
        Local(require_memmap=True),
        X[:2],
        y[:2],
        X_valid=X[2:],
        y_valid=y[2:],
        params=[LR],
        n_trials_per_param=2,
        n_jobs=2,
        random_state=0,
        refit=False,
    )
    assert set(result.trials["state"]) == {"COMPLETE"}


def test_each_worker_process_gets_its_own_device(videos, tmp_path):
    X, y = videos
    record = tmp_path / "devices.txt"
    tune_in_turn(
        ScriptedSpotter(sleep=0.3, record=str(record), wait_for=2),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=[LR],
        n_trials_per_param=6,
        n_jobs=2,
        devices=["cpu", "meta"],
        random_state=0,
        refit=False,
    )
    seen = {}
    for line in record.read_text().splitlines():
        pid, device = line.split()
        seen.setdefault(pid, set()).add(device)
    assert len(seen) == 2, seen  # both workers trained
    assert sorted(d for devices in seen.values() for d in devices) == ["cpu", "meta"]
