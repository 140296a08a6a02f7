"""VotingSpotter: fit several spotters, average their dense outputs, decode once.

Shape legend: t frames, c classes.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import _fit_context, clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from .._dense import DenseScores
from ..base import SpotterMixin
from ..data import check_videos
from ..postprocessing import NMS_METHODS, scores_to_events

__all__ = ["VotingSpotter"]

# The dense outputs are averaged frame by frame and class by class: every
# member must see the same frames, features and classes.
AGREED_PARAMETERS = ("frame_rate",)
AGREED_ATTRIBUTES = ("classes_", "frame_rate", "n_features_in_")


def _fit_member(estimator, X, y, fit_params, n_threads):
    """Fit one member with ``n_threads`` torch threads (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        return estimator.fit(X, y, **fit_params)
    finally:
        torch.set_num_threads(previous)


def _average(arrays, weights):
    """Weighted mean of same-shape arrays ``(t, c)``, in the first one's dtype."""
    mean = np.average(np.stack(arrays), axis=0, weights=weights)
    return mean.astype(arrays[0].dtype, copy=False)


def _shown(value):
    return list(value) if isinstance(value, np.ndarray) else value


def _member_attribute(name, member, attribute):
    try:
        return getattr(member, attribute)
    except AttributeError:
        raise TypeError(
            f"member {name!r} ({type(member).__name__}) has no {attribute}; "
            f"members must be spotters with dense outputs such as "
            f"DenseAnchorSpotter."
        ) from None


def _check_agree(names, members, attributes):
    """Every member has the first member's value of each attribute."""
    for attribute in attributes:
        expected = _member_attribute(names[0], members[0], attribute)
        for name, member in zip(names[1:], members[1:]):
            value = _member_attribute(name, member, attribute)
            if not np.array_equal(np.asarray(value), np.asarray(expected)):
                raise ValueError(
                    f"member {name!r} has {attribute}={_shown(value)!r} but member "
                    f"{names[0]!r} has {_shown(expected)!r}; members' dense outputs "
                    f"are averaged frame by frame and class by class, so they "
                    f"must agree."
                )


class VotingSpotter(SpotterMixin, _BaseComposition):
    """Ensemble of spotters that averages their dense outputs before NMS.

    ``fit`` trains a clone of every spotter of ``estimators`` (for instance
    the same spotter with different seeds, or different settings), in
    parallel processes and on several devices if asked.  ``predict_scores``
    averages the members' dense confidences (weighted by ``weights``) and the
    displacements of the members that have a displacement network;
    ``predict`` then moves each averaged confidence by the averaged
    displacement and keeps the peaks with one per-class NMS, as a single
    spotter does.  The authors' reference code averages several models'
    dense confidences and displacements this way for its challenge entries
    (docs/ensembles.md).

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named spotters with dense outputs (``predict_scores``), such as
        :class:`~sk_spotting.DenseAnchorSpotter`; each is cloned and fitted.
        After fit they must agree on ``classes_``, ``frame_rate`` and
        ``n_features_in_``.  Parameters of a member are set through
        ``<name>__<parameter>`` keys of ``set_params``.
    weights : array-like of shape (n_estimators,), default=None
        Non-negative weight of each member in the averages; None weighs them
        alike.  A member of weight 0 is fitted but not used to predict.
    nms : {"hard", "soft"}, default=None
        NMS of the averaged scores; None takes the first member's ``nms``.
    nms_window : float or dict, default=None
        Full NMS window in seconds, or a mapping from every class to its
        window; None takes the first member's ``nms_window``.
    n_jobs : int, default=None
        Members fitted in parallel processes (joblib's loky backend); None
        is 1 unless in a :func:`joblib.parallel_config` context, -1 uses
        every CPU.  Prediction runs the members one after the other.
    devices : list of str, default=None
        Torch devices, e.g. ``["cuda:0", "cuda:1"]`` or ``["cpu"]``: member
        ``i`` is fitted on ``devices[i % len(devices)]`` (its clone's
        ``device`` parameter is set).  None spreads the members whose
        ``device`` is "auto" in turn over every GPU when several are visible,
        and otherwise leaves each member's ``device`` as it is.
    n_threads : int, default=None
        Torch threads of each member's fit.  None divides the current torch
        thread count by the number of parallel fits (so ``n_jobs=1`` keeps
        it).  Set it to compare runs with different ``n_jobs``: see Notes.
    verbose : int, default=0
        joblib's progress messages when > 0; the members' own ``verbose``
        shows their progress bars.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted clones, in the order of ``estimators``.
    named_estimators_ : Bunch
        The fitted clones by name.
    classes_ : ndarray of str of shape (n_classes,)
        Class names shared by the members, the columns of the dense outputs.
    n_features_in_ : int
        Features per frame seen at fit.

    See Also
    --------
    sk_spotting.DenseAnchorSpotter : The spotter that members usually are.
    sklearn.ensemble.VotingClassifier : The same composition for classifiers.

    Notes
    -----
    A member's fit depends only on its own parameters and on the number of
    torch threads it runs with: CPU results are bit-identical for any
    ``n_jobs`` when ``n_threads`` is fixed, and equal to fitting the members
    one by one at that thread count.  With ``n_threads=None`` the thread
    count, and so the last bits of a CPU fit, change with ``n_jobs``.

    Members that write checkpoints need one ``checkpoint_dir`` each;
    :meth:`from_seeds` makes a sub-folder per seed.

    Extra ``fit`` arguments (``X_valid``, ``y_valid``, ...) go to every
    member; with scikit-learn's metadata routing enabled, only to the members
    that request them (``set_fit_request``).

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> from sk_spotting.ensemble import VotingSpotter
    >>> X, y = make_spotting_data(2, n_features=16, minutes=2.0, random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=2, epochs=1,
    ...                              chunks_per_epoch=8, batch_size=4)
    >>> ensemble = VotingSpotter.from_seeds(spotter, seeds=[0, 1]).fit(X, y)
    >>> list(ensemble.named_estimators_)
    ['seed_0', 'seed_1']
    >>> scores = ensemble.predict_scores(X)
    >>> scores[0].confidence.shape == (len(X[0]), len(ensemble.classes_))
    True
    >>> list(ensemble.predict(X)[0].columns)
    ['time', 'label', 'confidence']
    """

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", None],
        "nms": [StrOptions(set(NMS_METHODS)), None],
        "nms_window": [Interval(numbers.Real, 0, None, closed="neither"), dict, None],
        "n_jobs": [numbers.Integral, None],
        "devices": [list, None],
        "n_threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimators,
        *,
        weights=None,
        nms=None,
        nms_window=None,
        n_jobs=None,
        devices=None,
        n_threads=None,
        verbose=0,
    ):
        self.estimators = estimators
        self.weights = weights
        self.nms = nms
        self.nms_window = nms_window
        self.n_jobs = n_jobs
        self.devices = devices
        self.n_threads = n_threads
        self.verbose = verbose

    @classmethod
    def from_seeds(cls, spotter, seeds, **params):
        """Ensemble of clones of ``spotter`` that differ only in ``random_state``.

        Parameters
        ----------
        spotter : estimator
            The spotter to clone, e.g. a :class:`~sk_spotting.DenseAnchorSpotter`.
        seeds : sequence of int
            One member per seed, named ``seed_<seed>``.  A member with a
            ``checkpoint_dir`` gets the sub-folder ``seed_<seed>`` of it.
        **params
            Other parameters of the ensemble (``weights``, ``n_jobs``, ...).

        Returns
        -------
        ensemble : VotingSpotter
            The unfitted ensemble.

        Examples
        --------
        >>> from sk_spotting import DenseAnchorSpotter
        >>> from sk_spotting.ensemble import VotingSpotter
        >>> ensemble = VotingSpotter.from_seeds(DenseAnchorSpotter(), seeds=[3, 4])
        >>> ensemble.get_params()["seed_4__random_state"]
        4
        """
        seeds = list(seeds)
        for seed in seeds:
            if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
                raise TypeError(f"seeds must be integers; got {seed!r}.")
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct and not empty; got {seeds}.")
        estimators = []
        for seed in seeds:
            member = clone(spotter).set_params(random_state=int(seed))
            folder = member.get_params(deep=False).get("checkpoint_dir")
            if folder is not None:
                folder = os.path.join(os.fspath(folder), f"seed_{seed}")
                member.set_params(checkpoint_dir=folder)
            estimators.append((f"seed_{seed}", member))
        return cls(estimators, **params)

    # -------------------------------------------------------------- params
    def get_params(self, deep=True):
        """Parameters of the ensemble and, with ``deep``, of its members.

        Parameters
        ----------
        deep : bool, default=True
            Also return each member (by name) and its parameters as
            ``<name>__<parameter>``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters of the ensemble, replace members or set theirs.

        Parameters
        ----------
        **params
            Ensemble parameters, members by name, and member parameters as
            ``<name>__<parameter>``.

        Returns
        -------
        self : VotingSpotter
            This ensemble.
        """
        self._set_params("estimators", **params)
        return self

    @property
    def named_estimators(self):
        """The (unfitted) members by name, as a :class:`~sklearn.utils.Bunch`."""
        return Bunch(**dict(self.estimators))

    def get_metadata_routing(self):
        """Route ``fit`` metadata to the members' ``fit`` (metadata routing).

        Returns
        -------
        routing : MetadataRouter
            One route per member.
        """
        router = MetadataRouter(owner=self)
        for name, estimator in self.estimators:
            router.add(
                **{name: estimator},
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        return router

    # ----------------------------------------------------------------- checks
    def _validate_estimators(self):
        if not self.estimators:
            raise ValueError("estimators is empty; give at least one (name, spotter).")
        for i, item in enumerate(self.estimators):
            if not (
                isinstance(item, tuple | list)
                and len(item) == 2
                and isinstance(item[0], str)
            ):
                raise TypeError(
                    f"estimators[{i}] must be a (name, spotter) pair with a str "
                    f"name; got {item!r}."
                )
        names = [name for name, _ in self.estimators]
        members = [member for _, member in self.estimators]
        self._validate_names(names)
        for name, member in zip(names, members):
            # (scikit-learn's own check of this is not in its older releases)
            if isinstance(member, type):
                raise TypeError(
                    f"member {name!r} is the class {member.__name__}, not an "
                    f"instance; give {member.__name__}()."
                )
        for name, member in zip(names, members):
            if not (hasattr(member, "fit") and hasattr(member, "predict_scores")):
                raise TypeError(
                    f"member {name!r} ({type(member).__name__}) has no fit and "
                    f"predict_scores; members must be spotters with dense "
                    f"outputs such as DenseAnchorSpotter."
                )
        return names, members

    def _checked_weights(self, n_members):
        if self.weights is None:
            return np.ones(n_members)
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (n_members,):
            raise ValueError(
                f"weights has {weights.size} values for {n_members} estimators; "
                f"give one per estimator."
            )
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(
                f"weights must be finite, >= 0 and not all 0; got {weights.tolist()}."
            )
        return weights

    def _member_devices(self, names, members):
        """Device of each member's clone; None keeps the member's own."""
        if self.devices is None:
            n_gpus = torch.cuda.device_count()
            if n_gpus < 2:
                return [None] * len(members)
            devices = [f"cuda:{i}" for i in range(n_gpus)]
            spread = [m.get_params(deep=False).get("device") == "auto" for m in members]
        else:
            if not self.devices:
                raise ValueError("devices is empty; give at least one or None.")
            devices = []
            for i, device in enumerate(self.devices):
                try:
                    torch.device(device)
                except (RuntimeError, TypeError) as exc:
                    raise ValueError(
                        f"devices[{i}]={device!r} is not a torch device: {exc}"
                    ) from None
                devices.append(str(device))
            for name, member in zip(names, members):
                if "device" not in member.get_params(deep=False):
                    raise ValueError(
                        f"member {name!r} ({type(member).__name__}) has no device "
                        f"parameter to set from devices."
                    )
            spread = [True] * len(members)
        assigned = iter(range(len(members)))
        return [devices[next(assigned) % len(devices)] if s else None for s in spread]

    def _threads_per_fit(self, n_members):
        if self.n_threads is not None:
            return self.n_threads
        n_parallel = min(effective_n_jobs(self.n_jobs), n_members)
        return max(1, torch.get_num_threads() // n_parallel)

    @staticmethod
    def _check_checkpoint_folders(names, members):
        owners = {}
        for name, member in zip(names, members):
            folder = member.get_params(deep=False).get("checkpoint_dir")
            if folder is None:
                continue
            key = os.path.abspath(os.fspath(folder))
            if key in owners:
                raise ValueError(
                    f"members {owners[key]!r} and {name!r} share checkpoint_dir="
                    f"{os.fspath(folder)!r}; each member needs its own folder "
                    f"(from_seeds makes one per seed)."
                )
            owners[key] = name

    def _member_fit_params(self, names, fit_params):
        if _routing_enabled():
            routed = process_routing(self, "fit", **fit_params)
            return {name: dict(routed[name].fit) for name in names}
        return {name: dict(fit_params) for name in names}

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit a clone of every member, in parallel when ``n_jobs`` asks.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Training videos.
        y : list of pandas.DataFrame
            Events of each training video (``time`` in seconds, ``label``).
        **fit_params
            Passed to every member's ``fit``, e.g. ``X_valid`` and
            ``y_valid`` (see Notes of the class for metadata routing).

        Returns
        -------
        self : VotingSpotter
            The fitted ensemble.
        """
        names, members = self._validate_estimators()
        self._checked_weights(len(members))
        _check_agree(names, members, AGREED_PARAMETERS)
        params = self._member_fit_params(names, fit_params)
        clones = []
        for member, device in zip(members, self._member_devices(names, members)):
            member = clone(member)
            if device is not None:
                member.set_params(device=device)
            clones.append(member)
        self._check_checkpoint_folders(names, clones)
        n_threads = self._threads_per_fit(len(clones))
        fitted = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_member)(member, X, y, params[name], n_threads)
            for name, member in zip(names, clones)
        )
        _check_agree(names, fitted, AGREED_ATTRIBUTES)
        self.estimators_ = fitted
        self.named_estimators_ = Bunch(**dict(zip(names, fitted)))
        self.classes_ = np.asarray(fitted[0].classes_, dtype=object)
        self.n_features_in_ = fitted[0].n_features_in_
        self._nms_settings()  # a bad nms_window fails now, the fits kept
        return self

    # -------------------------------------------------------------- inference
    def _nms_settings(self):
        name, first = next(iter(self.named_estimators_.items()))
        method = self.nms
        if method is None:
            method = _member_attribute(name, first, "nms")
        window = self.nms_window
        if window is None:
            window = _member_attribute(name, first, "nms_window")
        if isinstance(window, dict):
            missing = sorted(set(self.classes_) - set(window))
            if missing:
                raise ValueError(f"nms_window has no window for class(es) {missing}.")
            window = [float(window[c]) for c in self.classes_]
        return method, window

    def predict_scores(self, X):
        """Weighted average of the members' dense outputs, before NMS.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features)
            Videos.

        Returns
        -------
        scores : list of DenseScores
            One ``(confidence, displacement)`` pair per video, each of shape
            ``(n_frames_i, n_classes)``: the weighted mean of the members'
            confidences, and of the displacements (frames) of the members that
            have a displacement network (None when none has).
        """
        check_is_fitted(self, "estimators_")
        videos = check_videos(X, n_features=self.n_features_in_)
        weights = self._checked_weights(len(self.estimators_))
        used = [(w, m) for w, m in zip(weights, self.estimators_) if w > 0]
        outputs = [member.predict_scores(videos) for _, member in used]
        scores = []
        for per_member in zip(*outputs):
            confidence = _average(
                [s.confidence for s in per_member], [w for w, _ in used]
            )
            displaced = [
                (w, s.displacement)
                for (w, _), s in zip(used, per_member)
                if s.displacement is not None
            ]
            displacement = None
            if displaced:
                displacement = _average(
                    [d for _, d in displaced], [w for w, _ in displaced]
                )
            scores.append(DenseScores(confidence, displacement))
        return scores

    def predict(self, X):
        """Spotted actions of each video from the averaged dense outputs.

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
        check_is_fitted(self, "estimators_")
        method, window = self._nms_settings()
        frame_rate = self.estimators_[0].frame_rate
        return [
            scores_to_events(
                confidence,
                displacement,
                classes=self.classes_,
                frame_rate=frame_rate,
                nms_method=method,
                nms_window=window,
            )
            for confidence, displacement in self.predict_scores(X)
        ]
