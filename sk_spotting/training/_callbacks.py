"""skorch callbacks used to train a spotting network.

The learning-rate schedule, the periodic validation average-mAP, keeping the
best weights, checkpoints that a later fit resumes from, and an epoch-level
progress bar.
"""

from __future__ import annotations

import math
import os
import pickle
import re

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from .._files import atomic_write

__all__ = [
    "EpochProgressBar",
    "KeepBestWeights",
    "LinearDecay",
    "LinearDecayScheduler",
    "TrainingCheckpoint",
    "ValidationScore",
]


class LinearDecay:
    """Linear decay of a multiplier from 1 to ``end_fraction`` (docs/method.md).

    Keras ``PolynomialDecay(power=1, cycle=True)`` as the reference uses it:
    ``f(s) = (1 - end) * (1 - s / S) + end`` per optimizer step; past ``S`` the
    period grows to the next multiple of ``S``.  With PyTorch's ``AdamW`` the
    decoupled weight decay is multiplied by the learning rate, so scheduling the
    learning rate decays both identically, as in the reference.

    Parameters
    ----------
    total_steps : int
        Steps ``S`` over which the multiplier reaches ``end_fraction``.
    end_fraction : float, default=0.01
        Final multiplier.

    Examples
    --------
    >>> from sk_spotting.training import LinearDecay
    >>> decay = LinearDecay(100)
    >>> decay(0), decay(50), decay(100)
    (1.0, 0.505, 0.01)
    """

    def __init__(self, total_steps, end_fraction=0.01):
        self.total_steps = int(total_steps)
        self.end_fraction = float(end_fraction)

    def __call__(self, step):
        period = self.total_steps
        if step > period:
            period = period * math.ceil(step / period)
        progress = min(step, period) / period
        return (1.0 - self.end_fraction) * (1.0 - progress) + self.end_fraction


def _steps_done(net):
    return sum(row.get("train_batch_count", 0) for row in net.history)


class LinearDecayScheduler(Callback):
    """Set the learning rate of every step from :class:`LinearDecay`.

    The step count is derived from the history, so a resumed fit continues the
    schedule where it stopped.

    Parameters
    ----------
    total_steps : int
        Steps over which the rate decays to ``end_fraction`` of its start.
    end_fraction : float, default=0.01
        Final fraction of the initial learning rate.

    Examples
    --------
    >>> from sk_spotting.training import LinearDecayScheduler
    >>> LinearDecayScheduler(total_steps=32).total_steps
    32
    """

    def __init__(self, total_steps, end_fraction=0.01):
        self.total_steps = total_steps
        self.end_fraction = end_fraction

    def _apply(self, net):
        factor = self._decay(self.step_)
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def on_train_begin(self, net, **kwargs):
        self._decay = LinearDecay(self.total_steps, self.end_fraction)
        for group in net.optimizer_.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.step_ = _steps_done(net)
        self._apply(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.step_ += 1
            self._apply(net)


class ValidationScore(Callback):
    """Record a validation score every ``interval`` epochs and at the last one.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(net) -> float``, greater is better; dropped when training
        ends so that the fitted net pickles without the validation data.
    interval : int
        Epochs between two validations.
    name : str, default="valid_average_map"
        History key.
    on_score : callable, default=None
        ``on_score(epoch, score)`` called after each score, e.g. to report to
        an Optuna trial; what it raises stops the fit.

    Examples
    --------
    >>> from sk_spotting.training import ValidationScore
    >>> ValidationScore(lambda net: 0.5, interval=10).name
    'valid_average_map'
    """

    def __init__(self, score_fn, interval, name="valid_average_map", on_score=None):
        self.score_fn = score_fn
        self.interval = interval
        self.name = name
        self.on_score = on_score

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if self.score_fn is None:
            return
        if epoch % self.interval == 0 or epoch == net.max_epochs:
            score = float(self.score_fn(net))
            net.history.record(self.name, score)
            if self.on_score is not None:
                self.on_score(epoch, score)

    def on_train_end(self, net, **kwargs):
        self.score_fn = None
        self.on_score = None


class KeepBestWeights(Callback):
    """Keep the module weights of the best-scoring epoch and restore them at the end.

    Parameters
    ----------
    monitor : str, default="valid_average_map"
        History key to maximise; epochs without it are ignored.

    Examples
    --------
    >>> from sk_spotting.training import KeepBestWeights
    >>> KeepBestWeights().monitor
    'valid_average_map'
    """

    def __init__(self, monitor="valid_average_map"):
        self.monitor = monitor

    def initialize(self):
        self.best_score_ = -math.inf
        self.best_epoch_ = None
        self._best_state = None
        return self

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1].get(self.monitor)
        if score is None or score <= self.best_score_:
            return
        self.best_score_ = score
        self.best_epoch_ = len(net.history)
        self._best_state = {
            k: v.detach().clone() for k, v in net.module_.state_dict().items()
        }

    def on_train_end(self, net, **kwargs):
        if self._best_state is not None:
            net.module_.load_state_dict(self._best_state)
            net.history.record("best_epoch", self.best_epoch_)
        self._best_state = None

    def state_dict(self):
        """What a checkpoint needs to resume best-weight tracking."""
        return {
            "best_score": self.best_score_,
            "best_epoch": self.best_epoch_,
            "best_state": self._best_state,
        }

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            The output of :meth:`state_dict`.
        """
        self.best_score_ = state["best_score"]
        self.best_epoch_ = state["best_epoch"]
        self._best_state = state["best_state"]


def _plain(value):
    """``value`` with numpy scalars as Python numbers, in lists, tuples and dicts.

    A callback may record ``np.float64`` scores (in the history, in
    :class:`KeepBestWeights`); ``weights_only`` loading accepts tensors and
    plain Python values only.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_atomically(obj, path):
    """``torch.save`` to ``path`` through a temporary file beside it."""
    atomic_write(path, lambda stream: torch.save(obj, stream))


