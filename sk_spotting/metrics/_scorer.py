"""scikit-learn scorers for the SoccerNet average-mAP.

A scorer is a callable ``scorer(estimator, X, y)`` that predicts ``X`` with
the fitted estimator and scores the predictions against ``y``, higher being
better; pass it as ``scoring=`` to :func:`sklearn.model_selection.cross_validate`
or :class:`sklearn.model_selection.GridSearchCV`.  ``X`` is a list of videos
and ``y`` a list of event tables (see :mod:`sk_spotting.data`).  The classes
are the estimator's ``classes_`` when it has them, so that classes it never
detects still count as AP 0.

The scorers are scikit-learn scorer objects (``_BaseScorer`` with the
``"predict"`` response method), so that several of them in one ``scoring``
dict share a single ``predict`` per split: scikit-learn's multi-metric scorer
caches the response of each method it calls for all the scorers that use it.
"""

from __future__ import annotations

from sklearn.metrics._scorer import _BaseScorer

from ._spotting import _check_classes, _check_tolerances, average_map_score

__all__ = ["average_map_scorer", "tight_average_map_scorer", "make_spotting_scorer"]


class _SpottingScorer(_BaseScorer):
    """Scorer ``(estimator, X, y) -> average-mAP`` for ``scoring=``.

    ``_score`` is the hook scikit-learn's multi-metric scorer calls with its
    caching ``method_caller``: ``predict`` then runs once for all the scorers.
    """

    def __init__(self, tolerances, classes):
        super().__init__(average_map_score, 1, {}, response_method="predict")
        self.tolerances = tolerances
        self.classes = classes

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        if kwargs:
            raise TypeError(
                f"average-mAP scorers take no sample weights or other metadata, "
                f"got {sorted(kwargs)}."
            )
        classes = self.classes
        if classes is None:
            classes = getattr(estimator, "classes_", None)
        if hasattr(estimator, "__sklearn_tags__"):
            y_pred = method_caller(estimator, "predict", X)  # cached when shared
        else:  # a duck-typed spotter: scikit-learn's response helper needs tags
            y_pred = estimator.predict(X)
        return average_map_score(
            y_true, y_pred, tolerances=self.tolerances, classes=classes
        )

    def __repr__(self):
        return (
            f"make_spotting_scorer(tolerances={self.tolerances!r}, "
            f"classes={self.classes!r})"
        )


def make_spotting_scorer(tolerances="loose", classes=None):
    """Build an average-mAP scorer for scikit-learn model selection.

    Parameters
    ----------
    tolerances : {"loose", "tight"} or sequence of float, default="loose"
        Tolerances in seconds, as in :func:`average_map_score`.
    classes : sequence of str, default=None
        Classes to score.  ``None`` uses the estimator's ``classes_`` if it has
        the attribute, else the labels of the ground truth ``y``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning the average-mAP of
        ``estimator.predict(X)`` against ``y``; a scikit-learn scorer, so that
        scorers in one ``scoring`` dict share one ``predict`` per split.

    Raises
    ------
    ValueError
        If ``tolerances`` or ``classes`` are invalid (checked here, not at the
        first call).

    Examples
    --------
    >>> from sk_spotting.metrics import make_spotting_scorer
    >>> scorer = make_spotting_scorer(tolerances=[1.0, 2.0])
    >>> scorer
    make_spotting_scorer(tolerances=[1.0, 2.0], classes=None)
    """
    _check_tolerances(tolerances)
    if classes is not None:
        classes = list(_check_classes(classes))
    if not isinstance(tolerances, str):
        tolerances = [float(t) for t in tolerances]
    return _SpottingScorer(tolerances, classes)


_LOOSE_DOC = """Loose average-mAP (5 to 60 s) of ``estimator.predict(X)`` against ``y``.

    The SoccerNet-v2 headline metric as a scikit-learn scorer:
    ``make_spotting_scorer("loose")``, called as ``scorer(estimator, X, y)``.

    Parameters
    ----------
    estimator : object
        Fitted spotter whose ``predict(X)`` returns one event table (with
        ``confidence``) per video; its ``classes_``, if any, are scored.
    X : list of array-like of shape (n_frames_i, n_features)
        The videos.
    y_true : list of pandas.DataFrame
        The ground-truth events per video (``y`` of ``fit``).
    sample_weight : None
        Unused; present in scikit-learn's scorer signature.
    **kwargs
        Refused with a ``TypeError``: the spotters' ``predict`` takes no
        metadata, so a scorer has none to route.

    Returns
    -------
    score : float
        Loose average-mAP, the SoccerNet-v2 headline metric.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sk_spotting.metrics import average_map_scorer
    >>> class Oracle:
    ...     classes_ = ["Goal", "Corner"]
    ...     def predict(self, X):
    ...         return [pd.DataFrame({"time": [5.0], "label": ["Goal"],
    ...                               "confidence": [0.9]}) for _ in X]
    >>> y = [pd.DataFrame({"time": [6.0], "label": ["Goal"]})]
    >>> average_map_scorer(Oracle(), [np.zeros((100, 8))], y)
    0.5
    """

_TIGHT_DOC = """Tight average-mAP (1 to 5 s) of ``estimator.predict(X)`` against ``y``.

    The SoccerNet challenge metric since 2022 as a scikit-learn scorer:
    ``make_spotting_scorer("tight")``, called as ``scorer(estimator, X, y)``.

    Parameters
    ----------
    estimator : object
        Fitted spotter whose ``predict(X)`` returns one event table (with
        ``confidence``) per video; its ``classes_``, if any, are scored.
    X : list of array-like of shape (n_frames_i, n_features)
        The videos.
    y_true : list of pandas.DataFrame
        The ground-truth events per video (``y`` of ``fit``).
    sample_weight : None
        Unused; present in scikit-learn's scorer signature.
    **kwargs
        Refused with a ``TypeError``: the spotters' ``predict`` takes no
        metadata, so a scorer has none to route.

    Returns
    -------
    score : float
        Tight average-mAP, the SoccerNet challenge metric since 2022.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sk_spotting.metrics import tight_average_map_scorer
    >>> class Oracle:
    ...     def predict(self, X):
    ...         return [pd.DataFrame({"time": [5.0], "label": ["Goal"],
    ...                               "confidence": [0.9]}) for _ in X]
    >>> y = [pd.DataFrame({"time": [6.0], "label": ["Goal"]})]
    >>> tight_average_map_scorer(Oracle(), [np.zeros((100, 8))], y)
    0.875
    """

average_map_scorer = make_spotting_scorer("loose")
average_map_scorer.__doc__ = _LOOSE_DOC
tight_average_map_scorer = make_spotting_scorer("tight")
tight_average_map_scorer.__doc__ = _TIGHT_DOC

# Instances are not collected by doctest: run their Examples explicitly.
__test__ = {"average_map_scorer": _LOOSE_DOC, "tight_average_map_scorer": _TIGHT_DOC}
