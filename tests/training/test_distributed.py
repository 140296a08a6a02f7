"""Data-parallel training: two gloo processes on the CPU started by torchrun.

The fixture ``two_ranks`` runs tests/training/_distributed_worker.py once in
two processes (``torchrun --standalone --nproc-per-node 2``) and the tests
check what it recorded; the other tests run in this process.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
import torch.distributed as dist

from sk_spotting import DenseAnchorSpotter, load_spotter
from sk_spotting.datasets import make_soccernet_tree, make_spotting_data
from sk_spotting.training._distributed import (
    DistributedContext,
    rank_batch,
    rank_seed,
    resolve_distributed,
)

from .._tiny import TINY

WORKER = Path(__file__).with_name("_distributed_worker.py")
ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK_LIMIT = 300  # seconds; the run takes about 30 s on two busy cores
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Run the worker in two processes; the folder of what rank 0 recorded."""
    out = tmp_path_factory.mktemp("two_ranks")
    train_root = tmp_path_factory.mktemp("soccernet")
    make_soccernet_tree(train_root, 2, n_features=8, minutes=2.0, random_state=0)
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", str(WORKER), str(out), str(train_root)]
    # its own session, so that a hung run is killed with every process it started
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=WALL_CLOCK_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(
            f"two-process run still running after {WALL_CLOCK_LIMIT} s:\n"
            + output[-4000:]
        )
    if process.returncode != 0:
        pytest.fail(
            f"two-process run failed ({process.returncode}):\n" + output[-6000:]
        )
    return out


def _relative(a, b):
    return float((a - b).norm() / b.norm())


def _flat(state):
    return torch.cat([value.flatten() for value in state.values()])


def test_two_ranks_on_halves_of_a_batch_take_the_steps_of_one_process(two_ranks):
    # Both ranks draw the same global batch and train on its halves: with
    # averaged gradients and SAM's global norm, each step is that of one
    # process on the whole batch, up to float summation order.  Measured on
    # a 2-core CPU box: 2e-7 on the first step's gradient, 3e-8 on the
    # weights and losses after 8 steps; a SAM norm of each rank's own
    # gradient gives 0.4 on the first gradient, summed gradients 1.0.
    result = torch.load(two_ranks / "equivalence.pt", weights_only=False)
    two, one = result["two"], result["one"]
    assert len(two["gradients"]) == len(one["gradients"]) == 8
    assert _relative(two["gradients"][0], one["gradients"][0]) < 1e-5
    assert _relative(_flat(two["weights"]), _flat(one["weights"])) < 1e-4
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
    for key, value in result["rank1_weights"].items():
        torch.testing.assert_close(value, two["weights"][key], rtol=0, atol=0)


def test_distributed_fit_learns_and_every_rank_ends_alike(two_ranks):
    spotter = joblib.load(two_ranks / "spotter.joblib")
    losses = spotter.confidence_net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    recorded = torch.load(two_ranks / "spotter.pt", weights_only=False)
    rank0, rank1 = recorded["histories"]
    assert rank0 == rank1  # same mean losses and validation scores
    assert any("valid_average_map" in row for row in rank0[0])
    confidence, displacement = recorded["rank1_weights"]
    for net, state in (
        (spotter.confidence_net_, confidence),
        (spotter.displacement_net_, displacement),
    ):
        for key, value in net.module_.state_dict().items():
            assert torch.equal(value, state[key]), key
        assert net.distributed is None  # the saved model carries no rank


def test_distributed_model_predicts_in_one_process(two_ranks):
    spotter = joblib.load(two_ranks / "spotter.joblib")
    X, _ = make_spotting_data(1, n_features=8, minutes=2.0, random_state=5)
    events = spotter.predict(X)
    assert list(events[0].columns) == ["time", "label", "confidence"]
    assert np.isfinite(spotter.predict_scores(X)[0].confidence).all()


def test_two_processes_come_close_to_one_with_the_same_global_batch(two_ranks):
    # Each rank draws its own 4 chunks, so the runs differ; measured on this
    # tiny data: final confidence loss 0.638 (two) against 0.623 (one).
    two = joblib.load(two_ranks / "spotter.joblib").confidence_net_.history
    one = joblib.load(two_ranks / "alone.joblib").confidence_net_.history
    assert len(two) == len(one)
    assert [r["train_batch_count"] for r in two] == [
        r["train_batch_count"] for r in one
    ]
    assert two[-1, "train_loss"] == pytest.approx(one[-1, "train_loss"], rel=0.1)


