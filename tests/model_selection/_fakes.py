"""A scripted spotter for tuning tests: its validation scores are known.

Importable by worker subprocesses (``tests.model_selection._fakes``).
"""

import os
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sk_spotting.base import SpotterMixin


def _pids(path):
    with open(path) as f:
        return {line.split()[0] for line in f if line.strip()}


class ScriptedSpotter(SpotterMixin, BaseEstimator):
    """Reports ``learning_rate * epoch`` at every epoch of each network.

    ``predict`` puts one event of the first class one second after each true
    event when ``learning_rate >= 0.5``, else nowhere, so the final score also
    follows the learning rate.  ``sleep`` seconds pass in ``fit``.  With
    ``record`` (a file path), ``fit`` appends "<pid> <device>" to it, then
    waits (up to 5 minutes) until ``wait_for`` processes have: a barrier that
    makes worker processes train at the same time however slowly they
    start.  With ``require_memmap``, it fails unless every video is a memory
    map.
    """

    def __init__(
        self,
        learning_rate=1e-3,
        sam_rho=0.5,
        epochs=3,
        use_displacement=True,
        sleep=0.0,
        frame_rate=2.0,
        classes=("a", "b"),
        device="auto",
        record=None,
        wait_for=0,
        require_memmap=False,
    ):
        self.learning_rate = learning_rate
        self.sam_rho = sam_rho
        self.epochs = epochs
        self.use_displacement = use_displacement
        self.sleep = sleep
        self.frame_rate = frame_rate
        self.classes = classes
        self.device = device
        self.record = record
        self.wait_for = wait_for
        self.require_memmap = require_memmap

    def fit(self, X, y, *, X_valid=None, y_valid=None, on_validation=None):
        self.classes_ = np.asarray(self.classes, dtype=object)
        self.n_features_in_ = np.asarray(X[0]).shape[1]
        self.n_valid_features_ = None
        if X_valid is not None:
            self.n_valid_features_ = np.asarray(X_valid[0]).shape[1]
        if self.require_memmap:
            videos = list(X) + list(X_valid or [])
            copied = [i for i, v in enumerate(videos) if not isinstance(v, np.memmap)]
            assert not copied, f"videos {copied} are not memory maps"
        if self.record is not None:
            with open(self.record, "a") as f:
                f.write(f"{os.getpid()} {self.device}\n")
            deadline = time.monotonic() + 300
            while len(_pids(self.record)) < self.wait_for:
                assert time.monotonic() < deadline, "the other workers never came"
                time.sleep(0.1)
        time.sleep(self.sleep)
        if X_valid is not None and on_validation is not None:
            networks = ["confidence", "displacement"][: 1 + self.use_displacement]
            for network in networks:
                for epoch in range(1, self.epochs + 1):
                    on_validation(network, epoch, self.learning_rate * epoch)
        self.y_seen_ = len(y)
        return self

    def predict(self, X):
        label = self.classes[0]
        return [
            pd.DataFrame(
                {
                    "time": [1.0] if self.learning_rate >= 0.5 else [],
                    "label": [label] if self.learning_rate >= 0.5 else [],
                    "confidence": [0.9] if self.learning_rate >= 0.5 else [],
                }
            )
            for _ in X
        ]
