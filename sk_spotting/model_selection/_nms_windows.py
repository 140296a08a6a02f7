"""Per-class NMS windows chosen on validation videos, without refitting."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..metrics import average_map_score
from ..postprocessing import scores_to_events
from ._objective import final_estimator

__all__ = ["DEFAULT_NMS_WINDOWS", "tune_nms_windows"]

#: Full NMS window widths tried by default, in seconds.
DEFAULT_NMS_WINDOWS = (
    2.0,
    4.0,
    6.0,
    8.0,
    10.0,
    12.0,
    15.0,
    20.0,
    25.0,
    30.0,
    40.0,
    60.0,
)


def _check_windows(windows):
    if isinstance(windows, numbers.Real):
        windows = [windows]
    values = []
    for window in windows:
        if (
            isinstance(window, bool)
            or not isinstance(window, numbers.Real)
            or not 0 < window < np.inf
        ):
            raise ValueError(
                f"windows must be positive numbers of seconds, got {window!r}."
            )
        values.append(float(window))
    if not values:
        raise ValueError("windows is empty: give at least one window width.")
    return values


def _current_windows(spotter, classes):
    window = spotter.nms_window
    if isinstance(window, dict):
        return {c: float(window[c]) for c in classes}
    return {c: float(window) for c in classes}


def tune_nms_windows(
    spotter,
    X_valid,
    y_valid,
    *,
    windows=DEFAULT_NMS_WINDOWS,
    tolerances="loose",
    return_scores=False,
):
    """Choose each class's NMS window on validation videos, without refitting.

    The fitted spotter scores the validation videos once
    (``predict_scores``); the dense scores are then decoded with every
    window of ``windows`` (and the spotter's current ones) and each class
    keeps the window that maximises its average AP over ``tolerances``.
    NMS acts on each class alone and a class's AP depends only on its own
    detections, so this per-class search is exact: together, the chosen
    windows maximise every class's validation AP over the grid.  The
    reference implementation ships such per-class windows, chosen on
    validation.

    Parameters
    ----------
    spotter : estimator object
        A fitted spotter with ``predict_scores``, ``classes_``,
        ``frame_rate``, ``nms`` and ``nms_window``
        (:class:`~sk_spotting.DenseAnchorSpotter`), or a fitted pipeline
        ending in one (its transformers transform ``X_valid``).
    X_valid : list of array-like of shape (n_frames_i, n_features)
        Validation videos.
    y_valid : list of pandas.DataFrame
        Events of the validation videos.
    windows : sequence of float, default=DEFAULT_NMS_WINDOWS
        Full window widths to try, in seconds; the spotter's current windows
        are always tried too, so no class ends worse than it is on
        validation.
    tolerances : {"loose", "tight"} or sequence of float, default="loose"
        Tolerances of the average AP each class maximises.
    return_scores : bool, default=False
        Also return the table of every class's average AP at every window.

    Returns
    -------
    nms_window : dict of str to float
        Window of each class, ready for
        ``spotter.set_params(nms_window=nms_window)``.  Ties go to the
        current window, then to the smallest.
    scores : pandas.DataFrame
        Only with ``return_scores``: average AP, one row per class, one
        column per window (sorted).

    Raises
    ------
    ValueError
        For windows that are not positive numbers, or validation data that
        do not fit the spotter.

    See Also
    --------
    tune_in_turn : Tunes the training hyper-parameters.
    sk_spotting.postprocessing.scores_to_events : The decoding used.

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> from sk_spotting.model_selection import tune_nms_windows
    >>> X, y = make_spotting_data(3, n_features=8, minutes=1.0,
    ...                           classes=["a", "b"], random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=1,
    ...                              epochs=1, chunks_per_epoch=4, batch_size=4,
    ...                              use_displacement=False, random_state=0)
    >>> spotter = spotter.fit(X[:2], y[:2])
    >>> windows = tune_nms_windows(spotter, X[2:], y[2:], windows=[5.0, 20.0])
    >>> sorted(windows), all(w in (5.0, 20.0) for w in windows.values())
    (['a', 'b'], True)
    >>> spotter = spotter.set_params(nms_window=windows)
    """
    windows = _check_windows(windows)
    final = final_estimator(spotter)
    check_is_fitted(final, "classes_")
    classes = [str(c) for c in final.classes_]
    current = _current_windows(final, classes)
    X_dense = X_valid
    if isinstance(spotter, Pipeline) and len(spotter.steps) > 1:
        X_dense = spotter[:-1].transform(X_valid)
    dense = final.predict_scores(X_dense)
    grid = sorted(set(windows) | set(current.values()))
    table = {}
    for window in grid:
        y_pred = [
            scores_to_events(
                scores.confidence,
                scores.displacement,
                classes=classes,
                frame_rate=final.frame_rate,
                nms_method=final.nms,
                nms_window=window,
            )
            for scores in dense
        ]
        evaluation = average_map_score(
            y_valid, y_pred, tolerances=tolerances, classes=classes, return_details=True
        )
        table[window] = evaluation.average_ap_per_class
    scores = pd.DataFrame(table, index=pd.Index(classes, name="class"))
    scores.columns.name = "window"
    chosen = {}
    for name, row in scores.iterrows():
        best = row[row == row.max()].index
        chosen[name] = current[name] if current[name] in best else float(best.min())
    return (chosen, scores) if return_scores else chosen
