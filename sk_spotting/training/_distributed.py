"""Data-parallel training over several processes with ``torch.distributed``.

A fit started by ``torchrun`` (one process per GPU, or CPU processes talking
through gloo) trains one network copy per process, a *rank*, with
:class:`~torch.nn.parallel.DistributedDataParallel`: each rank draws
``batch_size / world_size`` chunks per step from its own random stream, the
gradients of every backward pass are averaged over the ranks, so that each
step applies the gradient of the whole ``batch_size`` chunks (and SAM's
perturbation uses the norm of that averaged gradient), and every rank takes the
same optimizer step.  Rank 0 alone scores the validation videos (and tells the
others the score), writes checkpoints, reads them back on resume (and hands
them to the others), prints and saves the model.  See docs/scaling.md.

:class:`DistributedContext` says which rank this process is;
:func:`resolve_distributed` turns the estimator's ``distributed`` parameter and
``torchrun``'s environment into one (initialising the process group when
needed), and the small helpers below are the collectives the training uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DistributedContext",
    "broadcast_from_main",
    "environment_world_size",
    "is_main_process",
    "rank_batch",
    "rank_seed",
    "resolve_distributed",
]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""Environment variables that ``torchrun`` sets in each process it starts."""


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel fit.

    Plain values only (the process group is torch's default group), so that
    a net holding it pickles.

    Attributes
    ----------
    rank : int
        This process's rank, 0 to ``world_size - 1``.
    world_size : int
        Number of processes training together.
    device : str
        This process's training device (``"cuda:LOCAL_RANK"`` or ``"cpu"``).
    backend : str
        Process group backend ("nccl" or "gloo").

    Examples
    --------
    >>> from sk_spotting.training._distributed import DistributedContext
    >>> context = DistributedContext(rank=1, world_size=2, device="cpu",
    ...                              backend="gloo")
    >>> context.is_main
    False
    """

    rank: int
    world_size: int
    device: str = "cpu"
    backend: str = "gloo"

    @property
    def is_main(self):
        """Whether this is rank 0, the one that writes files and prints."""
        return self.rank == 0

    def barrier(self):
        """Wait until every rank gets here."""
        dist.barrier()

    def mean(self, tensor):
        """The mean of ``tensor`` over the ranks (a new tensor on every rank)."""
        total = tensor.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world_size

    def gather(self, obj):
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered


def _environment_int(name, default):
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={text!r} is not an integer; torchrun "
            f"sets it to this process's {name.lower().replace('_', ' ')}."
        ) from None


def environment_world_size():
    """The number of processes of this run: the process group's, else torchrun's.

    Returns
    -------
    world_size : int
        ``torch.distributed.get_world_size()`` when a process group exists,
        else the ``WORLD_SIZE`` environment variable that ``torchrun`` sets,
        else 1.

    Examples
    --------
    >>> from sk_spotting.training._distributed import environment_world_size
    >>> environment_world_size()  # a plain python process
    1
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _environment_int("WORLD_SIZE", 1)


def is_main_process():
    """Whether this process is rank 0 (or not part of a distributed run).

    Reads the process group when there is one, else ``torchrun``'s ``RANK``
    variable, so that it answers before a fit has initialised the group.

    Examples
    --------
    >>> from sk_spotting.training._distributed import is_main_process
    >>> is_main_process()
    True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _environment_int("RANK", 0) == 0


def _rank_device(device):
    """This rank's device: a CUDA device without index becomes ``cuda:LOCAL_RANK``."""
    parsed = torch.device(device)
    if parsed.type != "cuda" or parsed.index is not None:
        return str(parsed)
    local_rank = _environment_int("LOCAL_RANK", 0)
    n_gpus = torch.cuda.device_count()
    if local_rank >= n_gpus:
        raise ValueError(
            f"LOCAL_RANK={local_rank}, but this machine has {n_gpus} CUDA "
            f"device(s): start at most {n_gpus} processes per machine "
            f"(torchrun --nproc-per-node {n_gpus})."
        )
    return f"cuda:{local_rank}"


def resolve_distributed(distributed, device, *, timeout=None):
    """Turn the ``distributed`` parameter into a :class:`DistributedContext`.

    Parameters
    ----------
    distributed : {"auto", True, False}
        "auto" trains data-parallel when the process is one of several: a
        process group of more than one rank exists, or ``torchrun`` says
        ``WORLD_SIZE`` > 1.  True requires a distributed run (a process
        group or torchrun's variables; one process is allowed).  False never
        trains data-parallel.
    device : str
        The resolved ``device`` parameter.  A CUDA device without index
        becomes ``cuda:LOCAL_RANK``, one GPU per process; an explicit index is
        kept.
    timeout : datetime.timedelta, default=None
        Timeout of the collectives when this function creates the process
        group; None keeps torch's default.

    Returns
    -------
    context : DistributedContext or None
        None when training runs in this process alone.

    Raises
    ------
    ValueError
        When ``distributed=True`` but the process was not started by torchrun
        and no process group exists, or ``LOCAL_RANK`` names a missing GPU,
        or the existing process group cannot carry tensors of ``device``.

    Examples
    --------
    >>> from sk_spotting.training._distributed import resolve_distributed
    >>> resolve_distributed("auto", "cpu") is None  # not started by torchrun
    True
    """
    if distributed is False or not dist.is_available():
        if distributed is True:
            raise ValueError(
                "distributed=True, but this torch build has no torch.distributed."
            )
        return None
    initialized = dist.is_initialized()
    launched = initialized or all(name in os.environ for name in TORCHRUN_VARIABLES)
    world_size = environment_world_size()
    if distributed == "auto" and (world_size <= 1 or not launched):
        return None
    if not launched:
        missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
        raise ValueError(
            f"distributed=True, but no process group exists and the environment "
            f"lacks {', '.join(missing)}: start the fit with torchrun (e.g. "
            f"torchrun --nproc-per-node 2 -m sk_spotting fit ...) or call "
            f"torch.distributed.init_process_group first; see docs/scaling.md."
        )
    device = _rank_device(device)
    on_cuda = torch.device(device).type == "cuda"
    if not initialized:
        if on_cuda:
            torch.cuda.set_device(torch.device(device))
        options = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group("nccl" if on_cuda else "gloo", **options)
    backend = str(dist.get_backend())
    if backend == "nccl" and not on_cuda:
        raise ValueError(
            f"the process group uses nccl, which only carries CUDA tensors, but "
            f"device={device!r}; train on CUDA or create the group with "
            f"backend='gloo'."
        )
    if on_cuda and backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        device=device,
        backend=backend,
    )


