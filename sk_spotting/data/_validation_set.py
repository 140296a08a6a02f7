"""Validation videos and their events as one object that is not array-like."""

from __future__ import annotations

__all__ = ["ValidationSet"]


class ValidationSet:
    """Validation videos and their events, passed to ``fit`` as one object.

    scikit-learn's ``GridSearchCV``, ``cross_validate`` and friends slice any
    fit argument whose length equals ``len(X)`` with the training indices of
    each split, with metadata routing on or off.  A list of validation videos
    as long as ``X`` would be silently cut.  A ``ValidationSet`` has no
    length and no array interface, so scikit-learn passes it on whole; give
    it as ``fit(X, y, X_valid=ValidationSet(X_valid, y_valid))``.  In a
    ``Pipeline(..., transform_input=["X_valid"])`` with metadata routing on,
    :class:`~sk_spotting.preprocessing.PerFrame` steps transform its videos
    like ``X``.

    Parameters
    ----------
    X : list of array-like of shape (n_frames_i, n_features)
        Validation videos.
    y : list of pandas.DataFrame
        Events of each validation video.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting import ValidationSet
    >>> from sk_spotting.datasets import make_spotting_data
    >>> X, y = make_spotting_data(2, n_features=4, minutes=1.0, random_state=0)
    >>> valid = ValidationSet(X, y)
    >>> valid.n_videos, hasattr(valid, "__len__")
    (2, False)
    """

    __slots__ = ("_X", "_y")

    def __init__(self, X, y):
        if X is None or y is None:
            raise ValueError("A ValidationSet needs both videos X and events y.")
        X, y = list(X), list(y)
        if len(X) != len(y):
            raise ValueError(
                f"A ValidationSet needs one event table per video: got "
                f"{len(X)} videos and {len(y)} event tables."
            )
        self._X = X
        self._y = y

    @property
    def X(self):
        """The validation videos (a list)."""
        return self._X

    @property
    def y(self):
        """The events of each validation video (a list)."""
        return self._y

    @property
    def n_videos(self):
        """Number of validation videos."""
        return len(self._X)

    def with_videos(self, X):
        """A ValidationSet of the same events with other (transformed) videos.

        Parameters
        ----------
        X : list of array-like
            As many videos as this set has.

        Returns
        -------
        ValidationSet
        """
        return ValidationSet(X, self._y)

    def __repr__(self):
        return f"ValidationSet(<{self.n_videos} videos>)"

    def __getstate__(self):
        return {"X": self._X, "y": self._y}

    def __setstate__(self, state):
        self._X = state["X"]
        self._y = state["y"]
