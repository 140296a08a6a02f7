"""Base classes shared by spotters: scoring with average-mAP and honest tags."""

from __future__ import annotations

__all__ = ["SpotterMixin"]


class SpotterMixin:
    """Mixin for action spotters: ``score`` is SoccerNet average-mAP.

    A spotter's ``fit(X, y)`` takes ``X``, a list of per-video feature arrays
    ``(n_frames_i, n_features)``, and ``y``, a list of per-video event tables
    (``time`` in seconds, ``label``); ``predict(X)`` returns one event table per
    video with a ``confidence`` column.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from sk_spotting.base import SpotterMixin
    >>> class Nothing(SpotterMixin, BaseEstimator):
    ...     pass
    >>> Nothing().__sklearn_tags__().input_tags.two_d_array
    False
    """

    def score(self, X, y, *, tolerances="loose"):
        """Average-mAP of the predictions on ``X`` against the events ``y``.

        Parameters
        ----------
        X : list of ndarray of shape (n_frames_i, n_features)
            Videos.
        y : list of pandas.DataFrame
            True events per video.
        tolerances : {"loose", "tight"} or sequence of float, default="loose"
            Tolerances in seconds, see
            :func:`sk_spotting.metrics.average_map_score`.

        Returns
        -------
        score : float
            Average-mAP in [0, 1]; greater is better.

        Notes
        -----
        In model selection, leave ``scoring`` out (this method is used) or
        pass :func:`sk_spotting.metrics.average_map_scorer`,
        :func:`~sk_spotting.metrics.tight_average_map_scorer` or
        :func:`~sk_spotting.metrics.make_spotting_scorer`.  scikit-learn's
        named scorers such as ``"accuracy"`` cannot read event tables: every
        split fails and ``cross_validate`` reports ``nan``.
        """
        from .metrics import average_map_score

        return average_map_score(
            y,
            self.predict(X),
            tolerances=tolerances,
            classes=getattr(self, "classes_", None),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "spotter"
        # X is a list of 2-D arrays of different lengths, not one 2-D array.
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        return tags