def rank_batch(batch_size, chunks_per_epoch, context):
    """Chunks per step and per epoch that one rank draws.

    Each rank draws ``batch_size / world_size`` chunks per step, and an epoch
    keeps the steps of a one-process fit, ``ceil(chunks_per_epoch /
    batch_size)``, so that the global batch, the schedule and the epochs mean
    what they mean in one process.

    Parameters
    ----------
    batch_size : int
        Global chunks per step.
    chunks_per_epoch : int
        Global chunks per epoch.
    context : DistributedContext or None

    Returns
    -------
    batch_size, chunks_per_epoch : int
        This rank's; the inputs themselves without ``context``.

    Raises
    ------
    ValueError
        When ``batch_size`` is not a multiple of the number of processes.

    Examples
    --------
    >>> from sk_spotting.training._distributed import DistributedContext, rank_batch
    >>> rank_batch(256, 8192, DistributedContext(rank=0, world_size=4))
    (64, 2048)
    >>> rank_batch(256, 1000, None)
    (256, 1000)
    """
    if context is None:
        return batch_size, chunks_per_epoch
    if batch_size % context.world_size:
        raise ValueError(
            f"batch_size={batch_size} does not split evenly over "
            f"{context.world_size} processes: the global batch is batch_size, "
            f"each process drawing batch_size / {context.world_size}; choose a "
            f"multiple of {context.world_size}."
        )
    local = batch_size // context.world_size
    n_steps = max(1, -(-chunks_per_epoch // batch_size))
    return local, n_steps * local


def rank_seed(seed, rank):
    """Seed of rank ``rank``'s chunk-sampling and mixup stream.

    Rank 0 uses ``seed`` itself, as a one-process fit does; rank ``r > 0``
    uses the first word of ``numpy.random.SeedSequence([seed, r])``, so the
    ranks draw independent chunks and every rank's stream follows
    ``random_state``.

    Parameters
    ----------
    seed : int
    rank : int

    Returns
    -------
    seed : int

    Examples
    --------
    >>> from sk_spotting.training._distributed import rank_seed
    >>> rank_seed(7, 0), rank_seed(7, 1) == rank_seed(7, 2)
    (7, False)
    """
    if rank == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


def broadcast_from_main(context, compute):
    """Run ``compute()`` on rank 0 and return its result on every rank.

    When it raises on rank 0, rank 0 raises the error itself and the other
    ranks raise a :class:`RuntimeError` (a :class:`ValueError` when rank 0's
    was one) with the same message, instead of waiting for a result that
    never comes.

    Parameters
    ----------
    context : DistributedContext or None
        Without it, ``compute()`` is simply called.
    compute : callable
        ``compute() -> object`` (picklable).

    Returns
    -------
    result : object

    Examples
    --------
    >>> from sk_spotting.training._distributed import broadcast_from_main
    >>> broadcast_from_main(None, lambda: 0.25)
    0.25
    """
    if context is None:
        return compute()
    message = [None, None, None]
    error = None
    if context.is_main:
        try:
            message[0] = compute()
        except BaseException as exc:  # re-raised below, after the others learn it
            error = exc
            message[1] = type(exc).__name__
            message[2] = str(exc)
    dist.broadcast_object_list(message, src=0)
    if error is not None:
        raise error
    if message[1] is not None:
        kind = ValueError if message[1] == "ValueError" else RuntimeError
        raise kind(f"rank 0 failed: {message[1]}: {message[2]}")
    return message[0]