def test_resumed_distributed_fit_equals_the_uninterrupted_one(two_ranks):
    reference = joblib.load(two_ranks / "spotter.joblib")
    resumed = joblib.load(two_ranks / "resumed.joblib")
    X, _ = make_spotting_data(3, n_features=8, minutes=2.0, random_state=1)
    for a, b in zip(reference.predict_scores(X), resumed.predict_scores(X)):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)


def test_checkpoint_keeps_every_rank_stream_and_refuses_another_count(two_ranks):
    folder = two_ranks / "interrupted_checkpoints"
    state = torch.load(folder / "displacement.pt", weights_only=False)
    assert not state["complete"] and state["world_size"] == 2
    assert len(state["rank_rng"]) == 2
    assert not torch.equal(state["rank_rng"][0]["rng"], state["rank_rng"][1]["rng"])
    X, y = make_spotting_data(3, n_features=8, minutes=2.0, random_state=1)
    params = {**TINY, "epochs": 6, "validation_interval": 2}
    spotter = DenseAnchorSpotter(**params, checkpoint_dir=folder)
    with pytest.raises(ValueError, match="2 process.*runs on 1"):
        spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], resume=True)


def test_an_error_on_rank_0_reaches_every_rank(two_ranks):
    rank0, rank1 = json.loads((two_ranks / "errors.json").read_text())
    assert rank0 == "ValueError: cannot resume from confidence.pt: parameter 'epochs'"
    assert rank1 == (
        "ValueError: rank 0 failed: ValueError: cannot resume from "
        "confidence.pt: parameter 'epochs'"
    )


def test_cli_fit_under_torchrun_prints_and_saves_on_rank_0_only(two_ranks):
    rank0 = (two_ranks / "cli_rank0.txt").read_text()
    assert "saved" in rank0 and "training on" in rank0
    assert (two_ranks / "cli_rank1.txt").read_text() == ""
    assert (two_ranks / "cli.checkpoints" / "displacement.pt").exists()
    spotter = load_spotter(two_ranks / "cli.safetensors")
    assert len(spotter.displacement_net_.history) == 2
    X, _ = make_spotting_data(1, n_features=8, minutes=2.0, random_state=5)
    assert len(spotter.predict(X)) == 1


# ------------------------------------------------------------ one process
@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def one_rank_group(no_torchrun):
    """A process group of this process alone (world size 1)."""
    dist.init_process_group(
        "gloo",
        store=dist.HashStore(),
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(seconds=30),
    )
    yield
    dist.destroy_process_group()


def test_auto_is_off_outside_torchrun_and_true_needs_it(no_torchrun, monkeypatch):
    assert resolve_distributed("auto", "cpu") is None
    assert resolve_distributed(False, "cpu") is None
    with pytest.raises(ValueError, match="start the fit with torchrun"):
        resolve_distributed(True, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")  # not all of torchrun's variables
    assert resolve_distributed("auto", "cpu") is None


def test_spotter_with_distributed_true_outside_torchrun_fails_early(no_torchrun):
    X, y = make_spotting_data(1, n_features=8, minutes=1.0, random_state=0)
    with pytest.raises(ValueError, match="distributed=True.*torchrun"):
        DenseAnchorSpotter(**TINY, distributed=True).fit(X, y)


def test_batch_must_split_evenly_over_the_processes():
    four = DistributedContext(rank=3, world_size=4)
    with pytest.raises(ValueError, match="batch_size=10 does not split evenly over 4"):
        rank_batch(10, 64, four)
    # an epoch keeps the one-process number of steps, ceil(100 / 8) = 13
    assert rank_batch(8, 100, four) == (2, 26)


def test_ranks_draw_from_different_streams():
    assert len({rank_seed(0, rank) for rank in range(1, 9)}) == 8
    assert rank_seed(0, 1) != rank_seed(1, 1)


def test_one_rank_group_fits_exactly_as_one_process(one_rank_group):
    # rank 0 draws the one-process stream and averaging over one rank is
    # exact, so the data-parallel path (SAM and mixup on) changes nothing
    X, y = make_spotting_data(2, n_features=8, minutes=1.0, random_state=0)
    params = {**TINY, "sam_rho": 0.5, "mixup_alpha": 2.0}
    alone = DenseAnchorSpotter(**params, distributed=False).fit(X, y)
    ranked = DenseAnchorSpotter(**params, distributed=True).fit(X, y)
    assert "_parallel" not in ranked.confidence_net_.__dict__
    for a, b in zip(alone.predict_scores(X), ranked.predict_scores(X)):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)
