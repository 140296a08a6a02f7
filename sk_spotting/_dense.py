"""DenseAnchorSpotter: the dense-detection-anchor spotter as one estimator.

Shape legend: t frames, c classes, d features.

Soares, Shah and Biswas, "Temporally Precise Action Spotting in Soccer Videos
Using Dense Detection Anchors", ICIP 2022 (arXiv 2205.10450), resolved against
the authors' reference implementation (yahoo/spivak); see docs/method.md.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import sys
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from ._device import resolve_autocast, resolve_device
from ._inference import predict_dense
from .base import SpotterMixin
from .data import (
    ValidationSet,
    check_frame_rate,
    check_videos,
    check_videos_and_events,
    events_to_dense,
)
from .data._chunking import border_frames
from .metrics import average_map_score
from .nn import build_network, get_trunk_builder
from .postprocessing import scores_to_events
from .targets import (
    confidence_class_weights,
    confidence_targets,
    displacement_class_weights,
    displacement_targets,
    displacement_weighting,
)
from .training import (
    ChunkSampler,
    ConfidenceCriterion,
    DisplacementCriterion,
    FeatureStore,
)
from .training._distributed import rank_batch, resolve_distributed
from .training._progress import DurationEstimate, FitProgress
from .training._trainer import (
    RESERVED_CALLBACK_NAMES,
    NetworkSettings,
    checkpoint_fingerprint,
    data_digest,
    prepare_checkpoint_folder,
    train_network,
)

__all__ = ["DenseAnchorSpotter", "DenseScores"]

# Inference borders (docs/method.md, Inference): at test only the centre of
# each chunk is kept.
TEST_BORDER_SECONDS = 50.0
VALIDATION_BORDER_SECONDS = 20.0
# Tolerances that select the best epoch (docs/method.md, Training): the
# reference selects the confidence network on loose and the displacement
# network on "medium" (1-10 s).
CONFIDENCE_VALIDATION_TOLERANCES = "loose"
DISPLACEMENT_VALIDATION_TOLERANCES = tuple(float(s) for s in range(1, 11))
NETWORKS = ("confidence", "displacement")
# What shortens a fit, for the long-fit warning.
SHORTER_FIT_ADVICE = (
    "Shorten it with fewer epochs, chunks_per_epoch or a smaller batch_size, a "
    "smaller trunk (unet_levels, a shorter chunk_duration), or train on a GPU "
    "(device='cuda'); the paper's defaults are meant for a GPU."
)


class DenseScores(NamedTuple):
    """Dense per-frame outputs of a video before non-maximum suppression.

    Attributes
    ----------
    confidence : ndarray of shape (n_frames, n_classes)
        Sigmoid confidence of each anchor.
    displacement : ndarray of shape (n_frames, n_classes) or None
        Predicted displacement in frames from each anchor to its action, or
        None without a displacement network.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting import DenseScores
    >>> scores = DenseScores(np.zeros((4, 2)), None)
    >>> scores.confidence.shape, scores.displacement is None
    ((4, 2), True)
    """

    confidence: np.ndarray
    displacement: np.ndarray | None


class DenseAnchorSpotter(SpotterMixin, BaseEstimator):
    """Dense-detection-anchor action spotter (Soares et al., ICIP 2022).

    For every anchor (frame ``t``, class ``k``) one network predicts a
    confidence that an action of class ``k`` lies within
    ``confidence_radius`` seconds, and a second network the temporal
    displacement to that action.  Both share the architecture: a per-frame
    MLP, a trunk (1-D u-net of ResNet-V2 bottleneck blocks, or a Transformer
    encoder) and a kernel-3 head.  They are trained one after the other on
    uniformly sampled chunks with AdamW, decoupled weight decay, linear decay
    to 1/100, Sharpness-Aware Minimization and (confidence only) mixup.  At
    prediction time, sliding windows cover each video, confidences are moved
    by their displacement, and per-class non-maximum suppression keeps the
    peaks.

    Parameters
    ----------
    trunk : str, default="unet"
        Name of a registered trunk (docs/method.md, Networks): the built-in
        "unet" or "transformer", or one added with
        :func:`sk_spotting.nn.register_trunk` (docs/trunks.md).
    trunk_params : dict, default=None
        Keyword arguments of the trunk's builder, e.g. ``{"n_levels": 4}``
        for the u-net or ``{"size": "base"}`` for the Transformer; unknown
        keys are an error listing the builder's.  ``n_features_in`` and
        ``n_frames`` are set by the spotter.
    transformer_size : {"small", "base"}, default="small"
        Size of the Transformer trunk (4 layers/H 128 or 12 layers/H 256): a
        shortcut for ``trunk_params={"size": ...}``, passed to any trunk whose
        builder takes ``size``.
    unet_levels : int, default=None
        Resolutions of the u-net; None derives it from the chunk length
        (6 for 224 frames, 5 for 112), as in the paper.  A shortcut for
        ``trunk_params={"n_levels": ...}``, passed to any trunk whose builder
        takes ``n_levels``.  Giving a key both ways is an error.
    chunk_duration : float, default=112.0
        Seconds per training and inference chunk (docs/method.md, Training).
    frame_rate : float, default=2.0
        Frames (anchors) per second of the features.
    confidence_radius : float, default=3.0
        Seconds around an action whose anchors are confidence positives.
    displacement_radius : float, default=None
        Seconds around an action where displacement is learned; None means
        twice ``confidence_radius`` (the reference ties them).
    learning_rate : float, default=1e-3
        Initial AdamW learning rate of the confidence network.
    weight_decay : float, default=2e-4
        Decoupled weight decay per step, not multiplied by the learning rate
        (``w <- w - weight_decay * w``, as TensorFlow Addons' AdamW in the
        reference); it decays linearly with the learning rate.
    sam_rho : float, default=0.5
        SAM radius of the confidence network; 0 disables SAM.
    mixup_alpha : float, default=2.0
        Mixup Beta parameter of the confidence network; 0 disables mixup.
    displacement_learning_rate : float, default=1e-3
        Learning rate of the displacement network; None follows
        ``learning_rate``.  The default is the reference's value for the
        displacement network in its 2022 command file (its usage guide shows
        2e-3): on synthetic data at 2,000 steps 1e-3 lowered the displacement
        error more than 2e-3 in every seed, and 5e-3 learned nothing
        (docs/benchmarks.md).
    displacement_weight_decay : float, default=5e-4
        Weight decay of the displacement network; None follows
        ``weight_decay``.  The default is the reference's, in both its usage
        guide and its command file.
    displacement_sam_rho : float, default=None
        SAM radius of the displacement network; None follows ``sam_rho``.
    epochs : int, default=1000
        Training epochs of each network.
    decay_epochs : int, default=None
        Epochs over which the learning rate and weight decay decay linearly to
        1/100; None decays over ``epochs``, so that every fit ends at 1/100.
        The reference decays over 1,000 epochs whatever it trains
        (``decay_epochs=1000``); past the horizon the decay restarts, as
        Keras's cyclic decay does.
    chunks_per_epoch : int, default=8192
        Chunks sampled per epoch.
    batch_size : int, default=256
        Chunks per batch, in training and inference.
    positive_weight : float, default=0.03
        Share of each class's confidence-loss mass carried by positives.
    displacement_class_weight : {"auto", "balanced"} or None, default="auto"
        Weights of the displacement loss.  "balanced" is the reference's
        ``N / P_c`` per class (docs/method.md, Targets): every class carries
        the same loss mass, so an anchor of a rare class weighs thousands of
        times more than one of a frequent class.  None weighs every anchor
        within the radius alike (same total mass).  "auto" is "balanced" when
        a batch is expected to hold at least 0.05 actions of the rarest class
        (the paper's batches of 256 chunks of 112 s hold about 0.5 of
        SoccerNet-v2's), else None; the choice is in
        ``displacement_class_weight_``.  Measured on synthetic data with
        batches of 16 chunks of 32 s (0.006 actions of the rarest class per
        batch), "balanced" learned no displacement at all in 2,000 steps
        (error no better than predicting 0, tight average-mAP no better than
        without the network), while None reduced the error by a quarter and
        raised tight average-mAP; see docs/benchmarks.md.
    use_displacement : bool, default=True
        Train and apply the displacement network.
    nms : {"hard", "soft"}, default="hard"
        Greedy hard NMS or linear soft-NMS (docs/method.md, Inference).
    nms_window : float or dict, default=20.0
        Full NMS window in seconds, or a mapping from every class to its
        window (see :func:`sk_spotting.model_selection.tune_nms_windows`).
    displacement_selection_nms_window : float, default=3.0
        Full NMS window in seconds used to score the displacement network on
        validation data and choose its best epoch (the reference's 3-s window
        for that network); the confidence network is chosen with
        ``nms_window``.
    validation_interval : int, default=10
        Epochs between validation scores when validation data are given.
    classes : sequence of str, default=None
        Class names; None takes the sorted labels seen in ``y`` at fit.
    checkpoint_dir : str or os.PathLike, default=None
        Folder where each network's training state is saved every
        ``validation_interval`` epochs (atomically); ``fit(..., resume=True)``
        continues from it.
    device : str, default="auto"
        Torch device; "auto" is CUDA when available, else CPU.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        "auto" autocasts to bfloat16 on CUDA and runs float32 on CPU.
    callbacks : list or dict, default=None
        Extra skorch callbacks (objects or ``(name, callback)`` pairs), run
        after the library's own, e.g. ``skorch.callbacks.GradientNormClipping``
        or a TensorBoard logger.  A list goes to both networks (the same
        objects); a dict ``{"confidence": [...], "displacement": [...]}``
        gives each network its own.  ``on_grad_computed`` sees the gradient
        that the optimizer applies (with SAM, the one at the perturbed
        weights).  Callbacks are not saved by
        :func:`sk_spotting.save_spotter`.
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the processes that ``torchrun`` started
        (one per GPU, or CPU processes), with DistributedDataParallel:
        "auto" when ``torchrun`` started several processes (or a process
        group of several exists), True to require it, False to fit each
        process on its own.  The global batch stays ``batch_size``, split
        evenly over the processes; rank 0 alone validates, writes checkpoints
        and prints.  See docs/scaling.md.
    compile : bool or dict, default=False
        Compile each network's training forward pass and loss with
        :func:`torch.compile` (a dict gives its keyword arguments, e.g.
        ``{"mode": "max-autotune"}``).  The first steps pay the compilation
        (tens of seconds); the compiled kernels fuse operations in another
        order, so results differ from eager ones in the last bits, while
        equal ``random_state`` still gives equal runs.  Inference and saved
        models are not affected.  Meant for GPUs: on a 2-core CPU it trained
        no faster (the demo's u-net 14 % slower); see docs/gpu.md.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, chunk sampling and mixup; an int makes CPU runs
        bit-identical given the same number of torch threads (another number
        changes floating-point sums; see docs/determinism.md).
    verbose : int, default=0
        When > 0, show a progress bar over the steps of the whole fit (with
        its ETA, the epoch, the loss and the validation average-mAP) and say
        which checkpoints were removed or resumed.  At every verbosity a CPU
        fit that its first steps predict to last more than 30 minutes gets a
        ``UserWarning`` with the estimate and what shortens it.

    Attributes
    ----------
    classes_ : ndarray of str of shape (n_classes,)
        Class names, the columns of the dense outputs.
    n_features_in_ : int
        Features per frame seen at fit.
    confidence_net_ : SpottingNet
        Fitted skorch net of the confidence network (``.module_``,
        ``.history``).
    displacement_net_ : SpottingNet or None
        Fitted skorch net of the displacement network.
    displacement_class_weight_ : {"balanced"} or None
        The displacement weighting used (what "auto" chose); None also when
        ``use_displacement=False``.

    See Also
    --------
    sk_spotting.metrics.average_map_score : The metric of ``score``.

    Notes
    -----
    Defaults: radii, chunk, epochs, batch, positive weight, NMS window and the
    schedule are the paper's and the reference code's (docs/method.md, Defaults).  The
    learning rate and weight decay are the reference's documented values for
    the ResNet+PCA features; ``sam_rho=0.5`` and ``mixup_alpha=2.0`` are the
    reference's 2022 challenge values for ResNet features, the closest
    recorded, not the paper's (docs/method.md).  Deliberate deviations are listed in
    ``docs/method.md``.

    References
    ----------
    .. [1] J. V. B. Soares, A. Shah, T. Biswas, "Temporally Precise Action
       Spotting in Soccer Videos Using Dense Detection Anchors", ICIP 2022.

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> X, y = make_spotting_data(2, n_features=16, minutes=2.0, random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=2, epochs=1,
    ...                              chunks_per_epoch=8, batch_size=4,
    ...                              random_state=0).fit(X, y)
    >>> events = spotter.predict(X)
    >>> list(events[0].columns)
    ['time', 'label', 'confidence']
    """

    _parameter_constraints = {
        "trunk": [str],
        "trunk_params": [dict, None],
        "transformer_size": [StrOptions({"small", "base"})],
        "unet_levels": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "chunk_duration": [Interval(numbers.Real, 0, None, closed="neither")],
        "frame_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "confidence_radius": [Interval(numbers.Real, 0, None, closed="left")],
        "displacement_radius": [
            Interval(numbers.Real, 0, None, closed="neither"),
            None,
        ],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "sam_rho": [Interval(numbers.Real, 0, None, closed="left")],
        "mixup_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "displacement_learning_rate": [
            Interval(numbers.Real, 0, None, closed="neither"),
            None,
        ],
        "displacement_weight_decay": [
            Interval(numbers.Real, 0, None, closed="left"),
            None,
        ],
        "displacement_sam_rho": [Interval(numbers.Real, 0, None, closed="left"), None],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "decay_epochs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "chunks_per_epoch": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "positive_weight": [Interval(numbers.Real, 0, 1, closed="neither")],
        "displacement_class_weight": [StrOptions({"auto", "balanced"}), None],
        "use_displacement": ["boolean"],
        "nms": [StrOptions({"hard", "soft"})],
        "nms_window": [Interval(numbers.Real, 0, None, closed="neither"), dict],
        "displacement_selection_nms_window": [
            Interval(numbers.Real, 0, None, closed="neither")
        ],
        "validation_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "classes": ["array-like", None],
        "checkpoint_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "callbacks": [list, dict, None],
        "distributed": [StrOptions({"auto"}), "boolean"],
        "compile": ["boolean", dict],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        trunk="unet",
        *,
        trunk_params=None,
        transformer_size="small",
        unet_levels=None,
        chunk_duration=112.0,
        frame_rate=2.0,
        confidence_radius=3.0,
        displacement_radius=None,
        learning_rate=1e-3,
        weight_decay=2e-4,
        sam_rho=0.5,
        mixup_alpha=2.0,
        displacement_learning_rate=1e-3,
        displacement_weight_decay=5e-4,
        displacement_sam_rho=None,
        epochs=1000,
        decay_epochs=None,
        chunks_per_epoch=8192,
        batch_size=256,
        positive_weight=0.03,
        displacement_class_weight="auto",
        use_displacement=True,
        nms="hard",
        nms_window=20.0,
        displacement_selection_nms_window=3.0,
        validation_interval=10,
        classes=None,
        checkpoint_dir=None,
        device="auto",
        precision="auto",
        callbacks=None,
        distributed="auto",
        compile=False,
        random_state=None,
        verbose=0,
    ):
        self.trunk = trunk
        self.trunk_params = trunk_params
        self.transformer_size = transformer_size
        self.unet_levels = unet_levels
        self.chunk_duration = chunk_duration
        self.frame_rate = frame_rate
        self.confidence_radius = confidence_radius
        self.displacement_radius = displacement_radius
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.sam_rho = sam_rho
        self.mixup_alpha = mixup_alpha
        self.displacement_learning_rate = displacement_learning_rate
        self.displacement_weight_decay = displacement_weight_decay
        self.displacement_sam_rho = displacement_sam_rho
        self.epochs = epochs
        self.decay_epochs = decay_epochs
        self.chunks_per_epoch = chunks_per_epoch
        self.batch_size = batch_size
        self.positive_weight = positive_weight
        self.displacement_class_weight = displacement_class_weight
        self.use_displacement = use_displacement
        self.nms = nms
        self.nms_window = nms_window
        self.displacement_selection_nms_window = displacement_selection_nms_window
        self.validation_interval = validation_interval
        self.classes = classes
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.precision = precision
        self.callbacks = callbacks
        self.distributed = distributed
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ sizes
    @property
    def _chunk_frames(self):
        return int(math.floor(self.frame_rate * self.chunk_duration + 1e-9))

    @property
    def _displacement_radius_frames(self):
        radius = self.displacement_radius
        if radius is None:
            radius = 2.0 * self.confidence_radius
        return float(radius) * self.frame_rate

    def _follow(self, name):
        value = getattr(self, "displacement_" + name)
        return getattr(self, name) if value is None else value

    # -------------------------------------------------------------------- fit
    def _check_fit_data(self, X, y):
        frame_rate = check_frame_rate(self.frame_rate)
        classes = None if self.classes is None else [str(c) for c in self.classes]
        videos, events = check_videos_and_events(
            X, y, frame_rate=frame_rate, classes=classes
        )
        if classes is None:
            classes = sorted({label for e in events for label in e["label"]})
            if not classes:
                raise ValueError(
                    "y has no events at all: at least one labelled action is "
                    "needed to learn the classes (or pass classes=...)."
                )
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes has duplicates: {classes}.")
        if self._chunk_frames < 2:
            raise ValueError(
                f"chunk_duration={self.chunk_duration} s at frame_rate="
                f"{self.frame_rate} gives {self._chunk_frames} frames per chunk; "
                f"at least 2 are needed."
            )
        if isinstance(self.nms_window, dict):
            missing = sorted(set(classes) - set(self.nms_window))
            if missing:
                raise ValueError(f"nms_window has no window for class(es) {missing}.")
        return videos, events, np.asarray(classes, dtype=object)

    def _dense_labels(self, videos, events):
        return [
            events_to_dense(
                e,
                n_frames=v.shape[0],
                classes=self.classes_,
                frame_rate=self.frame_rate,
            )
            for v, e in zip(videos, events)
        ]

    # ------------------------------------------------------- fit-time checks
    def _validate_params(self):
        """scikit-learn's parameter checks, then those needing more than types.

        The trunk must be registered, ``trunk_params`` must suit its builder,
        ``device`` must exist on this machine and ``callbacks`` must be skorch
        callbacks with free names: all checked before any data is read.
        """
        super()._validate_params()
        self._trunk_options()
        resolve_device(self.device)
        self._user_callbacks()

    def _trunk_options(self):
        """Keyword arguments of the trunk builder, checked against its signature."""
        builder = get_trunk_builder(self.trunk)
        signature = inspect.signature(builder).parameters
        accepts_any = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()
        )
        reserved = {"n_features_in", "n_frames"}
        accepted = sorted(set(signature) - reserved)
        options = dict(self.trunk_params or {})
        for key in options:
            if not isinstance(key, str):
                raise ValueError(f"trunk_params keys must be strings, got {key!r}.")
        bad = sorted(set(options) & reserved)
        if bad:
            raise ValueError(
                f"trunk_params cannot set {bad}: the spotter sets them from the "
                f"features and chunk_duration."
            )
        unknown = sorted(k for k in options if k not in signature or k in reserved)
        if unknown and not accepts_any:
            raise ValueError(
                f"trunk_params has {unknown}, which the {self.trunk!r} trunk's "
                f"builder does not take; it takes {accepted}."
            )
        shortcuts = {"n_levels": self.unet_levels, "size": self.transformer_size}
        for key, value in shortcuts.items():
            if value is None or key not in signature:
                continue
            if key in options and key not in self.trunk_params:
                continue
            if key in options:
                if key == "n_levels" or self.transformer_size != "small":
                    name = "unet_levels" if key == "n_levels" else "transformer_size"
                    raise ValueError(
                        f"{key!r} is given twice: as {name}={value!r} and in "
                        f"trunk_params; set it in one place."
                    )
                continue  # the default transformer_size yields to trunk_params
            options[key] = value
        return options

    def _user_callbacks(self):
        """The ``callbacks`` parameter as ``{network: [(name, callback), ...]}``."""
        if self.callbacks is None:
            return {network: [] for network in NETWORKS}
        if isinstance(self.callbacks, dict):
            unknown = sorted(set(self.callbacks) - set(NETWORKS))
            if unknown:
                raise ValueError(
                    f"callbacks has keys {unknown}; a dict of callbacks takes the "
                    f"keys {list(NETWORKS)}."
                )
            given = {n: self.callbacks.get(n) or [] for n in NETWORKS}
        else:
            given = dict.fromkeys(NETWORKS, self.callbacks)
        named = {}
        for network, callbacks in given.items():
            if not isinstance(callbacks, (list, tuple)):
                raise TypeError(
                    f"callbacks for the {network} network must be a list, got "
                    f"{type(callbacks).__name__}."
                )
            pairs = []
            for i, item in enumerate(callbacks):
                if isinstance(item, tuple) and len(item) == 2:
                    name, callback = item
                else:
                    name, callback = None, item
                if not isinstance(callback, Callback):
                    raise TypeError(
                        f"callbacks[{i}] is {type(callback).__name__}, not a "
                        f"skorch.callbacks.Callback (or a (name, callback) pair)."
                    )
                if name is None:
                    name = type(callback).__name__
                if not isinstance(name, str) or name in RESERVED_CALLBACK_NAMES:
                    raise ValueError(
                        f"callback name {name!r} is taken by the library's own "
                        f"callbacks {sorted(RESERVED_CALLBACK_NAMES)}; choose "
                        f"another name."
                    )
                if name in dict(pairs):
                    raise ValueError(
                        f"two callbacks are named {name!r}; name them with "
                        f"(name, callback) pairs."
                    )
                pairs.append((name, callback))
            named[network] = pairs
        return named

    def _check_validation_data(self, X_valid, y_valid, classes):
        if isinstance(X_valid, ValidationSet):
            if y_valid is not None:
                raise ValueError(
                    "X_valid is a ValidationSet, which holds its own events; "
                    "leave y_valid unset."
                )
            X_valid, y_valid = X_valid.X, X_valid.y
        if (X_valid is None) != (y_valid is None):
            raise ValueError("Give both X_valid and y_valid, or neither.")
        if X_valid is None:
            return None
        return check_videos_and_events(
            X_valid,
            y_valid,
            frame_rate=self.frame_rate,
            classes=list(classes),
            n_features=self.n_features_in_,
        )

    def _resume_fingerprint(self, videos, events):
        """Settings and training data that a resumed checkpoint must match."""
        # Settings that do not change what is trained can differ on resume.
        free = {
            "checkpoint_dir",
            "verbose",
            "device",
            "validation_interval",
            "compile",
            "callbacks",
            "distributed",
            "nms",
            "nms_window",
        }
        params = {k: v for k, v in self.get_params().items() if k not in free}
        return checkpoint_fingerprint(
            params,
            classes=self.classes_,
            n_features=self.n_features_in_,
            data=data_digest(videos, events),
        )

    def _say(self, message):
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, *, X_valid=None, y_valid=None, on_validation=None, resume=False
    ):
        """Train the confidence network, then the displacement network.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Training videos.
        y : list of pandas.DataFrame
            Events of each training video (``time`` in seconds, ``label``).
        X_valid : list of array-like or ValidationSet, default=None
            Validation videos; with them, average-mAP is computed every
            ``validation_interval`` epochs on whole videos and each network
            keeps its best weights.  A :class:`~sk_spotting.ValidationSet`
            holds the videos and their events in one object that
            scikit-learn's ``GridSearchCV`` and ``cross_validate`` pass on
            unsliced (see docs/tuning.md).
        y_valid : list of pandas.DataFrame, default=None
            Events of the validation videos (unset with a ValidationSet).
        on_validation : callable, default=None
            ``on_validation(network, epoch, score)`` is called after each
            validation score, with ``network`` "confidence" or
            "displacement" and ``epoch`` that network's 1-based epoch; an
            exception it raises (e.g. ``optuna.TrialPruned``) stops the fit.
        resume : bool, default=False
            Continue from the checkpoints in ``checkpoint_dir`` when they
            exist; they must come from the same settings and training data
            (the error names what differs).  A finished network is not
            retrained.  Without ``resume``, the checkpoints of an earlier run
            in ``checkpoint_dir`` are removed first.

        Returns
        -------
        self : DenseAnchorSpotter
            The fitted spotter.
        """
        device = resolve_device(self.device)
        user_callbacks = self._user_callbacks()
        videos, events, classes = self._check_fit_data(X, y)
        self.classes_ = classes
        self.n_features_in_ = videos[0].shape[1]
        valid = self._check_validation_data(X_valid, y_valid, classes)
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir to be set.")
        if on_validation is not None and not callable(on_validation):
            raise TypeError("on_validation must be callable or None.")
        distributed = resolve_distributed(self.distributed, device)
        if distributed is not None:
            device = distributed.device
            rank_batch(self.batch_size, self.chunks_per_epoch, distributed)
        main = distributed is None or distributed.is_main
        fingerprint = None
        if self.checkpoint_dir is not None:
            fingerprint = self._resume_fingerprint(videos, events)
            removed = prepare_checkpoint_folder(
                self.checkpoint_dir,
                [f"{network}.pt" for network in NETWORKS],
                resume=resume,
                distributed=distributed,
            )
            if removed:
                self._say("removed from an earlier run: " + ", ".join(sorted(removed)))
        n_networks = 2 if self.use_displacement else 1
        steps_per_network = self.epochs * max(
            1, math.ceil(self.chunks_per_epoch / self.batch_size)
        )
        total_steps = n_networks * steps_per_network
        self._fit_state = {
            "device": device,
            "on_validation": on_validation,
            "resume": resume,
            "fingerprint": fingerprint,
            "callbacks": user_callbacks,
            "distributed": distributed,
            "progress": FitProgress(total_steps, disable=not (self.verbose and main)),
            "estimate": (
                DurationEstimate(total_steps, device, SHORTER_FIT_ADVICE)
                if main
                else None
            ),
            "steps_per_network": steps_per_network,
        }
        try:
            rng = check_random_state(self.random_state)
            seeds = rng.randint(np.iinfo(np.int32).max, size=2)
            labels = self._dense_labels(videos, events)
            self.confidence_net_ = self._fit_confidence(videos, labels, valid, seeds[0])
            self.displacement_net_ = None
            self.displacement_class_weight_ = None
            if self.use_displacement:
                self.displacement_net_ = self._fit_displacement(
                    videos, labels, valid, seeds[1]
                )
        finally:
            self._fit_state["progress"].close()
            # the hooks may hold an Optuna trial: never keep them on the estimator
            del self._fit_state
        return self

    def _fit_confidence(self, videos, labels, valid, seed):
        radius = self.confidence_radius * self.frame_rate
        targets = [confidence_targets(lab, radius) for lab in labels]
        positive, negative = confidence_class_weights(
            targets, positive_weight=self.positive_weight
        )
        score_fn = None
        if valid is not None:
            valid_videos, valid_events = valid

            def score_fn(net):
                confidence = self._infer(net.module_, valid_videos, "confidence")
                return self._score_dense(
                    confidence, None, valid_events, CONFIDENCE_VALIDATION_TOLERANCES
                )

        # the boolean targets are also the weight masks, expanded per batch
        return self._train(
            "confidence",
            ConfidenceCriterion(),
            videos,
            targets,
            (targets, (positive, negative)),
            score_fn,
            seed,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            sam_rho=self.sam_rho,
            mixup_alpha=self.mixup_alpha,
        )

    def _fit_displacement(self, videos, labels, valid, seed):
        radius = self._displacement_radius_frames
        pairs = [displacement_targets(lab, radius) for lab in labels]
        weighting = self.displacement_class_weight
        if weighting == "auto":
            weighting, per_batch = displacement_weighting(
                labels, batch_frames=self.batch_size * self._chunk_frames
            )
            how = "balanced by class" if weighting else "weighed alike"
            rarest = per_batch[per_batch > 0].min() if (per_batch > 0).any() else 0.0
            self._say(
                f"displacement loss: anchors {how} (the rarest class expects "
                f"{rarest:.3g} actions per batch)"
            )
        self.displacement_class_weight_ = weighting
        positive = displacement_class_weights(
            [mask for _, mask in pairs], class_weight=weighting
        )
        masks = [mask for _, mask in pairs]
        score_fn = None
        if valid is not None:
            valid_videos, valid_events = valid
            confidence = self._infer(
                self.confidence_net_.module_, valid_videos, "confidence"
            )

            def score_fn(net):
                displacement = self._infer(net.module_, valid_videos, "displacement")
                return self._score_dense(
                    confidence,
                    displacement,
                    valid_events,
                    DISPLACEMENT_VALIDATION_TOLERANCES,
                    nms_window=float(self.displacement_selection_nms_window),
                )

        return self._train(
            "displacement",
            DisplacementCriterion(radius=radius),
            videos,
            [d for d, _ in pairs],
            (masks, (positive, np.zeros_like(positive))),
            score_fn,
            seed,
            learning_rate=self._follow("learning_rate"),
            weight_decay=self._follow("weight_decay"),
            sam_rho=self._follow("sam_rho"),
            mixup_alpha=0.0,
        )

    def _build_module(self, head):
        return build_network(
            self.trunk,
            n_features=self.n_features_in_,
            n_classes=len(self.classes_),
            n_frames=self._chunk_frames,
            head=head,
            displacement_radius=self._displacement_radius_frames,
            trunk_params=self._trunk_options(),
        )

    def _train(self, head, criterion, videos, targets, weights, score_fn, seed, **hp):
        """Train the network ``head`` with the recipe of ``training``.

        ``weights`` is ``(masks, (positive, negative))``: per-video boolean
        masks and the per-class weights of True and False anchors.
        """
        state = self._fit_state
        device = state["device"]
        autocast = resolve_autocast(self.precision, device)
        if "features" not in state:  # one store for both networks
            state["features"] = FeatureStore(
                videos,
                device=device,
                dtype=torch.float32 if autocast is None else autocast,
            )
            self._say(state["features"].describe())
        masks, class_weights = weights
        settings = NetworkSettings(
            head,
            epochs=self.epochs,
            decay_epochs=self.decay_epochs or self.epochs,
            validation_interval=self.validation_interval,
            device=device,
            autocast_dtype=autocast,
            compile=self._train_compile(),
            callbacks=state["callbacks"][head],
            distributed=state["distributed"],
            **hp,
        )
        batch_size, chunks_per_epoch = rank_batch(
            self.batch_size, self.chunks_per_epoch, state["distributed"]
        )
        on_score = None
        if state["on_validation"] is not None:

            def on_score(epoch, score):
                state["on_validation"](head, epoch, score)

        checkpoint_path = None
        if self.checkpoint_dir is not None:
            checkpoint_path = os.path.join(os.fspath(self.checkpoint_dir), f"{head}.pt")
        return train_network(
            lambda: self._build_module(head),
            criterion,
            lambda: ChunkSampler(
                state["features"],
                targets,
                masks,
                class_weights=class_weights,
                chunk_frames=self._chunk_frames,
                batch_size=batch_size,
                chunks_per_epoch=chunks_per_epoch,
                device=device,
            ),
            settings,
            seed=seed,
            score_fn=score_fn,
            on_score=on_score,
            checkpoint_path=checkpoint_path,
            fingerprint=state["fingerprint"],
            resume=state["resume"],
            progress=state["progress"],
            estimate=state["estimate"],
            steps_before=NETWORKS.index(head) * state["steps_per_network"],
        )

    def _train_compile(self):
        if isinstance(self.compile, dict):
            return dict(self.compile)
        return {} if self.compile else None

    # -------------------------------------------------------------- inference
    def _infer(self, module, videos, head, border_seconds=VALIDATION_BORDER_SECONDS):
        """Dense outputs ``(t, c)`` of ``module`` on each whole video."""
        device = next(module.parameters()).device
        chunk_frames = self._chunk_frames
        return predict_dense(
            module,
            videos,
            chunk_frames=chunk_frames,
            border=border_frames(chunk_frames, self.frame_rate, border_seconds),
            batch_size=self.batch_size,
            transform=torch.sigmoid if head == "confidence" else None,
            autocast_dtype=resolve_autocast(self.precision, device.type),
        )

    def _nms_window_seconds(self):
        if isinstance(self.nms_window, dict):
            return [float(self.nms_window[c]) for c in self.classes_]
        return float(self.nms_window)

    def _decode(self, confidence, displacement, nms_window=None):
        """Events of one video from its dense outputs."""
        return scores_to_events(
            confidence,
            displacement,
            classes=self.classes_,
            frame_rate=self.frame_rate,
            nms_method=self.nms,
            nms_window=self._nms_window_seconds() if nms_window is None else nms_window,
        )

    def _score_dense(
        self, confidence, displacement, events, tolerances, nms_window=None
    ):
        if displacement is None:
            displacement = [None] * len(confidence)
        predictions = [
            self._decode(c, d, nms_window) for c, d in zip(confidence, displacement)
        ]
        return average_map_score(
            events, predictions, tolerances=tolerances, classes=list(self.classes_)
        )

    def _check_predict_input(self, X):
        check_is_fitted(self, "confidence_net_")
        return check_videos(X, n_features=self.n_features_in_)

    def predict_scores(self, X):
        """Dense per-frame confidences and displacements, before NMS.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Videos.

        Returns
        -------
        scores : list of DenseScores
            One ``(confidence, displacement)`` pair per video, each of shape
            ``(n_frames_i, n_classes)``; ``displacement`` (frames) is None when
            ``use_displacement=False``.
        """
        videos = self._check_predict_input(X)
        confidence = self._infer(
            self.confidence_net_.module_, videos, "confidence", TEST_BORDER_SECONDS
        )
        if self.displacement_net_ is None:
            return [DenseScores(c, None) for c in confidence]
        displacement = self._infer(
            self.displacement_net_.module_, videos, "displacement", TEST_BORDER_SECONDS
        )
        return [DenseScores(c, d) for c, d in zip(confidence, displacement)]

    def predict(self, X):
        """Spotted actions of each video, after displacement and NMS.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Videos.

        Returns
        -------
        events : list of pandas.DataFrame
            One table per video with columns ``time`` (seconds), ``label`` and
            ``confidence``, sorted by time.
        """
        return [self._decode(c, d) for c, d in self.predict_scores(X)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
