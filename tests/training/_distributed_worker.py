"""One rank of the two-process gloo tests of tests/training/test_distributed.py.

Run by ``torchrun --standalone --nproc-per-node 2 _distributed_worker.py OUT
TRAIN_ROOT``; every rank runs the same scenes and rank 0 writes what the tests
check under OUT (the tests assert, this script only records):

1. ``spotter``: a distributed DenseAnchorSpotter fit with validation (its
   process group started by the fit from torchrun's variables), the same fit
   with checkpoints interrupted and resumed, and a one-process fit of the
   same settings (``spotter.pt``, ``spotter.joblib``, checkpoint copies).
2. ``equivalence``: :func:`train_network` with SAM, both ranks drawing the
   same global batch and each training on its half, against one process
   training on the whole batch: weights, losses and the gradient applied at
   each step (``equivalence.pt``).
3. ``error``: an error raised on rank 0 while the others wait for its result
   (a checkpoint that cannot be resumed, a failed validation), as each rank
   sees it (``errors.json``).
4. ``cli``: ``sk-spotting fit`` in the process; each rank's stdout in
   ``cli_rank<r>.txt``.

The one-process reference fits run after the distributed ones, rank 0 and
rank 1 each running one.  The process group is started once: one cannot be
started again in the same process (pytorch/pytorch#55967).
"""

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

import joblib
import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback

TINY = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "chunks_per_epoch": 16,
    "batch_size": 8,
    "validation_interval": 2,
    "random_state": 0,
}


def cli_scene(out, train_root):
    from sk_spotting.cli import main

    rank = int(os.environ["RANK"])
    settings = []
    for key, value in {**TINY, "epochs": 2}.items():
        settings += ["--set", f"{key}={value}"]
    log = out / f"cli_rank{rank}.txt"
    with open(log, "w") as stream, contextlib.redirect_stdout(stream):
        code = main(
            ["fit", str(train_root), "--out", str(out / "cli.safetensors"), "--quiet"]
            + settings
        )
    assert code == 0, f"rank {rank}: sk-spotting fit exited with {code}"


class AppliedGradients(Callback):
    """Record the gradient that each optimizer step applies."""

    def __init__(self):
        self.gradients = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad.detach().flatten() for _, p in named_parameters]
        self.gradients.append(torch.cat(grads).clone())


class SharedDraw:
    """Every rank draws the same global batch (seeded per epoch) and keeps its part."""

    def __init__(self, sampler, batch_size, seed, rank, world_size):
        self.sampler = sampler
        self.part = batch_size // world_size
        self.seed = seed
        self.rank = rank
        self.epoch = 0

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        with torch.random.fork_rng():
            torch.manual_seed(self.seed + self.epoch)
            batches = list(self.sampler)
        self.epoch += 1
        start = self.rank * self.part
        for batch in batches:
            yield tuple(t[start : start + self.part] for t in batch)


def equivalence_scene(out, context):
    from sk_spotting.nn import build_network
    from sk_spotting.training import ChunkSampler, ConfidenceCriterion
    from sk_spotting.training._trainer import NetworkSettings, train_network

    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(n, 8)).astype(np.float32) for n in (120, 90)]
    targets = [(rng.random((len(v), 2)) < 0.1).astype(np.float32) for v in videos]
    weights = [np.where(t > 0, 0.9, 0.1).astype(np.float32) for t in targets]
    batch_size = 8

    def fit(context):
        recorder = AppliedGradients()
        settings = NetworkSettings(
            "confidence",
            learning_rate=2e-3,
            weight_decay=2e-4,
            sam_rho=0.5,
            mixup_alpha=0.0,
            epochs=2,
            decay_epochs=2,
            validation_interval=2,
            distributed=context,
            callbacks=[("applied_gradients", recorder)],
        )
        rank, world_size = (0, 1) if context is None else (context.rank, 2)
        net = train_network(
            lambda: build_network(
                n_features=8, n_classes=2, n_frames=32, trunk_params={"n_levels": 2}
            ),
            ConfidenceCriterion(),
            lambda: SharedDraw(
                ChunkSampler(
                    videos,
                    targets,
                    weights,
                    chunk_frames=32,
                    batch_size=batch_size,
                    chunks_per_epoch=4 * batch_size,
                ),
                batch_size,
                seed=11,
                rank=rank,
                world_size=world_size,
            ),
            settings,
            seed=3,
        )
        return {
            "weights": net.module_.state_dict(),
            "losses": net.history[:, "train_loss"],
            "gradients": recorder.gradients,
        }

    two = fit(context)
    ranks = context.gather(two["weights"])
    # the one-process reference, once the ranks are done with each other
    return lambda: torch.save(
        {"two": two, "one": fit(None), "rank1_weights": ranks[1]},
        out / "equivalence.pt",
    )


