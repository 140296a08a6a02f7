"""``names=``: validation errors name each video as the caller knows it."""

import numpy as np
import pandas as pd
import pytest

from sk_spotting.data import check_events, check_videos, check_videos_and_events

NAMES = ["game 'a/b/c', half 1", "game 'a/b/c', half 2"]


def test_videos_are_named():
    X = [np.zeros((10, 3)), np.zeros((10, 2))]
    with pytest.raises(ValueError) as info:
        check_videos(X, names=NAMES)
    assert str(info.value) == (
        "game 'a/b/c', half 2 has 2 features, expected 3 as game 'a/b/c', half 1."
    )
    with pytest.raises(ValueError, match=r"^game 'a/b/c', half 1 has 3 features"):
        check_videos(X[:1], n_features=4, names=NAMES)


def test_event_tables_are_named():
    y = [pd.DataFrame({"time": [1.0], "label": ["Goal"]}),
         pd.DataFrame({"time": [-1.0], "label": ["Goal"]})]  # fmt: skip
    with pytest.raises(ValueError, match=r"^game 'a/b/c', half 2: column 'time'"):
        check_events(y, names=NAMES)
    with pytest.raises(TypeError, match=r"^game 'a/b/c', half 1: column 'label'"):
        check_events([pd.DataFrame({"time": [1.0], "label": [3]})], names=NAMES)


def test_videos_and_events_are_named():
    X = [np.zeros((20, 4)), np.zeros((20, 4))]
    y = [pd.DataFrame({"time": [1.0], "label": ["Goal"]}),
         pd.DataFrame({"time": [12.0], "label": ["Goal"]})]  # fmt: skip
    with pytest.raises(ValueError, match=r"^game 'a/b/c', half 2: .* beyond the end"):
        check_videos_and_events(X, y, frame_rate=2.0, names=NAMES)
    with pytest.raises(ValueError, match=r"^y\[1\] \(video 1\)"):  # default names
        check_videos_and_events(X, y, frame_rate=2.0)
