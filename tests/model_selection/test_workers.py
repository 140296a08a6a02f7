"""Worker processes sharing studies: journal file, PostgreSQL, killed workers."""

import json
import signal
import time
import warnings

import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from sk_spotting.model_selection import _workers, tune_in_turn

from ._fakes import ScriptedSpotter
from .conftest import run_worker_script

# A worker: tune_in_turn on a shared storage, configured by one JSON argument.
WORKER = """
import json, sys, warnings
import optuna
from optuna.exceptions import ExperimentalWarning
from sk_spotting.datasets import make_spotting_data
from sk_spotting.model_selection import tune_in_turn
from tests.model_selection._fakes import ScriptedSpotter
from tests.model_selection.conftest import CLASSES, tiny_spotter

config = json.loads(sys.argv[1])
if config["storage"] == "journal":
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    storage = JournalStorage(JournalFileBackend(config["where"]))
elif config["storage"] == "heartbeat":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            config["where"], heartbeat_interval=1, grace_period=3
        )
else:
    storage = config["where"]
X, y = make_spotting_data(6, n_features=16, minutes=2.0, classes=CLASSES,
                          random_state=0)
if config["model"] == "tiny":
    estimator = tiny_spotter(epochs=1, chunks_per_epoch=8, use_displacement=False)
else:
    estimator = ScriptedSpotter(sleep=config["model"])
tune_in_turn(
    estimator, X[:4], y[:4], X_valid=X[4:], y_valid=y[4:],
    params=config["params"], n_trials_per_param=config["n_trials"],
    storage=storage, study_name=config["name"], random_state=config["seed"],
    pruner=optuna.pruners.NopPruner(), refit=False,
)
print("worker done")
"""


def _start(storage, where, name, seed, model="tiny", params=("learning_rate",), n=3):
    config = {
        "storage": storage,
        "where": str(where),
        "name": name,
        "seed": seed,
        "model": model,
        "params": list(params),
        "n_trials": n,
    }
    return run_worker_script(WORKER, json.dumps(config))


def _wait(processes, timeout=240):
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output
        assert "worker done" in output
        outputs.append(output)
    return outputs


def _check_two_workers_shared_studies(storage, name, params, n):
    workers = set()
    for param in params:
        study = optuna.load_study(study_name=f"{name}:{param}", storage=storage)
        trials = study.get_trials(deepcopy=False)
        done = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE
            and _workers.CARRIED_ATTR not in t.user_attrs
        ]
        # exactly n finished trials; anything else is a marked surplus trial
        assert len(done) == n, [(t.number, t.state) for t in trials]
        for t in trials:
            assert t.state == TrialState.COMPLETE or t.user_attrs.get(
                _workers.SURPLUS_ATTR
            )
        assert len({t.number for t in trials}) == len(trials)
        workers |= {t.user_attrs["worker"] for t in done}
    assert len(workers) == 2, workers  # both worker processes ran trials
    # the second study holds the first one's best value fixed in every worker
    first = optuna.load_study(study_name=f"{name}:{params[0]}", storage=storage)
    second = optuna.load_study(study_name=f"{name}:{params[1]}", storage=storage)
    fixed = second.user_attrs[_workers.FIXED_ATTR]
    assert fixed == {params[0]: first.best_params[params[0]]}


def test_two_workers_on_a_journal_file(tmp_path):
    journal = tmp_path / "journal.log"
    params = ["learning_rate", "sam_rho"]
    workers = [
        _start("journal", journal, "j", seed, params=params, n=2) for seed in (0, 1)
    ]
    _wait(workers)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    _check_two_workers_shared_studies(storage, "j", params, 2)


def test_two_workers_on_postgresql(postgres_url):
    params = ["learning_rate", "sam_rho"]
    workers = [
        _start("url", postgres_url, "pg", seed, params=params, n=2) for seed in (0, 1)
    ]
    _wait(workers)
    _check_two_workers_shared_studies(postgres_url, "pg", params, 2)


def _heartbeat_storage(url, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RDBStorage(url, heartbeat_interval=1, grace_period=3, **kwargs)


def _kill_mid_trial(url, name, storage):
    """Start a worker whose trials last a minute; SIGKILL it mid-trial."""
    worker = _start("heartbeat", url, name, 0, model=60.0, n=3)
    deadline = time.monotonic() + 180
    study_name = f"{name}:learning_rate"
    while True:
        assert worker.poll() is None, worker.communicate()[0]
        assert time.monotonic() < deadline, "the worker never started a trial"
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if study_name in names:
            study = optuna.load_study(study_name=study_name, storage=storage)
            if study.get_trials(states=(TrialState.RUNNING,)):
                break
        time.sleep(0.2)
    time.sleep(1.5)  # a heartbeat or two recorded
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    killed = study.get_trials(states=(TrialState.RUNNING,))
    assert [t.number for t in killed] == [0]
    return killed[0]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_killed_worker_trial_is_failed_or_retried(
    database, videos, tmp_path, request, monkeypatch
):
    X, y = videos
    monkeypatch.setattr(_workers, "POLL_SECONDS", 0.2)
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'tune.db'}"
        retry = False
    else:
        url = request.getfixturevalue("postgres_url")
        retry = True
    name = f"kill-{database}"
    watcher = _heartbeat_storage(url)
    killed = _kill_mid_trial(url, name, watcher)
    # another worker goes on: it fails the stale trial and fills the study
    callback = {}
    if retry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            callback = {
                "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(1)
            }
    storage = _heartbeat_storage(url, **callback)
    result = tune_in_turn(
        ScriptedSpotter(),
        X[:4],
        y[:4],
        X_valid=X[4:],
        y_valid=y[4:],
        params=["learning_rate"],
        n_trials_per_param=3,
        storage=storage,
        study_name=name,
        random_state=1,
        refit=False,
    )
    study = result.studies[0]
    trials = {t.number: t for t in study.get_trials()}
    assert trials[killed.number].state == TrialState.FAIL
    finished = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(finished) == 3
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    states = result.trials.set_index("number")["state"]
    assert states[killed.number] == "FAIL"
    if retry:
        (retried,) = [
            t for t in finished if t.system_attrs.get("failed_trial") == killed.number
        ]
        assert retried.params == killed.params
