"""skorch callbacks used to train a spotting network.

The learning-rate schedule, the periodic validation average-mAP, keeping the
best weights, and an epoch-level progress bar.
"""

from __future__ import annotations

import math

from skorch.callbacks import Callback

__all__ = ["LinearDecay", "ValidationScore", "KeepBestWeights", "EpochProgressBar"]


class LinearDecay:
    """Linear decay of a multiplier from 1 to ``end_fraction`` (SPEC §5.2).

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

    Examples
    --------
    >>> from sk_spotting.training import ValidationScore
    >>> ValidationScore(lambda net: 0.5, interval=10).name
    'valid_average_map'
    """

    def __init__(self, score_fn, interval, name="valid_average_map"):
        self.score_fn = score_fn
        self.interval = interval
        self.name = name

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if self.score_fn is None:
            return
        if epoch % self.interval == 0 or epoch == net.max_epochs:
            net.history.record(self.name, float(self.score_fn(net)))

    def on_train_end(self, net, **kwargs):
        self.score_fn = None


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
