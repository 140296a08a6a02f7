"""Training one network of the spotter: the recipe of docs/method.md, Training.

:func:`train_network` assembles a :class:`~sk_spotting.training.SpottingNet`
(AdamW with Keras's epsilon and the reference's decoupled weight decay, the
linear decay to 1/100, SAM, mixup), its callbacks (validation average-mAP,
best weights, checkpoints, progress, the user's own), seeds it, restores a
checkpoint when resuming, and trains it.  The checkpoint helpers make sure a
resumed fit continues the same run: :func:`checkpoint_fingerprint` covers the
settings *and* the training data, and :func:`load_checkpoint` names what
differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from .._files import remove_stale_temporaries
from ._callbacks import (
    KeepBestWeights,
    LinearDecayScheduler,
    TrainingCheckpoint,
    ValidationScore,
    _steps_done,
)
from ._distributed import DistributedContext, broadcast_from_main, rank_seed
from ._net import SpottingNet
from ._optim import KerasAdamW
from ._progress import StepProgress

__all__ = [
    "NetworkSettings",
    "RESERVED_CALLBACK_NAMES",
    "checkpoint_fingerprint",
    "data_digest",
    "load_checkpoint",
    "prepare_checkpoint_folder",
    "train_network",
]

ADAM_EPSILON = 1e-7  # Keras's Adam epsilon, placed as Keras places it
ADAM_BETAS = (0.9, 0.999)
END_LEARNING_RATE_FRACTION = 0.01  # linear decay to 1/100
RESERVED_CALLBACK_NAMES = frozenset(
    {
        "epoch_timer",
        "lr_decay",
        "validation",
        "best_weights",
        "checkpoint",
        "duration",
        "progress",
    }
)
"""Names of the library's own callbacks; user callbacks cannot take them."""

SAMPLED_ROWS = 16  # rows per video hashed by data_digest


@dataclass
class NetworkSettings:
    """How one network is trained (see :class:`DenseAnchorSpotter`).

    Attributes
    ----------
    name : str
        "confidence" or "displacement".
    learning_rate, weight_decay, sam_rho, mixup_alpha : float
        Optimizer, SAM and mixup settings; the weight decay is the
        reference's per-step decay, not multiplied by the learning rate.
    epochs : int
        Epochs to train.
    decay_epochs : int
        Epochs over which the learning rate and weight decay reach 1/100.
    validation_interval : int
        Epochs between validation scores and checkpoints.
    device : str
        Torch device.
    autocast_dtype : torch.dtype or None
        Autocast type of the forward passes.
    compile : dict or None
        :func:`torch.compile` options of the training step, or None.
    callbacks : list of (str, skorch.callbacks.Callback)
        The user's callbacks, run after the library's own.
    distributed : DistributedContext or None
        This process's rank when the network is trained data-parallel (see
        :func:`train_network`), or None.

    Examples
    --------
    >>> from sk_spotting.training._trainer import NetworkSettings
    >>> NetworkSettings("confidence", 1e-3, 2e-4, 0.0, 0.0, epochs=2,
    ...                 decay_epochs=2, validation_interval=1).device
    'cpu'
    """

    name: str
    learning_rate: float
    weight_decay: float
    sam_rho: float
    mixup_alpha: float
    epochs: int
    decay_epochs: int
    validation_interval: int
    device: str = "cpu"
    autocast_dtype: torch.dtype | None = None
    compile: dict | None = None
    callbacks: list = field(default_factory=list)
    distributed: DistributedContext | None = None


