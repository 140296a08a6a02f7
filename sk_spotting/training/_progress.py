"""Feedback while a spotter trains: a step-level progress bar and a duration warning.

A fit trains two networks one after the other.  :class:`FitProgress` is one
progress bar over the optimizer steps of the whole fit (both networks), so its
ETA is the fit's; :class:`StepProgress` is the skorch callback that moves it
and shows the network, epoch, loss and validation average-mAP.
:class:`DurationEstimate` times the first steps of the fit and, when the whole
fit would run longer than :data:`LONG_FIT_SECONDS` on a CPU, warns once with
the estimate and the parameters that shorten it.
"""

from __future__ import annotations

import time
import warnings

from skorch.callbacks import Callback

__all__ = ["DurationEstimate", "FitProgress", "StepProgress", "format_duration"]

LONG_FIT_SECONDS = 30 * 60.0
"""A CPU fit estimated to run longer than this gets a warning."""

TIMED_STEPS = 3
"""Steps timed after the first (warm-up) one before estimating."""

MAX_TIMING_SECONDS = 20.0
"""Estimate after fewer steps when they take longer than this."""


def format_duration(seconds):
    """``seconds`` as a short human duration.

    Examples
    --------
    >>> from sk_spotting.training._progress import format_duration
    >>> format_duration(42), format_duration(3 * 3600 + 60), format_duration(3e5)
    ('42 s', '3 h 1 min', '3.5 days')
    """
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min"
    return f"{seconds / 86400:.1f} days"


class FitProgress:
    """One progress bar over the optimizer steps of a whole fit.

    Parameters
    ----------
    total_steps : int
        Steps of every network of the fit.
    disable : bool, default=False
        Show nothing.

    Examples
    --------
    >>> from sk_spotting.training._progress import FitProgress
    >>> progress = FitProgress(10, disable=True)
    >>> progress.advance(3); progress.steps
    3
    >>> progress.close()
    """

    def __init__(self, total_steps, disable=False):
        self.total_steps = int(total_steps)
        self.disable = disable
        self.steps = 0
        self._bar = None

    def _ensure_bar(self):
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total_steps,
                initial=self.steps,
                unit="step",
                disable=self.disable,
                dynamic_ncols=True,
                mininterval=1.0,
            )
        return self._bar

    def skip(self, n_steps):
        """Count ``n_steps`` already done (a resumed or finished network)."""
        self.steps += int(n_steps)
        if self._bar is not None:
            self._bar.update(int(n_steps))

    def advance(self, n_steps=1):
        """Count ``n_steps`` steps just taken."""
        self.steps += int(n_steps)
        self._ensure_bar().update(int(n_steps))

    def describe(self, network, postfix):
        """Show ``network`` before the bar and ``postfix`` (a dict) after it."""
        bar = self._ensure_bar()
        bar.set_description(network, refresh=False)
        bar.set_postfix(postfix, refresh=False)

    def close(self):
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_bar"] = None
        return state


class StepProgress(Callback):
    """Move a :class:`FitProgress` at every step; show epoch, loss and score.

    Parameters
    ----------
    progress : FitProgress
        The fit's bar, shared by both networks.
    network : str
        Name shown before the bar ("confidence", "displacement").
    score_key : str, default="valid_average_map"
        History key of the validation score.

    Examples
    --------
    >>> from sk_spotting.training._progress import FitProgress, StepProgress
    >>> StepProgress(FitProgress(1, disable=True), "confidence").network
    'confidence'
    """

    def __init__(self, progress, network, score_key="valid_average_map"):
        self.progress = progress
        self.network = network
        self.score_key = score_key

    def on_train_begin(self, net, **kwargs):
        self._epochs = net.max_epochs
        self.progress.describe(
            self.network, {"epoch": f"{len(net.history)}/{self._epochs}"}
        )

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.progress.advance()

    def on_epoch_end(self, net, **kwargs):
        # the validation score first: a narrow terminal cuts the end of the line
        row = net.history[-1]
        postfix = {}
        scores = [r[self.score_key] for r in net.history if self.score_key in r]
        if scores:
            postfix["valid mAP"] = f"{scores[-1]:.4f}"
        postfix["epoch"] = f"{len(net.history)}/{self._epochs}"
        if "train_loss" in row:
            postfix["loss"] = f"{row['train_loss']:.4g}"
        self.progress.describe(self.network, postfix)


class DurationEstimate(Callback):
    """Warn once when the timed first steps predict a long CPU fit.

    The first step is a warm-up and is not timed; the next
    :data:`TIMED_STEPS` steps (fewer when they take more than
    :data:`MAX_TIMING_SECONDS`) give the time per step, which times the steps
    left in the fit gives the estimate.  Validation is not counted, so the
    estimate is a lower bound.

    Parameters
    ----------
    total_steps : int
        Steps of the whole fit (every network).
    device : str
        Training device; only CPU fits are warned about.
    advice : str
        What shortens the fit, appended to the warning.
    threshold : float, default=None
        Seconds above which to warn; None uses :data:`LONG_FIT_SECONDS`.
    clock : callable, default=time.perf_counter
        Time source (tests replace it).

    Attributes
    ----------
    estimate_ : float or None
        Estimated seconds of the whole fit, once known.

    Examples
    --------
    >>> from sk_spotting.training._progress import DurationEstimate
    >>> DurationEstimate(1000, "cpu", advice="").estimate_ is None
    True
    """

    def __init__(self, total_steps, device, advice, threshold=None, clock=None):
        self.total_steps = int(total_steps)
        self.device = str(device)
        self.advice = advice
        self.threshold = threshold
        self.clock = clock
        self.estimate_ = None
        self.steps_done_ = 0
        self._start = None
        self._timed = 0

    def start(self, steps_done):
        """Begin with ``steps_done`` steps of the fit already taken (resume)."""
        self.steps_done_ = int(steps_done)

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.steps_done_ += 1
        if self.estimate_ is not None:
            return
        clock = self.clock or time.perf_counter
        if self._start is None:  # the end of the warm-up step
            self._start = clock()
            return
        self._timed += 1
        elapsed = clock() - self._start
        if self._timed < TIMED_STEPS and elapsed < MAX_TIMING_SECONDS:
            return
        per_step = elapsed / self._timed
        left = max(self.total_steps - self.steps_done_, 0)
        self.estimate_ = per_step * (self.steps_done_ + left)
        threshold = LONG_FIT_SECONDS if self.threshold is None else self.threshold
        if not self.device.startswith("cpu") or self.estimate_ <= threshold:
            return
        warnings.warn(
            f"this fit would take about {format_duration(per_step * left)} more "
            f"on the CPU ({self.total_steps:,} steps at {per_step:.2f} s per "
            f"step, measured on its first steps). {self.advice}",
            UserWarning,
            stacklevel=2,
        )