class _Interrupt:
    """``on_validation`` hook that interrupts at one network's epoch."""

    def __init__(self, network, epoch):
        self.network, self.epoch = network, epoch

    def __call__(self, network, epoch, score):
        if (network, epoch) == (self.network, self.epoch):
            raise KeyboardInterrupt


def _scores(row):
    """The losses and validation score of one history row (not its timings)."""
    return {k: v for k, v in row.items() if k in ("train_loss", "valid_average_map")}


def spotter_scene(out):
    from sk_spotting import DenseAnchorSpotter
    from sk_spotting.datasets import make_spotting_data
    from sk_spotting.training._distributed import resolve_distributed

    X, y = make_spotting_data(3, n_features=8, minutes=2.0, random_state=1)
    train, valid = (X[:2], y[:2]), {"X_valid": X[2:], "y_valid": y[2:]}
    params = {**TINY, "epochs": 6, "distributed": True}
    assert not dist.is_initialized()
    spotter = DenseAnchorSpotter(**params).fit(*train, **valid)
    context = resolve_distributed(True, "cpu")  # the group that the fit started

    folder = out / "checkpoints"
    interrupted = DenseAnchorSpotter(**params, checkpoint_dir=folder)
    try:
        interrupted.fit(*train, **valid, on_validation=_Interrupt("displacement", 4))
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupting hook did not stop the fit")
    context.barrier()
    if context.is_main:
        shutil.copytree(folder, out / "interrupted_checkpoints")
    context.barrier()
    interrupted.fit(*train, **valid, resume=True)

    weights = context.gather(
        [
            spotter.confidence_net_.module_.state_dict(),
            spotter.displacement_net_.module_.state_dict(),
        ]
    )
    histories = context.gather(
        [
            [_scores(row) for row in net.history]
            for net in (spotter.confidence_net_, spotter.displacement_net_)
        ]
    )
    if context.is_main:
        joblib.dump(spotter, out / "spotter.joblib")
        joblib.dump(interrupted, out / "resumed.joblib")
        torch.save(
            {"rank1_weights": weights[1], "histories": histories},
            out / "spotter.pt",
        )

    def reference():
        alone = DenseAnchorSpotter(**{**params, "distributed": False})
        joblib.dump(alone.fit(*train, **valid), out / "alone.joblib")

    return context, reference


def error_scene(out, context):
    from sk_spotting.training._distributed import broadcast_from_main

    def fail():
        raise ValueError("cannot resume from confidence.pt: parameter 'epochs'")

    try:
        broadcast_from_main(context, fail)
    except ValueError as exc:
        seen = f"{type(exc).__name__}: {exc}"
    else:
        seen = "no error"
    seen = context.gather(seen)
    if context.is_main:
        (out / "errors.json").write_text(json.dumps(seen))


def main(out, train_root):
    torch.set_num_threads(1)
    out = Path(out)
    context, spotter_reference = spotter_scene(out)
    references = [equivalence_scene(out, context), spotter_reference]
    references[context.rank]()  # the one-process fits, one per rank at once
    context.barrier()
    error_scene(out, context)
    cli_scene(out, train_root)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