def data_digest(videos, events):
    """A cheap identity of a training set: counts, shapes and sampled contents.

    Hashes the number of videos, each video's shape, :data:`SAMPLED_ROWS`
    evenly spaced frames of each video (as float32, so a memory map and an
    array of the same values agree) and every event (time, label).  Reading a
    few rows per video keeps it cheap on memory-mapped SoccerNet features.

    Parameters
    ----------
    videos : list of ndarray of shape (n_frames_i, n_features)
    events : list of pandas.DataFrame
        With ``time`` and ``label`` columns.

    Returns
    -------
    digest : dict
        ``{"n_videos": int, "shapes": list, "content": str, "labels": str}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sk_spotting.training._trainer import data_digest
    >>> events = [pd.DataFrame({"time": [1.0], "label": ["Goal"]})]
    >>> a = data_digest([np.zeros((10, 2))], events)
    >>> b = data_digest([np.ones((10, 2))], events)
    >>> a["shapes"], a["content"] == b["content"], a["labels"] == b["labels"]
    ([[10, 2]], False, True)
    """
    content = hashlib.blake2b(digest_size=16)
    labels = hashlib.blake2b(digest_size=16)
    for video in videos:
        n_frames = video.shape[0]
        rows = np.unique(np.linspace(0, max(n_frames - 1, 0), SAMPLED_ROWS).round())
        sample = np.ascontiguousarray(video[rows.astype(np.int64)], dtype=np.float32)
        content.update(np.asarray(video.shape, dtype=np.int64).tobytes())
        content.update(sample.tobytes())
    for table in events:
        times = np.ascontiguousarray(table["time"].to_numpy(dtype=np.float64))
        labels.update(np.int64(len(times)).tobytes())
        labels.update(times.tobytes())
        labels.update("\x00".join(map(str, table["label"])).encode("utf-8"))
    return {
        "n_videos": len(videos),
        "shapes": [[int(s) for s in video.shape] for video in videos],
        "content": content.hexdigest(),
        "labels": labels.hexdigest(),
    }


def checkpoint_fingerprint(params, *, classes, n_features, data):
    """What a checkpoint must share with a fit to be resumed by it.

    Parameters
    ----------
    params : dict
        The estimator's parameters that change what is trained.
    classes : sequence of str
    n_features : int
    data : dict
        :func:`data_digest` of the training set.

    Returns
    -------
    fingerprint : dict
        Plain strings, numbers and lists (safe to store and compare).

    Examples
    --------
    >>> from sk_spotting.training._trainer import checkpoint_fingerprint
    >>> checkpoint_fingerprint({"epochs": 2}, classes=["a"], n_features=3,
    ...                        data={"n_videos": 1})["params"]
    {'epochs': '2'}
    """
    return {
        "params": {name: repr(value) for name, value in sorted(params.items())},
        "classes": [str(c) for c in classes],
        "n_features": int(n_features),
        "data": json.loads(json.dumps(data)),
    }


def _mismatch(saved, current):
    """Sentence naming what differs between two fingerprints."""
    if not isinstance(saved, dict) or set(saved) != set(current):
        return "it was written by another version of sk_spotting"
    differences = []
    saved_params, params = saved["params"], current["params"]
    for name in sorted(set(saved_params) | set(params)):
        if saved_params.get(name) != params.get(name):
            differences.append(
                f"parameter {name!r} (checkpoint {saved_params.get(name, 'unset')}, "
                f"now {params.get(name, 'unset')})"
            )
    if saved["classes"] != current["classes"]:
        differences.append(
            f"classes (checkpoint {saved['classes']}, now {current['classes']})"
        )
    if saved["n_features"] != current["n_features"]:
        differences.append(
            f"features per frame (checkpoint {saved['n_features']}, "
            f"now {current['n_features']})"
        )
    if saved["data"] != current["data"]:
        old, new = saved["data"], current["data"]
        if old.get("n_videos") != new.get("n_videos"):
            what = (
                f"{old.get('n_videos')} videos in the checkpoint, "
                f"{new.get('n_videos')} now"
            )
        elif old.get("shapes") != new.get("shapes"):
            what = "video shapes differ"
        elif old.get("content") != new.get("content"):
            what = "video features differ"
        else:
            what = "labels differ"
        differences.append(f"training data ({what})")
    return "; ".join(differences) or "unknown difference"


def load_checkpoint(path, fingerprint, *, world_size=1):
    """Read the checkpoint at ``path`` if it matches ``fingerprint``.

    Parameters
    ----------
    path : str or path-like
        A file written by :class:`~sk_spotting.training.TrainingCheckpoint`.
    fingerprint : dict
        :func:`checkpoint_fingerprint` of the fit that resumes.
    world_size : int, default=1
        Processes of the fit that resumes; an unfinished network resumes
        only with the number of processes that wrote its checkpoint (each
        one's random stream is in it).

    Returns
    -------
    state : dict or None
        None when there is no checkpoint file.

    Raises
    ------
    ValueError
        When the checkpoint comes from other settings or data, naming what
        differs, or from another number of processes.

    Examples
    --------
    >>> from sk_spotting.training._trainer import load_checkpoint
    >>> load_checkpoint("no/such/confidence.pt", {}) is None
    True
    """
    if not os.path.exists(path):
        return None
    state = TrainingCheckpoint.load(path)
    saved = state.get("fingerprint") if isinstance(state, dict) else None
    if saved != fingerprint:
        raise ValueError(
            f"cannot resume from {os.fspath(path)}: {_mismatch(saved, fingerprint)}. "
            f"Resume with the settings and data it was made with, or fit without "
            f"resume to start afresh (its old checkpoints are then removed)."
        )
    saved_world_size = state.get("world_size", 1)
    if not state["complete"] and saved_world_size != world_size:
        raise ValueError(
            f"cannot resume from {os.fspath(path)}: it was written by a fit on "
            f"{saved_world_size} process(es) and this fit runs on {world_size}; "
            f"each process's random stream is in the checkpoint, so resume on "
            f"{saved_world_size} (torchrun --nproc-per-node ..., see "
            f"docs/scaling.md), or fit without resume to start afresh."
        )
    return state


