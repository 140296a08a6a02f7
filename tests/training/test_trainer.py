"""Resume safety: fingerprints of settings and data, checkpoint folders, temporaries."""

import numpy as np
import pandas as pd
import pytest
import torch

from sk_spotting import DenseAnchorSpotter
from sk_spotting._files import temporary_sibling
from sk_spotting.datasets import make_spotting_data
from sk_spotting.training import TrainingCheckpoint
from sk_spotting.training._trainer import (
    checkpoint_fingerprint,
    data_digest,
    load_checkpoint,
    prepare_checkpoint_folder,
)

from .._tiny import TINY as _TINY

TINY = {**_TINY, "validation_interval": 1}


@pytest.fixture(scope="module")
def data():
    return make_spotting_data(4, n_features=12, minutes=1.5, random_state=3)


def _events(times, labels):
    return [pd.DataFrame({"time": times, "label": labels})]


def test_data_digest_sees_count_shape_content_and_labels():
    video = np.arange(40, dtype=np.float32).reshape(20, 2)
    events = _events([1.0], ["Goal"])
    base = data_digest([video], events)
    assert data_digest([video.copy()], events) == base
    # a memory map or float64 array of the same values has the same identity
    assert data_digest([video.astype(np.float64)], events) == base
    assert data_digest([video, video], events + events)["n_videos"] == 2
    assert data_digest([video[:19]], events)["shapes"] != base["shapes"]
    changed = video.copy()
    changed[-1, 0] += 1  # the last frame is always sampled
    assert data_digest([changed], events)["content"] != base["content"]
    assert data_digest([video], _events([2.0], ["Goal"]))["labels"] != base["labels"]
    assert data_digest([video], _events([1.0], ["Card"]))["labels"] != base["labels"]


def _fingerprint(**changes):
    params = {"learning_rate": 1e-3, "epochs": 2}
    data = {"n_videos": 1, "shapes": [[20, 2]], "content": "a", "labels": "b"}
    data.update(changes.pop("data", {}))
    params.update(changes)
    return checkpoint_fingerprint(params, classes=["Goal"], n_features=2, data=data)


@pytest.mark.parametrize(
    "current, message",
    [
        (_fingerprint(learning_rate=0.1), "parameter 'learning_rate'"),
        (_fingerprint(data={"n_videos": 2}), "training data (1 videos in the"),
        (_fingerprint(data={"content": "c"}), "training data (video features"),
        (_fingerprint(data={"labels": "c"}), "training data (labels differ)"),
    ],
)
def test_load_checkpoint_names_what_differs(tmp_path, current, message):
    path = tmp_path / "confidence.pt"
    torch.save({"fingerprint": _fingerprint(), "complete": False}, path)
    assert load_checkpoint(path, _fingerprint())["complete"] is False
    with pytest.raises(ValueError, match="cannot resume") as info:
        load_checkpoint(path, current)
    assert message in str(info.value)


def test_prepare_checkpoint_folder_removes_only_its_own_files(tmp_path):
    for name in ["confidence.pt", "displacement.pt", "notes.txt", ".other.tmp"]:
        (tmp_path / name).write_bytes(b"x")
    stale = temporary_sibling(tmp_path / "confidence.pt")
    stale.write_bytes(b"half a checkpoint")
    removed = prepare_checkpoint_folder(
        tmp_path, ["confidence.pt", "displacement.pt"], resume=True
    )
    assert removed == [str(stale)]
    assert (tmp_path / "confidence.pt").exists()
    removed = prepare_checkpoint_folder(
        tmp_path, ["confidence.pt", "displacement.pt"], resume=False
    )
    assert sorted(p.rsplit("/", 1)[1] for p in removed) == [
        "confidence.pt",
        "displacement.pt",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp", "notes.txt"]


def test_checkpoints_load_without_unpickling_code(tmp_path, data):
    """A checkpoint holds only tensors and plain data: weights_only loading works."""
    X, y = data
    DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path).fit(
        X[:2], y[:2], X_valid=X[2:], y_valid=y[2:]
    )
    for name in ["confidence.pt", "displacement.pt"]:
        state = torch.load(tmp_path / name, weights_only=True)
        assert state["complete"] is True
        assert "data" in state["fingerprint"]
        assert TrainingCheckpoint.load(tmp_path / name)["complete"] is True


def test_resume_on_other_data_is_refused(tmp_path, data):
    X, y = data
    DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path).fit(X[:2], y[:2])
    other = [x + 1.0 for x in X[:2]]
    with pytest.raises(ValueError, match=r"training data \(video features differ\)"):
        DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path).fit(
            other, y[:2], resume=True
        )
    message = r"training data \(2 videos in the checkpoint, 3 now\)"
    with pytest.raises(ValueError, match=message):
        DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path).fit(
            X[:3], y[:3], resume=True
        )


class _Stop(Exception):
    pass


def _stop_confidence(network, epoch, score):
    if network == "confidence":
        raise _Stop


def test_fresh_fit_never_leaves_an_older_runs_checkpoint(tmp_path, data):
    """A killed fresh fit must not leave run A's displacement.pt for resume."""
    X, y = data
    spotter = DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path)
    spotter.fit(X[:2], y[:2])  # run A: both checkpoints, complete
    assert (tmp_path / "displacement.pt").exists()
    b = DenseAnchorSpotter(**{**TINY, "random_state": 7}, checkpoint_dir=tmp_path)
    with pytest.raises(_Stop):
        b.fit(
            X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], on_validation=_stop_confidence
        )
    assert not (tmp_path / "displacement.pt").exists()
    resumed = DenseAnchorSpotter(**{**TINY, "random_state": 7}, checkpoint_dir=tmp_path)
    resumed.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], resume=True)
    straight = DenseAnchorSpotter(**{**TINY, "random_state": 7}).fit(
        X[:2], y[:2], X_valid=X[2:], y_valid=y[2:]
    )
    for a, b in zip(resumed.predict_scores(X[:1]), straight.predict_scores(X[:1])):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)


def test_fit_cleans_temporaries_of_a_killed_checkpoint_write(tmp_path, data, capsys):
    X, y = data
    stale = temporary_sibling(tmp_path / "confidence.pt")
    stale.write_bytes(b"half a checkpoint")
    DenseAnchorSpotter(**TINY, checkpoint_dir=tmp_path, verbose=1).fit(X[:2], y[:2])
    assert not stale.exists()
    assert "removed from an earlier run" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
