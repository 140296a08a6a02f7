"""A spotter with scripted dense outputs, to test ensembles without training.

Importable by worker subprocesses (``tests.ensemble._fakes``).
"""

import os

import numpy as np
import torch
from sklearn.base import BaseEstimator

from sk_spotting import DenseScores
from sk_spotting.base import SpotterMixin


class ScriptedDenseSpotter(SpotterMixin, BaseEstimator):
    """Dense outputs drawn from ``random_state``; ``fit`` records what it saw.

    The confidence of a video of ``n`` frames is ``scale`` times uniform noise
    seeded by ``random_state`` and ``n``; the displacement is ``displacement``
    frames everywhere, or None.
    """

    def __init__(
        self,
        scale=1.0,
        displacement=None,
        classes=("a", "b"),
        frame_rate=2.0,
        nms="hard",
        nms_window=20.0,
        device="auto",
        checkpoint_dir=None,
        random_state=None,
    ):
        self.scale = scale
        self.displacement = displacement
        self.classes = classes
        self.frame_rate = frame_rate
        self.nms = nms
        self.nms_window = nms_window
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        self.classes_ = np.asarray(self.classes, dtype=object)
        self.n_features_in_ = np.asarray(X[0]).shape[1]
        self.device_seen_ = self.device
        self.n_threads_seen_ = torch.get_num_threads()
        self.pid_ = os.getpid()
        self.valid_seen_ = X_valid is not None
        return self

    def predict_scores(self, X):
        scores = []
        for video in X:
            n_frames = len(video)
            rng = np.random.RandomState([self.random_state or 0, n_frames])
            confidence = self.scale * rng.uniform(size=(n_frames, len(self.classes_)))
            displacement = None
            if self.displacement is not None:
                displacement = np.full(confidence.shape, float(self.displacement))
            scores.append(DenseScores(confidence.astype(np.float32), displacement))
        return scores
