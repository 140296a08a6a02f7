"""Per-frame preprocessing of videos: any scikit-learn transformer, frame by frame.

Examples
--------
>>> from sklearn.preprocessing import StandardScaler
>>> from sk_spotting.datasets import make_spotting_data
>>> from sk_spotting.preprocessing import PerFrame
>>> X, y = make_spotting_data(2, n_features=8, minutes=1.0, random_state=0)
>>> Xt = PerFrame(StandardScaler()).fit_transform(X)
>>> [video.shape for video in Xt]
[(120, 8), (120, 8)]
"""

from ._per_frame import PerFrame

__all__ = ["PerFrame"]
