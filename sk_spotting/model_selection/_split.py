"""Video-level splitting: the halves of one game stay on the same side."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["groups_from_meta"]


def groups_from_meta(meta, *, by="game"):
    """Integer group of each video, shared by the videos of one game.

    Pass the result as ``groups=`` to :class:`~sklearn.model_selection.GroupKFold`
    (or any group splitter) so that the two halves of a game never straddle
    training and validation: they share the game's context, players and
    camera work, and a split between them overstates the score.

    Parameters
    ----------
    meta : pandas.DataFrame
        One row per video, in the order of ``X``, with a column ``by``, as
        returned by :func:`sk_spotting.datasets.load_soccernet`.
    by : str, default="game"
        Column naming the group of each video.

    Returns
    -------
    groups : ndarray of int of shape (n_videos,)
        ``0`` for the first game seen, ``1`` for the next new one, and so on.

    Raises
    ------
    TypeError
        If ``meta`` is not a DataFrame.
    ValueError
        If the column is missing or holds missing values.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.model_selection import groups_from_meta
    >>> meta = pd.DataFrame({"game": ["g1", "g1", "g0", "g0"], "half": [1, 2, 1, 2]})
    >>> groups_from_meta(meta)
    array([0, 0, 1, 1])
    """
    if not isinstance(meta, pd.DataFrame):
        raise TypeError(
            f"meta must be a pandas DataFrame with one row per video, got "
            f"{type(meta).__name__}."
        )
    if by not in meta.columns:
        raise ValueError(
            f"meta has no column {by!r}; its columns are {list(meta.columns)}."
        )
    column = meta[by]
    if column.isna().any():
        rows = np.flatnonzero(column.isna().to_numpy())[:5].tolist()
        raise ValueError(f"meta[{by!r}] has missing values (rows {rows}).")
    codes, _ = pd.factorize(column, sort=False)
    return codes.astype(np.intp)
