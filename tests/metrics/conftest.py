"""Helpers to score event tables with the official SoccerNet devkit.

The tables are written as a SoccerNet tree (``Labels-v2.json`` and
``results_spotting.json`` per game, videos ``2k`` and ``2k + 1`` being the
halves of game ``k``) and scored by ``SoccerNet.Evaluation.ActionSpotting``.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_saved_errstate = np.geterr()
from SoccerNet.Evaluation import ActionSpotting  # noqa: E402
from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V2  # noqa: E402

# The devkit switches numpy's divide/invalid warnings off for the whole
# process when imported; keep that side effect away from the other tests.
np.seterr(**_saved_errstate)

# The devkit's own class order (EVENT_DICTIONARY_V2), the reference
SOCCERNET_V2_CLASSES = tuple(EVENT_DICTIONARY_V2)


def _game_time(half, time):
    """``"H - MM:SS"`` of a time in seconds (only read without a position)."""
    seconds = int(time)
    return f"{half} - {seconds // 60:02d}:{seconds % 60:02d}"


def _label_entries(table, half):
    entries = []
    for row in table.itertuples(index=False):
        entry = {
            "gameTime": _game_time(half, row.time),
            "label": row.label,
            "position": str(round(1000 * row.time)),
        }
        if "visibility" in table.columns:
            entry["visibility"] = row.visibility
        entries.append(entry)
    return entries


def _prediction_entries(table, half):
    return [
        {
            "gameTime": _game_time(half, row.time),
            "half": str(half),
            "position": str(round(1000 * row.time)),
            "label": row.label,
            "confidence": repr(float(row.confidence)),
        }
        for row in table.itertuples(index=False)
    ]


def write_soccernet_tree(root, y_true, y_pred):
    """Write the tables as SoccerNet label and prediction trees under ``root``.

    Returns
    -------
    labels_dir, predictions_dir : pathlib.Path
    """
    root = Path(root)
    empty = pd.DataFrame({"time": [], "label": [], "confidence": []})
    n_games = (len(y_true) + 1) // 2
    for game in range(n_games):
        halves = range(2 * game, min(2 * game + 2, len(y_true)))
        game_dir = Path("league", "season", f"game_{game:04d}")
        labels, predictions = [], []
        for half, video in enumerate(halves, start=1):
            labels += _label_entries(y_true[video], half)
            predictions += _prediction_entries(y_pred[video], half)
        if not predictions:
            predictions = _prediction_entries(empty, 1)
        for sub, name, payload in [
            ("labels", "Labels-v2.json", {"annotations": labels}),
            ("predictions", "results_spotting.json", {"predictions": predictions}),
        ]:
            path = root / sub / game_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"UrlLocal": str(game_dir), **payload}))
    return root / "labels", root / "predictions"


def devkit_evaluate(labels_dir, predictions_dir, classes, metric="loose"):
    """The official ``evaluate`` on a tree, quietly (``dataset=None`` infers
    the games from the label folder)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ResourceWarning)  # json.load(open(...))
        return ActionSpotting.evaluate(
            SoccerNet_path=str(labels_dir),
            Predictions_path=str(predictions_dir),
            split="test",
            version=2,
            framerate=2,
            metric=metric,
            dataset=None,
            label_files="Labels-v2.json",
            prediction_file="results_spotting.json",
            EVENT_DICTIONARY={name: i for i, name in enumerate(classes)},
        )


@pytest.fixture
def devkit_score(tmp_path, monkeypatch):
    """``devkit_score(y_true, y_pred, classes, metric)`` -> devkit results.

    ``metric`` is "loose", "tight" or a list of tolerances in seconds, which
    replaces the deltas the devkit derives from its metric name.
    """
    counter = iter(range(10**6))
    original = ActionSpotting.average_mAP

    def score(y_true, y_pred, classes, metric="loose"):
        root = tmp_path / f"tree_{next(counter)}"
        labels_dir, predictions_dir = write_soccernet_tree(root, y_true, y_pred)
        if isinstance(metric, str):
            monkeypatch.setattr(ActionSpotting, "average_mAP", original)
            return devkit_evaluate(labels_dir, predictions_dir, classes, metric)
        tolerances = np.asarray(metric, dtype=float)

        def with_deltas(targets, detections, closests, framerate=2, deltas=None):
            return original(targets, detections, closests, framerate, tolerances)

        monkeypatch.setattr(ActionSpotting, "average_mAP", with_deltas)
        return devkit_evaluate(labels_dir, predictions_dir, classes, "at1")

    return score
