"""Per-class loss weights counted on the training set (docs/method.md, Targets).

Confidence: over all frames of all training videos, class ``c`` has ``P_c``
positive and ``Q_c`` negative anchors (``N = P_c + Q_c``).  Positives weigh
``w+ = p * N / P_c`` and negatives ``w- = (1 - p) * N / Q_c`` with ``p`` the
positive weight (0.03 in the paper), so that positives of every class carry
``p`` of that class's loss mass whatever its frequency.

Displacement: anchors within the displacement radius weigh ``N / P_c``; all
others weigh 0, so the loss only exists near actions.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["confidence_class_weights", "displacement_class_weights"]


def _counts(targets):
    positives = np.zeros(targets[0].shape[1], dtype=np.float64)
    n_anchors = 0
    for target in targets:
        positives += target.sum(axis=0)
        n_anchors += target.shape[0]
    return positives, float(n_anchors)


@validate_params(
    {
        "targets": [list],
        "positive_weight": [Interval(numbers.Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def confidence_class_weights(targets, *, positive_weight=0.03):
    """Positive and negative confidence-loss weights per class.

    Parameters
    ----------
    targets : list of ndarray of shape (n_frames_i, n_classes), dtype bool
        Confidence targets of every training video.
    positive_weight : float, default=0.03
        Share of each class's loss mass carried by its positives, in (0, 1).

    Returns
    -------
    positive : ndarray of shape (n_classes,), dtype float32
        Weight of a positive anchor; 0 for a class without positives.
    negative : ndarray of shape (n_classes,), dtype float32
        Weight of a negative anchor.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import confidence_class_weights
    >>> targets = [np.array([[1], [0], [0], [0]], dtype=bool)]
    >>> confidence_class_weights(targets, positive_weight=0.25)
    (array([1.], dtype=float32), array([1.], dtype=float32))
    """
    if not 0.0 < positive_weight < 1.0:
        raise ValueError(f"positive_weight must be in (0, 1), got {positive_weight}.")
    positives, n_anchors = _counts(targets)
    negatives = n_anchors - positives
    with np.errstate(divide="ignore"):
        positive = np.where(positives > 0, positive_weight * n_anchors / positives, 0.0)
        negative = np.where(
            negatives > 0, (1.0 - positive_weight) * n_anchors / negatives, 0.0
        )
    return positive.astype(np.float32), negative.astype(np.float32)


@validate_params(
    {"masks": [list], "class_weight": [StrOptions({"balanced"}), None]},
    prefer_skip_nested_validation=True,
)
def displacement_class_weights(masks, *, class_weight="balanced"):
    """Displacement-loss weight of an anchor within the radius, per class.

    Parameters
    ----------
    masks : list of ndarray of shape (n_frames_i, n_classes), dtype bool
        Displacement target masks of every training video.
    class_weight : {"balanced"} or None, default="balanced"
        "balanced" (the reference implementation): ``N / P_c`` for ``N``
        anchors per class and ``P_c`` of them within the radius of a class-c
        action, so every class carries the same loss mass whatever its
        frequency.  None: one weight for every anchor within the radius,
        ``K N / sum_c P_c`` over the ``K`` classes that have any, so the total
        loss mass is the same as with "balanced" but spread by anchor rather
        than by class.

    Returns
    -------
    positive : ndarray of shape (n_classes,), dtype float32
        Weight of an anchor within the radius; 0 for a class without any.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import displacement_class_weights
    >>> masks = [np.array([[1, 0], [1, 0], [0, 1], [0, 0]], bool)]
    >>> displacement_class_weights(masks)
    array([2., 4.], dtype=float32)
    >>> displacement_class_weights(masks, class_weight=None)
    array([2.6666667, 2.6666667], dtype=float32)
    """
    if class_weight not in ("balanced", None):
        raise ValueError(
            f"class_weight must be 'balanced' or None, got {class_weight!r}."
        )
    positives, n_anchors = _counts(masks)
    present = positives > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if class_weight == "balanced":
            positive = np.where(present, n_anchors / positives, 0.0)
        else:
            shared = present.sum() * n_anchors / positives.sum()
            positive = np.where(present, shared, 0.0)
    return positive.astype(np.float32)


RARE_ACTIONS_PER_BATCH = 0.05
"""Below this many expected actions of its rarest class per batch, "auto"
weighs the displacement anchors alike instead of balancing the classes."""


@validate_params(
    {
        "labels": [list],
        "batch_frames": [Interval(numbers.Integral, 1, None, closed="left")],
        "rare": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def displacement_weighting(labels, *, batch_frames, rare=RARE_ACTIONS_PER_BATCH):
    """The displacement weighting that ``"auto"`` chooses for a training set.

    Balanced per-class weights (``N / P_c``) make each anchor of a rare class
    weigh thousands of times more than one of a frequent class.  When a batch
    holds many actions (the paper's 256 chunks of 112 s hold about half an
    action of SoccerNet-v2's rarest class on average), that evens out; when
    it holds few, a batch with a rare action is one huge gradient spike and
    the network learns none of the frequent classes (measured on synthetic
    data, docs/benchmarks.md).  So: "balanced" when every class that has
    actions expects at least ``rare`` of them per batch, else None.

    Parameters
    ----------
    labels : list of ndarray of shape (n_frames_i, n_classes), dtype bool
        Action frames of every training video.
    batch_frames : int
        Frames per batch (chunks per batch times frames per chunk).
    rare : float, default=0.05
        Expected actions per batch of the rarest class below which anchors
        are weighed alike.

    Returns
    -------
    class_weight : {"balanced"} or None
    actions_per_batch : ndarray of shape (n_classes,)
        Expected actions of each class in a batch of uniformly drawn chunks.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.targets import displacement_weighting
    >>> labels = [np.zeros((10_000, 2), bool)]
    >>> labels[0][::100, 0] = True   # 100 actions of class 0
    >>> labels[0][5000, 1] = True    # 1 action of class 1
    >>> displacement_weighting(labels, batch_frames=256 * 224)[0]
    'balanced'
    >>> weighting, per_batch = displacement_weighting(labels, batch_frames=100)
    >>> weighting is None, per_batch.round(3).tolist()
    (True, [1.0, 0.01])
    """
    n_frames = sum(len(lab) for lab in labels)
    actions = np.sum([np.asarray(lab, bool).sum(axis=0) for lab in labels], axis=0)
    per_batch = actions * float(batch_frames) / max(n_frames, 1)
    present = actions > 0
    if present.any() and per_batch[present].min() >= rare:
        return "balanced", per_batch
    return None, per_batch