def prepare_checkpoint_folder(folder, names, *, resume, distributed=None):
    """Clean ``folder`` before a fit writes its checkpoints there.

    Temporary files left by a killed checkpoint write are always removed; a
    fit that does not resume also removes the checkpoints ``names`` of an
    earlier run, so that they can never be resumed by mistake later.  No
    other file of the folder is touched.

    Parameters
    ----------
    folder : str or path-like
    names : sequence of str
        Checkpoint file names (``confidence.pt``, ``displacement.pt``).
    resume : bool
        Whether the fit continues from the checkpoints.
    distributed : DistributedContext, default=None
        In a distributed fit only rank 0, which writes the checkpoints,
        touches the folder; the other ranks remove nothing.

    Returns
    -------
    removed : list of str
        Paths removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sk_spotting.training._trainer import prepare_checkpoint_folder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     (pathlib.Path(folder) / "confidence.pt").write_bytes(b"old")
    ...     removed = prepare_checkpoint_folder(folder, ["confidence.pt"],
    ...                                         resume=False)
    ...     [pathlib.Path(p).name for p in removed]
    3
    ['confidence.pt']
    """
    if distributed is not None and not distributed.is_main:
        return []
    removed = [os.fspath(p) for p in remove_stale_temporaries(folder)]
    if not resume:
        for name in names:
            path = os.path.join(os.fspath(folder), name)
            if os.path.isfile(path) or os.path.islink(path):
                os.remove(path)
                removed.append(path)
    return removed


def _optimizer_options(settings):
    options = {
        "optimizer": KerasAdamW,
        "lr": settings.learning_rate,
        # PyTorch multiplies the decay by the learning rate; dividing here
        # gives the reference's unscaled decoupled decay.
        "optimizer__weight_decay": settings.weight_decay / settings.learning_rate,
        "optimizer__eps": ADAM_EPSILON,
        "optimizer__betas": ADAM_BETAS,
    }
    # one fused kernel per step on CUDA, multi-tensor loops elsewhere
    if settings.device.startswith("cuda"):
        options["optimizer__fused"] = True
    else:
        options["optimizer__foreach"] = True
    return options


