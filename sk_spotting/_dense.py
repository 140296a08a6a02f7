"""DenseAnchorSpotter: the dense-detection-anchor spotter as one estimator.

Shape legend: t frames, c classes, d features.

Soares, Shah and Biswas, "Temporally Precise Action Spotting in Soccer Videos
Using Dense Detection Anchors", ICIP 2022 (arXiv 2205.10450), resolved against
the authors' reference implementation (yahoo/spivak); see docs/method.md.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._inference import predict_dense
from .base import SpotterMixin
from .data import (
    check_frame_rate,
    check_videos,
    check_videos_and_events,
    events_to_dense,
)
from .data._chunking import border_frames
from .metrics import average_map_score
from .nn import build_network
from .postprocessing import scores_to_events
from .targets import (
    confidence_class_weights,
    confidence_targets,
    displacement_class_weights,
    displacement_targets,
)
from .training import (
    ChunkSampler,
    ConfidenceCriterion,
    DisplacementCriterion,
    EpochProgressBar,
    KeepBestWeights,
    LinearDecayScheduler,
    SpottingNet,
    TrainingCheckpoint,
    ValidationScore,
)

__all__ = ["DenseAnchorSpotter", "DenseScores"]

# Inference borders (docs/method.md): at test only the centre of each chunk is kept.
TEST_BORDER_SECONDS = 50.0
VALIDATION_BORDER_SECONDS = 20.0
# Tolerances that select the best epoch (docs/method.md): the reference selects the
# confidence network on loose and the displacement network on "medium" (1-10 s).
CONFIDENCE_VALIDATION_TOLERANCES = "loose"
DISPLACEMENT_VALIDATION_TOLERANCES = tuple(float(s) for s in range(1, 11))
ADAM_EPSILON = 1e-7  # Keras's Adam epsilon (docs/method.md, Training)
END_LEARNING_RATE_FRACTION = 0.01  # linear decay to 1/100 (docs/method.md, Training)


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


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def _resolve_autocast(precision, device):
    if precision == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else None
    return {"float32": None, "bfloat16": torch.bfloat16}[precision]


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
    trunk : {"unet", "transformer"}, default="unet"
        Trunk architecture (docs/method.md, Networks).
    transformer_size : {"small", "base"}, default="small"
        Size of the Transformer trunk (4 layers/H 128 or 12 layers/H 256).
    unet_levels : int, default=None
        Resolutions of the u-net; None derives it from the chunk length
        (6 for 224 frames, 5 for 112), as in the paper.
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
    displacement_learning_rate : float, default=None
        Learning rate of the displacement network; None follows
        ``learning_rate``.
    displacement_weight_decay : float, default=None
        Weight decay of the displacement network; None follows
        ``weight_decay``.
    displacement_sam_rho : float, default=None
        SAM radius of the displacement network; None follows ``sam_rho``.
    epochs : int, default=1000
        Training epochs of each network.
    chunks_per_epoch : int, default=8192
        Chunks sampled per epoch.
    batch_size : int, default=256
        Chunks per batch, in training and inference.
    positive_weight : float, default=0.03
        Share of each class's confidence-loss mass carried by positives.
    displacement_class_weight : {"balanced"} or None, default="balanced"
        Weights of the displacement loss.  "balanced" is the reference's
        ``N / P_c`` per class (docs/method.md): every class carries the same loss
        mass, so an anchor of a rare class weighs hundreds of times more
        than one of a frequent class.  None weighs every anchor within the
        radius alike (same total mass).  Measured on synthetic data with
        small batches (16 chunks of 32 s, 640-3,200 steps), "balanced"
        did not learn the frequent classes' displacements at all, while None
        did; see docs/benchmarks.md.  Large batches (the paper's 256 chunks
        of 112 s, about 10 halves per step) dilute the rare-class spikes.
    use_displacement : bool, default=True
        Train and apply the displacement network.
    nms : {"hard", "soft"}, default="hard"
        Greedy hard NMS or linear soft-NMS (docs/method.md, Inference).
    nms_window : float or dict, default=20.0
        Full NMS window in seconds, or a mapping from every class to its
        window.
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
        Show progress bars when > 0.

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
        "trunk": [StrOptions({"unet", "transformer"})],
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
        "chunks_per_epoch": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "positive_weight": [Interval(numbers.Real, 0, 1, closed="neither")],
        "displacement_class_weight": [StrOptions({"balanced"}), None],
        "use_displacement": ["boolean"],
        "nms": [StrOptions({"hard", "soft"})],
        "nms_window": [Interval(numbers.Real, 0, None, closed="neither"), dict],
        "validation_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "classes": ["array-like", None],
        "checkpoint_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "compile": ["boolean", dict],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        trunk="unet",
        *,
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
        displacement_learning_rate=None,
        displacement_weight_decay=None,
        displacement_sam_rho=None,
        epochs=1000,
        chunks_per_epoch=8192,
        batch_size=256,
        positive_weight=0.03,
        displacement_class_weight="balanced",
        use_displacement=True,
        nms="hard",
        nms_window=20.0,
        validation_interval=10,
        classes=None,
        checkpoint_dir=None,
        device="auto",
        precision="auto",
        compile=False,
        random_state=None,
        verbose=0,
    ):
        self.trunk = trunk
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
        self.chunks_per_epoch = chunks_per_epoch
        self.batch_size = batch_size
        self.positive_weight = positive_weight
        self.displacement_class_weight = displacement_class_weight
        self.use_displacement = use_displacement
        self.nms = nms
        self.nms_window = nms_window
        self.validation_interval = validation_interval
        self.classes = classes
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.precision = precision
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
        X_valid : list of array-like, default=None
            Validation videos; with them, average-mAP is computed every
            ``validation_interval`` epochs on whole videos and each network
            keeps its best weights.
        y_valid : list of pandas.DataFrame, default=None
            Events of the validation videos.
        on_validation : callable, default=None
            ``on_validation(network, epoch, score)`` is called after each
            validation score, with ``network`` "confidence" or
            "displacement" and ``epoch`` that network's 1-based epoch; an
            exception it raises (e.g. ``optuna.TrialPruned``) stops the fit.
        resume : bool, default=False
            Continue from the checkpoints in ``checkpoint_dir`` when they
            exist (settings must match); a finished network is not retrained.

        Returns
        -------
        self : DenseAnchorSpotter
            The fitted spotter.
        """
        videos, events, classes = self._check_fit_data(X, y)
        self.classes_ = classes
        self.n_features_in_ = videos[0].shape[1]
        valid = None
        if (X_valid is None) != (y_valid is None):
            raise ValueError("Give both X_valid and y_valid, or neither.")
        if X_valid is not None:
            valid = check_videos_and_events(
                X_valid,
                y_valid,
                frame_rate=self.frame_rate,
                classes=list(classes),
                n_features=self.n_features_in_,
            )
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir to be set.")
        if on_validation is not None and not callable(on_validation):
            raise TypeError("on_validation must be callable or None.")
        self._on_validation = on_validation
        self._resume = resume
        try:
            self._device = _resolve_device(self.device)
            rng = check_random_state(self.random_state)
            seeds = rng.randint(np.iinfo(np.int32).max, size=2)
            labels = self._dense_labels(videos, events)
            self.confidence_net_ = self._fit_confidence(videos, labels, valid, seeds[0])
            self.displacement_net_ = None
            if self.use_displacement:
                self.displacement_net_ = self._fit_displacement(
                    videos, labels, valid, seeds[1]
                )
        finally:
            # the hooks may hold an Optuna trial: never keep them on the estimator
            del self._on_validation, self._resume
        return self

    def _fit_confidence(self, videos, labels, valid, seed):
        radius = self.confidence_radius * self.frame_rate
        targets = [confidence_targets(lab, radius) for lab in labels]
        positive, negative = confidence_class_weights(
            targets, positive_weight=self.positive_weight
        )
        weights = [np.where(t, positive, negative) for t in targets]
        score_fn = None
        if valid is not None:
            valid_videos, valid_events = valid

            def score_fn(net):
                confidence = self._infer(net.module_, valid_videos, "confidence")
                return self._score_dense(
                    confidence, None, valid_events, CONFIDENCE_VALIDATION_TOLERANCES
                )

        return self._train(
            "confidence",
            videos,
            [t.astype(np.float32) for t in targets],
            weights,
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
        positive = displacement_class_weights(
            [mask for _, mask in pairs], class_weight=self.displacement_class_weight
        )
        weights = [
            np.where(mask, positive, 0.0).astype(np.float32) for _, mask in pairs
        ]
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
                )

        return self._train(
            "displacement",
            videos,
            [d for d, _ in pairs],
            weights,
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
            transformer_size=self.transformer_size,
            n_levels=self.unet_levels if self.trunk == "unet" else None,
        )

    def _train(
        self,
        head,
        videos,
        targets,
        weights,
        score_fn,
        seed,
        *,
        learning_rate,
        weight_decay,
        sam_rho,
        mixup_alpha,
    ):
        device = self._device
        n_steps = self.epochs * math.ceil(self.chunks_per_epoch / self.batch_size)
        if head == "confidence":
            criterion = ConfidenceCriterion()
        else:
            criterion = DisplacementCriterion(radius=self._displacement_radius_frames)
        callbacks = [
            ("lr_decay", LinearDecayScheduler(n_steps, END_LEARNING_RATE_FRACTION)),
            ("progress", EpochProgressBar(head, disable=not self.verbose)),
        ]
        if score_fn is not None:
            on_score = None
            if self._on_validation is not None:

                def on_score(epoch, score):
                    self._on_validation(head, epoch, score)

            callbacks += [
                (
                    "validation",
                    ValidationScore(
                        score_fn, self.validation_interval, on_score=on_score
                    ),
                ),
                ("best_weights", KeepBestWeights()),
            ]
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = TrainingCheckpoint(
                os.path.join(os.fspath(self.checkpoint_dir), f"{head}.pt"),
                self.validation_interval,
                fingerprint=self._fingerprint(),
            )
            callbacks.append(("checkpoint", checkpoint))
        autocast = _resolve_autocast(self.precision, device)
        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            module = self._build_module(head)
            sampler = ChunkSampler(
                videos,
                targets,
                weights,
                chunk_frames=self._chunk_frames,
                batch_size=self.batch_size,
                chunks_per_epoch=self.chunks_per_epoch,
                device=device,
                feature_dtype=torch.float32 if autocast is None else autocast,
            )
            net = SpottingNet(
                module,
                criterion=criterion,
                sam_rho=sam_rho,
                mixup_alpha=mixup_alpha,
                autocast_dtype=autocast,
                train_compile=self._train_compile(),
                optimizer=torch.optim.AdamW,
                lr=learning_rate,
                # PyTorch multiplies the decay by the learning rate; dividing
                # here gives the reference's unscaled decoupled decay.
                optimizer__weight_decay=weight_decay / learning_rate,
                optimizer__eps=ADAM_EPSILON,
                optimizer__betas=(0.9, 0.999),
                # one fused kernel per step on CUDA, multi-tensor loops on CPU
                **(
                    {"optimizer__fused": True}
                    if device.startswith("cuda")
                    else {"optimizer__foreach": True}
                ),
                max_epochs=self.epochs,
                callbacks=callbacks,
                device=device,
            )
            net.initialize()
            state = self._load_checkpoint(checkpoint)
            if state is not None:
                TrainingCheckpoint.restore(net, state)
            if state is None or not state["complete"]:
                net.partial_fit(sampler, epochs=self.epochs - len(net.history))
                if checkpoint is not None:
                    checkpoint.save(net, complete=True)
        for _, callback in net.callbacks_:
            if isinstance(callback, ValidationScore):
                # a restored, finished net never ran on_train_end
                callback.on_train_end(net)
        return net

    def _train_compile(self):
        if isinstance(self.compile, dict):
            return dict(self.compile)
        return {} if self.compile else None

    def _fingerprint(self):
        """Settings that a checkpoint must share to be resumed."""
        ignored = {
            "checkpoint_dir",
            "verbose",
            "device",
            "validation_interval",
            "compile",
        }
        return {
            "params": {
                k: repr(v) for k, v in self.get_params().items() if k not in ignored
            },
            "classes": list(self.classes_),
            "n_features": self.n_features_in_,
        }

    def _load_checkpoint(self, checkpoint):
        if checkpoint is None or not self._resume:
            return None
        if not os.path.exists(checkpoint.path):
            return None
        state = TrainingCheckpoint.load(checkpoint.path)
        if state["fingerprint"] != checkpoint.fingerprint:
            raise ValueError(
                f"the checkpoint {checkpoint.path} was written with other settings "
                f"or data; remove it or resume with the settings it was made with."
            )
        return state

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
            autocast_dtype=_resolve_autocast(self.precision, device.type),
        )

    def _nms_window_seconds(self):
        if isinstance(self.nms_window, dict):
            return [float(self.nms_window[c]) for c in self.classes_]
        return float(self.nms_window)

    def _decode(self, confidence, displacement):
        """Events of one video from its dense outputs."""
        return scores_to_events(
            confidence,
            displacement,
            classes=self.classes_,
            frame_rate=self.frame_rate,
            nms_method=self.nms,
            nms_window=self._nms_window_seconds(),
        )

    def _score_dense(self, confidence, displacement, events, tolerances):
        if displacement is None:
            displacement = [None] * len(confidence)
        predictions = [self._decode(c, d) for c, d in zip(confidence, displacement)]
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
