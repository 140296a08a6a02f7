"""PerFrame: a scikit-learn transformer applied to every frame of every video.

Shape legend: t frames, d input features, e output features.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_is_fitted

from ..data import ValidationSet, check_videos

__all__ = ["PerFrame"]

# Frames fitted when the transformer has no ``partial_fit`` and
# ``max_fit_frames=None``: 100,000 frames of 512 float32 features are ~200 MB,
# and estimate a PCA or a scaler of 512 features well.
DEFAULT_MAX_FIT_FRAMES = 100_000
# Frames per ``partial_fit`` call (the last block absorbs the remainder, so no
# block is smaller unless all frames are fewer).
PARTIAL_FIT_FRAMES = 8192


def _inner_has(name):
    """``available_if`` check: the (fitted or given) transformer has ``name``."""

    def check(self):
        inner = getattr(self, "transformer_", self.transformer)
        getattr(inner, name)
        return True

    return check


def _locate(frames, offsets):
    """Split sorted global frame indices into ``(video, local indices)`` pairs."""
    video_of = np.searchsorted(offsets, frames, side="right") - 1
    for i in np.unique(video_of):
        yield i, frames[video_of == i] - offsets[i]


def _iter_blocks(videos, frames, block_frames):
    """Blocks of ``(t, d)`` frames of at least ``block_frames`` rows, in order.

    ``frames`` is None for all frames, else sorted global frame indices.  The
    last block absorbs a short remainder, and only the rows of one block (plus
    the previous, held back) are in memory at a time, read from memory maps.
    """
    offsets = np.concatenate([[0], np.cumsum([v.shape[0] for v in videos])])
    if frames is None:
        pieces = (
            videos[i][start : start + block_frames]
            for i in range(len(videos))
            for start in range(0, videos[i].shape[0], block_frames)
        )
    else:
        pieces = (
            videos[i][local[start : start + block_frames]]
            for i, local in _locate(frames, offsets)
            for start in range(0, len(local), block_frames)
        )
    pending, current, n_current = None, [], 0
    for piece in pieces:
        current.append(np.asarray(piece))
        n_current += len(piece)
        if n_current >= block_frames:
            if pending is not None:
                yield pending
            pending, current, n_current = np.concatenate(current), [], 0
    if current:
        rest = np.concatenate(current)
        pending = rest if pending is None else np.concatenate([pending, rest])
    if pending is not None:
        yield pending


class PerFrame(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Fit a scikit-learn transformer on frames and apply it to every video.

    The wrapped transformer sees frames as samples: it is fitted on the frames
    of all training videos together and transforms each video's
    ``(n_frames_i, n_features)`` array on its own, so that a per-frame PCA or
    scaler sits in a pipeline in front of a spotter::

        make_pipeline(PerFrame(PCA(512)), DenseAnchorSpotter())

    Fitting never stacks all the videos into one array when they are
    memory-mapped: a transformer with ``partial_fit`` (``StandardScaler``,
    ``IncrementalPCA``, ``MinMaxScaler``...) is fed blocks of frames read in
    turn, and any other one (``PCA``...) is fitted on a uniform random sample
    of at most ``max_fit_frames`` frames, gathered row by row.

    Parameters
    ----------
    transformer : estimator object
        An unfitted scikit-learn transformer (``fit`` and ``transform``); it
        is cloned at ``fit``.  Its parameters are reachable as
        ``transformer__<name>`` (``perframe__transformer__n_components`` in a
        pipeline).
    max_fit_frames : int, default=None
        Most frames to fit on.  None means every frame when the transformer
        has ``partial_fit`` (streamed in blocks of 8,192 frames), else a
        random sample of at most 100,000 frames (about 200 MB for 512 float32
        features).  With an int, at most that many frames are sampled in both
        cases.
    random_state : int, RandomState instance or None, default=None
        Draws the frame sample; ignored when every frame is used.

    Attributes
    ----------
    transformer_ : estimator object
        The fitted clone of ``transformer``.
    n_features_in_ : int
        Features per frame seen at fit.
    n_fit_frames_ : int
        Frames the transformer was fitted on.

    See Also
    --------
    sklearn.decomposition.PCA : The per-frame reduction of the paper's
        ResNet features (2048 to 512).
    sklearn.preprocessing.StandardScaler : Fitted exactly with ``partial_fit``.

    Notes
    -----
    Output is always a list of numpy arrays, one per video, which is the
    input format of every spotter.  ``set_output(transform="default")`` (or
    None) is accepted so that ``Pipeline.set_output`` works; "pandas" and
    "polars" raise a ``ValueError``: a list of videos is not one table, and
    the global ``transform_output`` configuration is ignored for the same
    reason.  Column names of each video's features are given by
    :meth:`get_feature_names_out`.

    ``y`` is ignored: event tables have no per-frame meaning for an
    unsupervised transformer.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from sk_spotting.datasets import make_spotting_data
    >>> from sk_spotting.preprocessing import PerFrame
    >>> X, y = make_spotting_data(2, n_features=16, minutes=1.0, random_state=0)
    >>> pca = PerFrame(PCA(4)).fit(X)
    >>> [video.shape for video in pca.transform(X)]
    [(120, 4), (120, 4)]
    >>> pca.get_feature_names_out()[:2]
    array(['pca0', 'pca1'], dtype=object)
    """

    _parameter_constraints = {
        "transformer": [HasMethods(["fit", "transform"])],
        "max_fit_frames": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, transformer, *, max_fit_frames=None, random_state=None):
        self.transformer = transformer
        self.max_fit_frames = max_fit_frames
        self.random_state = random_state

    def _fit_frames(self, videos):
        """Sorted global indices of the frames to fit on, or None for all."""
        n_total = sum(v.shape[0] for v in videos)
        streamed = hasattr(self.transformer, "partial_fit")
        limit = self.max_fit_frames
        if limit is None and not streamed:
            limit = DEFAULT_MAX_FIT_FRAMES
        if limit is None or n_total <= limit:
            return None, n_total
        rng = check_random_state(self.random_state)
        frames = sample_without_replacement(n_total, limit, random_state=rng)
        return np.sort(frames), limit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the transformer on the frames of all videos.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Training videos (memory maps are read block by block).
        y : object, default=None
            Ignored (event tables, in a spotting pipeline).

        Returns
        -------
        self : PerFrame
            The fitted transformer.
        """
        videos = check_videos(X)
        frames, n_fit = self._fit_frames(videos)
        transformer = clone(self.transformer)
        with config_context(transform_output="default"):
            if hasattr(transformer, "partial_fit"):
                for block in _iter_blocks(videos, frames, PARTIAL_FIT_FRAMES):
                    transformer.partial_fit(block)
            else:
                # one block holds every chosen frame: at most max_fit_frames
                (sample,) = _iter_blocks(videos, frames, max(n_fit, 1))
                transformer.fit(sample)
        self.transformer_ = transformer
        self.n_features_in_ = videos[0].shape[1]
        self.n_fit_frames_ = n_fit
        return self

    def transform(self, X):
        """Transform each video's frames.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features) or ValidationSet
            Videos; a :class:`~sk_spotting.ValidationSet` is returned as one
            with its videos transformed (so that a ``Pipeline`` with
            ``transform_input=["X_valid"]`` carries it to the spotter).

        Returns
        -------
        Xt : list of ndarray of shape (n_frames_i, n_features_out) or ValidationSet
            The transformed videos, in order.
        """
        check_is_fitted(self, "transformer_")
        if isinstance(X, ValidationSet):
            return X.with_videos(self.transform(X.X))
        videos = check_videos(X, n_features=self.n_features_in_)
        with config_context(transform_output="default"):
            return [np.asarray(self.transformer_.transform(v)) for v in videos]

    @available_if(_inner_has("inverse_transform"))
    def inverse_transform(self, X):
        """Map each transformed video back to the input feature space.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features_out)
            Transformed videos.

        Returns
        -------
        X_original : list of ndarray of shape (n_frames_i, n_features)
            The videos in the input space.
        """
        check_is_fitted(self, "transformer_")
        videos = check_videos(X)
        with config_context(transform_output="default"):
            return [np.asarray(self.transformer_.inverse_transform(v)) for v in videos]

    @available_if(_inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Names of the per-frame output features.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Names of the input features; None means ``x0 ... x{d-1}``.

        Returns
        -------
        feature_names_out : ndarray of str
            The wrapped transformer's output feature names.
        """
        check_is_fitted(self, "transformer_")
        return self.transformer_.get_feature_names_out(input_features)

    def set_output(self, *, transform=None):
        """Accept the default output container, refuse table containers.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            "default" and None keep the list of numpy arrays (what spotters
            take); "pandas" and "polars" raise, since a list of videos is not
            one table.

        Returns
        -------
        self : PerFrame
            This transformer, unchanged.

        Raises
        ------
        ValueError
            For "pandas", "polars" or any other container.

        Examples
        --------
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sk_spotting.preprocessing import PerFrame
        >>> PerFrame(StandardScaler()).set_output(transform="default")
        PerFrame(transformer=StandardScaler())
        """
        if transform not in (None, "default"):
            raise ValueError(
                f"PerFrame returns a list of per-video arrays, which cannot be "
                f"one {transform!r} container; only set_output(transform="
                f"'default') is supported. Use get_feature_names_out() to name "
                f"the columns of each video if needed."
            )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a list of 2-D arrays of different lengths, not one 2-D array.
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = False
        tags.target_tags.required = False
        try:
            inner = self.transformer.__sklearn_tags__()
        except AttributeError:
            return tags
        if inner.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = list(
                inner.transformer_tags.preserves_dtype
            )
        return tags