def train_network(
    build_module,
    criterion,
    make_sampler,
    settings,
    *,
    seed,
    score_fn=None,
    on_score=None,
    checkpoint_path=None,
    fingerprint=None,
    resume=False,
    progress=None,
    estimate=None,
    steps_before=0,
):
    """Build, seed, (resume,) and train one network.

    With ``settings.distributed`` every rank of the process group calls this
    with the same arguments and its own share of the batch in
    ``make_sampler``; the weights are initialised from ``seed`` on every rank,
    rank 0 draws chunks and mixup from the same stream as a one-process fit
    and rank ``r > 0`` from a stream seeded by :func:`rank_seed`; the
    gradients are averaged over the ranks (docs/scaling.md).  Rank 0 alone
    runs ``score_fn`` (the others get its score), writes checkpoints and
    reads them back on resume.

    Parameters
    ----------
    build_module : callable
        ``build_module() -> torch.nn.Module``, called after seeding, so that
        the initial weights follow ``seed``.
    criterion : torch.nn.Module
        ``criterion(prediction, target, weight) -> loss``.
    make_sampler : callable
        ``make_sampler() -> ChunkSampler`` (an iterable of batches; in a
        distributed fit, of this rank's share of each batch).
    settings : NetworkSettings
    seed : int
        Seeds the initial weights, chunk sampling and mixup.
    score_fn : callable, default=None
        ``score_fn(net) -> float`` validation score, greater is better; with
        it the net keeps its best weights.
    on_score : callable, default=None
        ``on_score(epoch, score)`` after each validation score.
    checkpoint_path : str, default=None
        Where to save the training state every ``validation_interval`` epochs.
    fingerprint : dict, default=None
        :func:`checkpoint_fingerprint` stored in and checked against the
        checkpoint.
    resume : bool, default=False
        Continue from ``checkpoint_path`` when it exists.
    progress : FitProgress, default=None
        The fit's progress bar.
    estimate : DurationEstimate, default=None
        The fit's duration estimate.
    steps_before : int, default=0
        Steps of the fit's earlier networks (for the estimate).

    Returns
    -------
    net : SpottingNet
        The trained net (with its best weights when validated); in a
        distributed fit, the same plain net on every rank.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sk_spotting.training import ChunkSampler, ConfidenceCriterion
    >>> from sk_spotting.training._trainer import NetworkSettings, train_network
    >>> video = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    >>> target = np.zeros((40, 2), np.float32)
    >>> settings = NetworkSettings("confidence", 1e-2, 0.0, 0.0, 0.0, epochs=2,
    ...                            decay_epochs=2, validation_interval=1)
    >>> net = train_network(
    ...     lambda: torch.nn.Linear(3, 2), ConfidenceCriterion(),
    ...     lambda: ChunkSampler([video], [target], [np.ones_like(target)],
    ...                          chunk_frames=8, batch_size=4, chunks_per_epoch=8),
    ...     settings, seed=0)
    >>> len(net.history)
    2
    """
    context = settings.distributed
    callbacks = []
    if score_fn is not None and context is not None:
        score_fn = _scored_on_main(context, score_fn)
    if score_fn is not None:
        callbacks += [
            (
                "validation",
                ValidationScore(
                    score_fn, settings.validation_interval, on_score=on_score
                ),
            ),
            ("best_weights", KeepBestWeights()),
        ]
    checkpoint = None
    if checkpoint_path is not None:
        checkpoint = TrainingCheckpoint(
            os.fspath(checkpoint_path),
            settings.validation_interval,
            fingerprint=fingerprint,
            distributed=context,
        )
        callbacks.append(("checkpoint", checkpoint))
    if estimate is not None:
        callbacks.append(("duration", estimate))
    if progress is not None:
        callbacks.append(("progress", StepProgress(progress, settings.name)))
    callbacks += list(settings.callbacks)
    device = settings.device
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        module = build_module()
        if context is not None and context.rank > 0:
            torch.manual_seed(rank_seed(seed, context.rank))
        sampler = make_sampler()
        decay = LinearDecayScheduler(
            settings.decay_epochs * len(sampler), END_LEARNING_RATE_FRACTION
        )
        net = SpottingNet(
            module,
            criterion=criterion,
            sam_rho=settings.sam_rho,
            mixup_alpha=settings.mixup_alpha,
            autocast_dtype=settings.autocast_dtype,
            train_compile=settings.compile,
            distributed=context,
            max_epochs=settings.epochs,
            callbacks=[("lr_decay", decay)] + callbacks,
            device=device,
            **_optimizer_options(settings),
        )
        net.initialize()
        state = None
        if checkpoint is not None and resume:
            world_size = 1 if context is None else context.world_size
            state = broadcast_from_main(
                context,
                lambda: load_checkpoint(
                    checkpoint.path, fingerprint, world_size=world_size
                ),
            )
        if state is not None:
            rank = None if context is None else context.rank
            TrainingCheckpoint.restore(net, state, rank=rank)
        done = _steps_done(net)
        if progress is not None:
            progress.skip(done)
        if estimate is not None:
            estimate.steps_done_ = steps_before + done
        if state is None or not state["complete"]:
            net.partial_fit(sampler, epochs=settings.epochs - len(net.history))
            if checkpoint is not None:
                checkpoint.save(net, complete=True)
    for _, callback in net.callbacks_:
        if isinstance(callback, ValidationScore):
            # a restored, finished net never ran on_train_end
            callback.on_train_end(net)
    if context is not None:  # the fitted net pickles without its rank
        net.distributed = None
        if checkpoint is not None:
            checkpoint.distributed = None
    return net


def _scored_on_main(context, score_fn):
    """``score_fn`` run on rank 0 only, its score handed to every rank."""

    def score(net):
        return broadcast_from_main(context, lambda: float(score_fn(net)))

    return score
