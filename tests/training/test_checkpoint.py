"""TrainingCheckpoint files load with ``weights_only=True``: no code runs."""

from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sk_spotting.training import (
    ChunkSampler,
    ConfidenceCriterion,
    KeepBestWeights,
    SpottingNet,
    TrainingCheckpoint,
)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_planted_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "confidence.pt"
    torch.save({"module": _Payload(marker)}, path)
    with pytest.raises(
        ValueError, match="confidence.pt' refers to .* not loaded"
    ) as info:
        TrainingCheckpoint.load(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "confidence.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="confidence.pt.*not a readable checkpoint"):
        TrainingCheckpoint.load(path)


class _RecordNumpy(Callback):
    """A user callback recording numpy values, which weights_only refuses."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("score", np.float64(0.5))
        net.history.record("count", np.int64(3))


def test_everything_a_checkpoint_holds_loads_with_weights_only(tmp_path):
    rng = np.random.default_rng(0)
    video = rng.normal(size=(40, 3)).astype(np.float32)
    target = np.zeros((40, 2), np.float32)
    sampler = ChunkSampler(
        [video], [target], [np.ones_like(target)],
        chunk_frames=8, batch_size=4, chunks_per_epoch=8,
    )  # fmt: skip
    path = tmp_path / "confidence.pt"
    checkpoint = TrainingCheckpoint(path, 1, fingerprint={"params": {"a": "1"}})
    net = SpottingNet(
        torch.nn.Linear(3, 2),
        criterion=ConfidenceCriterion(),
        optimizer=torch.optim.AdamW,
        lr=1e-2,
        max_epochs=2,
        callbacks=[
            ("numpy", _RecordNumpy()),
            ("best", KeepBestWeights(monitor="score")),
            ("checkpoint", checkpoint),
        ],
    )
    net.partial_fit(sampler, epochs=1)
    state = TrainingCheckpoint.load(path)
    assert state["history"][0]["score"] == 0.5
    assert type(state["history"][0]["count"]) is int
    assert state["fingerprint"] == {"params": {"a": "1"}}
    assert set(state["module"]) == {"weight", "bias"}
    assert state["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert state["callbacks"]["best"]["best_score"] == 0.5
    assert state["callbacks"]["best"]["best_state"] is not None
    fresh = SpottingNet(
        torch.nn.Linear(3, 2),
        criterion=ConfidenceCriterion(),
        optimizer=torch.optim.AdamW,
        lr=1e-2,
        callbacks=[("best", KeepBestWeights(monitor="score"))],
    ).initialize()
    TrainingCheckpoint.restore(fresh, state)
    assert torch.equal(fresh.module_.weight, net.module_.weight)
