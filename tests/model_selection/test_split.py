"""Video-level splits: the halves of a game stay together."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold, cross_validate

from sk_spotting.datasets import load_soccernet, make_soccernet_tree
from sk_spotting.metrics import average_map_scorer, tight_average_map_scorer
from sk_spotting.model_selection import groups_from_meta

from .conftest import tiny_spotter


def test_groups_from_meta_codes_games_in_order():
    meta = pd.DataFrame({"game": ["b", "b", "a", "a", "c"], "half": [1, 2, 1, 2, 1]})
    groups = groups_from_meta(meta)
    assert groups.tolist() == [0, 0, 1, 1, 2]
    assert groups.dtype.kind == "i"
    assert groups_from_meta(meta, by="half").tolist() == [0, 1, 0, 1, 0]


@pytest.mark.parametrize(
    "meta, error, match",
    [
        (["g0", "g0"], TypeError, "pandas DataFrame"),
        (pd.DataFrame({"match": ["g0"]}), ValueError, "no column 'game'"),
        (
            pd.DataFrame({"game": ["g0", None]}),
            ValueError,
            r"missing values \(rows \[1\]\)",
        ),
    ],
)
def test_groups_from_meta_errors(meta, error, match):
    with pytest.raises(error, match=match):
        groups_from_meta(meta)


def test_group_k_fold_by_game_in_cross_validate(tmp_path):
    make_soccernet_tree(tmp_path, 3, n_features=16, minutes=2.0, random_state=0)
    X, y, meta = load_soccernet(tmp_path)
    assert len(X) == 6 and isinstance(X[0], np.memmap)
    groups = groups_from_meta(meta)
    # in memory: torch warns on read-only memory maps in the chunk sampler
    X = [np.array(video) for video in X]
    cv = GroupKFold(3)
    for train, test in cv.split(X, y, groups):
        # both halves of the held-out game, none of its halves in training
        assert sorted(meta["half"].iloc[test]) == [1, 2]
        assert not set(meta["game"].iloc[train]) & set(meta["game"].iloc[test])
    spotter = tiny_spotter(
        epochs=1,
        use_displacement=False,
        classes=sorted({label for e in y for label in e["label"]}),
    )
    result = cross_validate(
        spotter,
        X,
        y,
        groups=groups,
        cv=cv,
        scoring={"loose": average_map_scorer, "tight": tight_average_map_scorer},
        error_score="raise",
    )
    assert result["test_loose"].shape == (3,)
    assert np.all((result["test_loose"] >= 0) & (result["test_loose"] <= 1))
    assert np.all(result["test_tight"] <= result["test_loose"] + 1e-12)