class TrainingCheckpoint(Callback):
    """Save everything needed to resume training every ``interval`` epochs.

    A checkpoint holds the module and optimizer states, the history, the
    random generator states and the state of the :class:`KeepBestWeights`
    callback, written atomically, so an interrupted fit loses at most
    ``interval`` epochs.  :meth:`restore` puts them back into an initialized
    net.

    In a distributed fit every rank calls :meth:`save` (each rank's random
    generator states are gathered, as ``rank_rng``, with the number of
    processes, ``world_size``), and rank 0 alone writes the file.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file.
    interval : int
        Epochs between checkpoints (the last epoch is always saved).
    fingerprint : dict, default=None
        Settings the checkpoint must match to be resumed.
    distributed : DistributedContext, default=None
        This process's rank in a distributed fit, or None.

    Examples
    --------
    >>> from sk_spotting.training import TrainingCheckpoint
    >>> TrainingCheckpoint("confidence.pt", interval=10).interval
    10
    """

    def __init__(self, path, interval, fingerprint=None, distributed=None):
        self.path = path
        self.interval = interval
        self.fingerprint = fingerprint
        self.distributed = distributed

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.interval == 0 or epoch == net.max_epochs:
            self.save(net, complete=False)

    def save(self, net, *, complete):
        """Write the checkpoint of ``net``, atomically.

        In a distributed fit every rank takes part (their random generator
        states are gathered) and rank 0 alone writes.

        Parameters
        ----------
        net : SpottingNet
            The initialized net being trained.
        complete : bool
            Whether training has finished (the optimizer state is then not
            needed to resume).
        """
        rng = _rng_states()
        rank_rng = None
        if self.distributed is not None:
            rank_rng = self.distributed.gather(rng)  # every rank takes part
            if not self.distributed.is_main:
                return
        callbacks = {
            name: cb.state_dict()
            for name, cb in net.callbacks_
            if isinstance(cb, KeepBestWeights)
        }
        state = {
            "fingerprint": self.fingerprint,
            "complete": complete,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "callbacks": _plain(callbacks),
            **rng,
        }
        if rank_rng is not None:
            state["world_size"] = self.distributed.world_size
            state["rank_rng"] = rank_rng
        save_atomically(state, self.path)

    @staticmethod
    def load(path):
        """Read a checkpoint file (on the CPU), running no code from it.

        ``torch.load(weights_only=True)`` accepts only tensors and plain
        containers and values; a file holding anything else (a planted
        pickle) is refused with a ValueError before any of it runs.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        state : dict
        """
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
            if found:
                raise ValueError(
                    f"checkpoint {os.fspath(path)!r} refers to {found.group(1)}, "
                    f"not a tensor or a plain value, and is not loaded (it could "
                    f"run code); remove it to start afresh."
                ) from None
        except Exception:  # a damaged file can raise nearly anything
            pass
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} is not a readable checkpoint; remove "
            f"it to start afresh."
        )

    @staticmethod
    def restore(net, state, rank=None):
        """Put a loaded checkpoint back into an initialized ``net``.

        Parameters
        ----------
        net : SpottingNet
            The initialized net to resume.
        state : dict
            The output of :meth:`load`.
        rank : int, default=None
            In a distributed fit, the rank whose random generator states to
            restore from the checkpoint.
        """
        net.module_.load_state_dict(state["module"])
        if not state["complete"]:
            net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(state["history"])
        for name, cb in net.callbacks_:
            if name in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][name])
        rng = state
        if rank is not None and state.get("rank_rng") is not None:
            rng = state["rank_rng"][rank]
        torch.set_rng_state(rng["rng"])
        if rng["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda_rng"])


def _rng_states():
    """The random generator states that a checkpoint saves."""
    return {
        "rng": torch.get_rng_state(),
        "cuda_rng": (
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        ),
    }


class EpochProgressBar(Callback):
    """A tqdm bar over epochs showing the training loss and validation score.

    Parameters
    ----------
    description : str
        Text before the bar.
    disable : bool, default=False
        Show nothing.

    Examples
    --------
    >>> from sk_spotting.training import EpochProgressBar
    >>> EpochProgressBar("confidence").description
    'confidence'
    """

    def __init__(self, description, disable=False):
        self.description = description
        self.disable = disable

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=net.max_epochs,
            initial=len(net.history),
            desc=self.description,
            unit="epoch",
            disable=self.disable,
            leave=True,
        )

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        postfix = {"loss": f"{row.get('train_loss', float('nan')):.4g}"}
        if "valid_average_map" in row:
            postfix["valid mAP"] = f"{row['valid_average_map']:.4f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def on_train_end(self, net, **kwargs):
        self._bar.close()
        del self._bar

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_bar", None)
        return state
