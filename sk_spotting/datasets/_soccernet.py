"""SoccerNet-v2 action spotting: official splits, feature/label reading, and
prediction files in the format of the official evaluator.

Layout on disk (docs/soccernet.md)::

    <root>/<league>/<season>/<game>/1_<features>.npy   first half (n_frames, n_features)
    <root>/<league>/<season>/<game>/2_<features>.npy   second half
    <root>/<league>/<season>/<game>/Labels-v2.json     {"annotations": [...]}

Each half is one video of ``X``.  Predictions are written as
``<out_dir>/<game>/results_spotting.json``, which the official
``SoccerNet.Evaluation.ActionSpotting.evaluate`` reads.
"""

from __future__ import annotations

import functools
import io
import json
import numbers
import os
import re
import warnings
import zipfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .._files import atomic_write
from ..data import check_events, check_frame_rate, check_videos, time_to_frame

__all__ = [
    "SOCCERNET_V2_CLASSES",
    "soccernet_games",
    "load_soccernet",
    "write_soccernet_predictions",
    "read_soccernet_predictions",
]

SOCCERNET_V2_CLASSES = (
    "Penalty",
    "Kick-off",
    "Goal",
    "Substitution",
    "Offside",
    "Shots on target",
    "Shots off target",
    "Clearance",
    "Ball out of play",
    "Throw-in",
    "Foul",
    "Indirect free-kick",
    "Direct free-kick",
    "Corner",
    "Yellow card",
    "Red card",
    "Yellow->red card",
)
"""The 17 SoccerNet-v2 action classes, in the devkit's ``EVENT_DICTIONARY_V2``
order."""

SPLITS = ("train", "valid", "test", "challenge")
LABELS_FILE = "Labels-v2.json"
PREDICTIONS_FILE = "results_spotting.json"
HALVES = (1, 2)

# "H - MM:SS" as in Labels-v2.json (minutes may have more digits past 99).
_GAME_TIME = re.compile(r"^\s*(\d)\s*-\s*(\d{1,4}):([0-5]\d)\s*$")
# Largest position in milliseconds: 10,000 minutes, past the largest gameTime
# "H - 9999:59"; rejects Infinity and 1e300 before they reach a frame index.
_MAX_POSITION_MS = 10_000 * 60 * 1000
# Largest results_spotting.json read (folder file or zip member).  One
# prediction is about 170 bytes as written, so this holds ~390,000, four times
# every frame of both 45-minute halves at 2 fps for all 17 classes.
_MAX_PREDICTIONS_BYTES = 64 * 2**20


# --------------------------------------------------------------------------
# small helpers shared with _synthetic
# --------------------------------------------------------------------------


def _atomic_write_bytes(path, data):
    """Write ``data`` (bytes or ``data(stream)``) to ``path`` atomically."""
    atomic_write(path, data)


def _json_bytes(obj):
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _format_game_time(half, seconds):
    """``"H - M:SS"`` from ``round(seconds)`` (Python's round, half to even)."""
    total = int(round(seconds))
    return f"{half} - {total // 60}:{total % 60:02d}"


def _check_utf8(game, where):
    """Reject a path that is not valid UTF-8 (undecodable bytes of a folder
    name), which could not be written to a JSON file or a zip."""
    try:
        game.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{where}: game folder {game!r} has a name that is not valid UTF-8; "
            f"rename the folder."
        ) from None


def _check_game_path(game, where):
    """Validate a relative ``league/season/game`` path and return it as str."""
    if isinstance(game, os.PathLike):
        game = os.fspath(game)
    if not isinstance(game, str) or not game.strip():
        raise TypeError(
            f"{where}: a game must be a non-empty relative path string such as "
            f"'league/season/game', got {game!r}."
        )
    _check_utf8(game, where)
    posix = game.replace(os.sep, "/") if os.sep != "/" else game
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or ".." in parts or not parts:
        raise ValueError(
            f"{where}: game {game!r} must be a path relative to the data root, "
            f"without '..'."
        )
    return "/".join(parts)


# --------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------


@functools.cache
def _split_games(split):
    text = (
        resources.files("sk_spotting.datasets")
        .joinpath("_splits", f"{split}.json")
        .read_text(encoding="utf-8")
    )
    return tuple(json.loads(text))


def soccernet_games(split):
    """Official SoccerNet-v2 game list of a split.

    The lists are the devkit's ``SoccerNetGames{Train,Valid,Test,Challenge}``
    files, flattened and sorted (``tools/make_split_lists.py`` regenerates
    them from the installed ``SoccerNet`` package).

    Parameters
    ----------
    split : {"train", "valid", "test", "challenge"}
        The split; train, valid and test have labels, challenge has none.

    Returns
    -------
    games : list of str
        Sorted ``"league/season/game"`` paths relative to the data root
        (300, 100, 100 and 50 games).

    Examples
    --------
    >>> from sk_spotting.datasets import soccernet_games
    >>> games = soccernet_games("test")
    >>> len(games)
    100
    >>> games[0]
    'england_epl/2014-2015/2015-05-17 - 18-00 Manchester United 1 - 1 Arsenal'
    """
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {list(SPLITS)}.")
    return list(_split_games(split))


# --------------------------------------------------------------------------
# reading features and labels
# --------------------------------------------------------------------------


def _raise(error):
    """``os.walk``'s error handler: an unreadable folder is an error, not a
    folder silently left out."""
    raise error


def _find_games(root, features):
    """Game folders under ``root``, following symbolic links, each real folder
    visited once (a link back up the tree is not a cycle)."""
    names = {f"{half}_{features}.npy" for half in HALVES}
    games, seen = [], set()
    for folder, dirs, files in os.walk(root, onerror=_raise, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        if names.intersection(files):
            games.append(Path(folder).relative_to(root).as_posix())
    games = sorted(g for g in games if g != ".")
    for game in games:
        _check_utf8(game, f"Data root {str(root)!r}")
    if not games:
        raise FileNotFoundError(
            f"No game folder with '1_{features}.npy' or '2_{features}.npy' found "
            f"under {str(root)!r}; check root and the features name."
        )
    return games


def _resolve_games(root, games, split, features):
    if games is not None and split is not None:
        raise ValueError("Give at most one of games and split, not both.")
    if split is not None:
        return soccernet_games(split)
    if games is None:
        return _find_games(root, features)
    if isinstance(games, (str, bytes, os.PathLike)) or not isinstance(
        games, (Sequence, np.ndarray, pd.Index, pd.Series)
    ):
        raise TypeError(
            f"games must be a list of 'league/season/game' paths, got "
            f"{type(games).__name__}; wrap a single game in a list."
        )
    checked = [_check_game_path(g, "games") for g in games]
    if not checked:
        raise ValueError("games is empty: give at least one game.")
    seen = set()
    for game in checked:
        if game in seen:
            raise ValueError(f"games lists {game!r} more than once.")
        seen.add(game)
    return checked


def _load_half(path, game, frame_rate):
    if not path.is_file():
        raise FileNotFoundError(
            f"Game {game!r}: feature file {str(path)!r} does not exist."
        )
    try:
        video = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"Game {game!r}: cannot read feature file {str(path)!r} as a .npy "
            f"array: {exc}"
        ) from None
    try:
        (video,) = check_videos([video], name="features", names=["the array"])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"Game {game!r}, feature file {str(path)!r}: {exc}") from None
    return video


def _position_seconds(position, where):
    """Seconds of a ``position`` in whole milliseconds (``int(position)``, as
    the devkit reads it), within ``[0, _MAX_POSITION_MS]``."""
    try:
        if isinstance(position, bool):
            raise ValueError
        milliseconds = int(position)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
        raise ValueError(
            f"{where}: bad position {position!r}; expected whole milliseconds."
        ) from None
    if milliseconds < 0:
        raise ValueError(f"{where}: negative position {position!r}.")
    if milliseconds > _MAX_POSITION_MS:
        raise ValueError(
            f"{where}: position {position!r} ms is beyond {_MAX_POSITION_MS} ms "
            f"(10,000 minutes); positions are milliseconds from the start of the "
            f"half."
        )
    return milliseconds / 1000


def _parse_annotation(annotation, k, game, path):
    where = f"Game {game!r}, {str(path)!r}, annotation {k}"
    if not isinstance(annotation, dict):
        raise ValueError(f"{where}: expected an object, got {annotation!r}.")
    for key in ("gameTime", "label"):
        if key not in annotation:
            raise ValueError(f"{where}: missing field {key!r} in {annotation!r}.")
    game_time = annotation["gameTime"]
    match = _GAME_TIME.match(game_time) if isinstance(game_time, str) else None
    if match is None or int(match.group(1)) not in HALVES:
        raise ValueError(
            f"{where}: bad gameTime {game_time!r}; expected 'H - MM:SS' with half "
            f"H 1 or 2."
        )
    half = int(match.group(1))
    if "position" in annotation:
        position = annotation["position"]
        time = _position_seconds(position, where)
    else:
        time = float(60 * int(match.group(2)) + int(match.group(3)))
    label = annotation["label"]
    if not isinstance(label, str):
        raise ValueError(f"{where}: label must be a string, got {label!r}.")
    visibility = annotation.get("visibility", "visible")
    return half, time, label, visibility


def _empty_events():
    return pd.DataFrame(
        {
            "time": np.zeros(0),
            "label": np.array([], dtype=object),
            "visibility": np.array([], dtype=object),
        }
    )


def _read_labels(path, game, classes):
    """Return {half: DataFrame(time, label, visibility)} of one game."""
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"Game {game!r}: labels file {str(path)!r} is not valid JSON: {exc}"
        ) from None
    if not isinstance(content, dict) or not isinstance(
        content.get("annotations"), list
    ):
        raise ValueError(
            f"Game {game!r}: labels file {str(path)!r} must hold an object with "
            f"an 'annotations' list."
        )
    rows = {half: [] for half in HALVES}
    for k, annotation in enumerate(content["annotations"]):
        half, time, label, visibility = _parse_annotation(annotation, k, game, path)
        rows[half].append((time, label, visibility))
    if classes is not None:
        unknown = sorted(
            {r[1] for half in HALVES for r in rows[half]}.difference(classes)
        )
        if unknown:
            raise ValueError(
                f"Game {game!r}: labels file {str(path)!r} has label(s) {unknown} "
                f"that are not in classes {list(classes)}."
            )
    tables = {}
    for half in HALVES:
        if rows[half]:
            times, labels, visibilities = zip(*rows[half])
            table = pd.DataFrame(
                {
                    "time": np.asarray(times, dtype=float),
                    "label": np.asarray(labels, dtype=object),
                    "visibility": np.asarray(visibilities, dtype=object),
                }
            )
            table = table.sort_values("time", kind="stable", ignore_index=True)
        else:
            table = _empty_events()
        try:
            (table,) = check_events([table], names=[f"half {half}"])
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"Game {game!r}, labels file {str(path)!r}: {exc}"
            ) from None
        tables[half] = table
    return tables


def _check_labels_exist(root, games):
    """Raise naming the first game without a labels file, and how many."""
    missing = [g for g in games if not (root / g / LABELS_FILE).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Game {missing[0]!r}: labels file "
            f"{str(root / missing[0] / LABELS_FILE)!r} does not exist "
            f"({len(missing)} of {len(games)} games have no {LABELS_FILE}); "
            f"labels are needed to score a game."
        )


def load_soccernet(
    root,
    *,
    games=None,
    split=None,
    features="ResNET_TF2_PCA512",
    frame_rate=2.0,
    classes=None,
    require_labels=False,
):
    """Load SoccerNet-style features and labels, one video per half.

    Reads ``<root>/<game>/{1,2}_<features>.npy`` (memory-mapped, never copied)
    and ``<root>/<game>/Labels-v2.json``.

    A label's time is ``int(position) / 1000`` seconds when the annotation has
    a ``position`` (as the official devkit does), else ``60 * MM + SS`` from
    its ``gameTime`` ``"H - MM:SS"``; its half is the first character of
    ``gameTime``.  ``visibility`` is kept (``"visible"`` where absent).
    Every half is checked once for non-finite values with
    :func:`sk_spotting.data.check_videos`, streaming through the memory map.

    Parameters
    ----------
    root : str or path-like
        Data root holding ``<league>/<season>/<game>`` folders.
    games : list of str, default=None
        Game paths relative to ``root``, loaded in this order.
    split : {"train", "valid", "test", "challenge"}, default=None
        Load the official games of this split (see :func:`soccernet_games`).
        Give at most one of ``games`` and ``split``; with neither, every
        folder under ``root`` holding a ``1_<features>.npy`` or
        ``2_<features>.npy`` is loaded, in sorted order (symbolic links are
        followed, each real folder once).
    features : str, default="ResNET_TF2_PCA512"
        Feature name: the file stem after ``"1_"``/``"2_"``.
    frame_rate : float, default=2.0
        Frame rate of the features in Hz (2 for ResNET_TF2_PCA512).
    classes : sequence of str, default=None
        If given, every label must be one of these classes.
    require_labels : bool, default=False
        Require a ``Labels-v2.json`` in every game folder (to score them),
        checked before any feature is read.

    Returns
    -------
    X : list of numpy.memmap of shape (n_frames_i, n_features)
        Features, one entry per half: game 0 half 1, game 0 half 2, ...
    y : list of pandas.DataFrame
        Labels of each half, columns ``time``, ``label``, ``visibility``,
        sorted by time.  A game without a labels file (the challenge games)
        gets empty tables; outside the official challenge split this also
        warns.
    meta : pandas.DataFrame
        One row per video: ``game`` (relative path), ``half`` (1 or 2),
        ``n_frames`` and ``features_path``.

    Raises
    ------
    FileNotFoundError
        If ``root``, a game folder or a feature file is missing, or a labels
        file with ``require_labels=True``; the message names the game and
        file.
    ValueError
        If a labels file is not valid JSON, an annotation has a bad
        ``gameTime`` or ``position`` (not whole milliseconds in ``[0,
        600,000,000]``, i.e. up to 10,000 minutes), a label is not in
        ``classes``, or a game folder's name is not valid UTF-8.

    Warns
    -----
    UserWarning
        Once per call if labels lie beyond the end of their half's features
        (this happens in the real data).  They are not dropped: their time is
        clipped to the last frame's time, ``(n_frames - 1) / frame_rate``, and
        the warning gives their count.

    Examples
    --------
    >>> import tempfile
    >>> from sk_spotting.datasets import load_soccernet, make_soccernet_tree
    >>> tmp = tempfile.TemporaryDirectory()
    >>> games = make_soccernet_tree(tmp.name, 1, n_features=8, minutes=2.0,
    ...                             random_state=0)
    >>> X, y, meta = load_soccernet(tmp.name)
    >>> [x.shape for x in X]
    [(240, 8), (240, 8)]
    >>> list(meta.columns)
    ['game', 'half', 'n_frames', 'features_path']
    >>> list(y[0].columns)
    ['time', 'label', 'visibility']
    >>> del X
    >>> tmp.cleanup()
    """
    frame_rate = check_frame_rate(frame_rate)
    if not isinstance(features, str) or not features:
        raise TypeError(f"features must be a non-empty string, got {features!r}.")
    if classes is not None:
        if isinstance(classes, str):
            raise TypeError("classes must be a sequence of class names, not a str.")
        classes = list(classes)
    if root is None:
        raise TypeError("root must be a path to the data root, got None.")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data root {str(root)!r} does not exist.")
    game_list = _resolve_games(root, games, split, features)
    challenge = set(_split_games("challenge"))
    if require_labels:
        _check_labels_exist(root, game_list)

    X, y, rows = [], [], []
    n_clipped, clipped_example = 0, None
    unlabelled = []
    for game in game_list:
        folder = root / game
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Game {game!r}: folder {str(folder)!r} does not exist under the "
                f"data root."
            )
        videos = {}
        for half in HALVES:
            path = folder / f"{half}_{features}.npy"
            videos[half] = (_load_half(path, game, frame_rate), path)
        labels_path = folder / LABELS_FILE
        if labels_path.is_file():
            tables = _read_labels(labels_path, game, classes)
        else:
            tables = {half: _empty_events() for half in HALVES}
            if game not in challenge:
                unlabelled.append(game)
        for half in HALVES:
            video, path = videos[half]
            n_frames = int(video.shape[0])
            table = tables[half]
            if len(table):
                frames = time_to_frame(table["time"].to_numpy(), frame_rate)
                beyond = frames >= n_frames
                if beyond.any():
                    n_clipped += int(beyond.sum())
                    clipped_example = clipped_example or (game, half)
                    times = table["time"].to_numpy(copy=True)
                    times[beyond] = (n_frames - 1) / frame_rate
                    table = table.assign(time=times)
            X.append(video)
            y.append(table)
            rows.append((game, half, n_frames, str(path)))

    if n_clipped:
        game, half = clipped_example
        warnings.warn(
            f"{n_clipped} label(s) lie beyond the end of their half's features "
            f"(first in game {game!r}, half {half}); their time was clipped to "
            f"the last frame's time.",
            UserWarning,
            stacklevel=2,
        )
    if unlabelled:
        warnings.warn(
            f"{len(unlabelled)} game(s) outside the challenge split have no "
            f"{LABELS_FILE} (first: {unlabelled[0]!r}); their label tables are "
            f"empty.",
            UserWarning,
            stacklevel=2,
        )
    meta = pd.DataFrame(rows, columns=["game", "half", "n_frames", "features_path"])
    meta = meta.astype({"half": np.int64, "n_frames": np.int64})
    return X, y, meta


# --------------------------------------------------------------------------
# prediction files
# --------------------------------------------------------------------------


def _check_meta(meta, n_videos=None):
    if not isinstance(meta, pd.DataFrame):
        raise TypeError(
            f"meta must be the DataFrame returned by load_soccernet, got "
            f"{type(meta).__name__}."
        )
    missing = [c for c in ("game", "half") if c not in meta.columns]
    if missing:
        raise ValueError(
            f"meta is missing column(s) {missing}; it has {list(meta.columns)}."
        )
    if n_videos is not None and len(meta) != n_videos:
        raise ValueError(
            f"meta has {len(meta)} rows but y_pred has {n_videos} entries; give "
            f"one prediction table per video (row of meta)."
        )
    games = [_check_game_path(g, f"meta row {i}") for i, g in enumerate(meta["game"])]
    halves = []
    for i, half in enumerate(meta["half"]):
        if isinstance(half, (bool, np.bool_)) or half not in HALVES:
            raise ValueError(f"meta row {i}: half must be 1 or 2, got {half!r}.")
        halves.append(int(half))
    seen = set()
    for i, key in enumerate(zip(games, halves)):
        if key in seen:
            raise ValueError(f"meta row {i}: game {key[0]!r} half {key[1]} repeats.")
        seen.add(key)
    return games, halves


def write_soccernet_predictions(
    y_pred, meta, out_dir, *, frame_rate=None, zip_path=None
):
    """Write predictions as the official evaluator's ``results_spotting.json``.

    One file ``<out_dir>/<game>/results_spotting.json`` per game of ``meta``
    holds ``{"UrlLocal": game, "predictions": [...]}``; every prediction field
    is a string (docs/soccernet.md):

    - ``gameTime``: ``"H - M:SS"`` from ``round(position / 1000)`` (Python's
      round, halves to even; minutes not zero-padded),
    - ``half``: ``"1"`` or ``"2"``,
    - ``position``: ``str(int(round(1000 * time)))`` milliseconds,
    - ``label``: the class name,
    - ``confidence``: ``repr(float(confidence))``, which reads back exactly.

    Predictions are sorted by half, then position (ties keep their order).
    Files are written atomically (a temporary file in the same folder, then
    :func:`os.replace`).

    Parameters
    ----------
    y_pred : list of pandas.DataFrame
        One table per row of ``meta`` with columns ``time`` (s), ``label`` and
        ``confidence``.
    meta : pandas.DataFrame
        Columns ``game`` and ``half`` (and ``n_frames`` when ``frame_rate`` is
        given), as returned by :func:`load_soccernet`.
    out_dir : str or path-like
        Folder to write the game folders into (created if needed).
    frame_rate : float, default=None
        If given, predictions must lie within their video,
        ``time <= n_frames / frame_rate``.
    zip_path : str or path-like, default=None
        If given, also write a submission zip holding
        ``<game>/results_spotting.json`` for every game (atomically too).

    Returns
    -------
    paths : list of pathlib.Path
        The JSON files written, one per game, in order of first appearance
        in ``meta``.

    Examples
    --------
    >>> import json, tempfile
    >>> import pandas as pd
    >>> from sk_spotting.datasets import write_soccernet_predictions
    >>> meta = pd.DataFrame({"game": ["league/2020-2021/game"], "half": [2]})
    >>> y_pred = [pd.DataFrame({"time": [61.5], "label": ["Goal"],
    ...                         "confidence": [0.9]})]
    >>> tmp = tempfile.TemporaryDirectory()
    >>> (path,) = write_soccernet_predictions(y_pred, meta, tmp.name)
    >>> json.loads(path.read_text())["predictions"]
    [{'gameTime': '2 - 1:02', 'half': '2', 'position': '61500', 'label': 'Goal', 'confidence': '0.9'}]
    >>> tmp.cleanup()
    """  # noqa: E501
    games, halves = _check_meta(
        meta, n_videos=len(y_pred) if isinstance(y_pred, (list, tuple)) else None
    )
    durations = None
    if frame_rate is not None:
        frame_rate = check_frame_rate(frame_rate)
        if "n_frames" not in meta.columns:
            raise ValueError(
                "meta needs an 'n_frames' column when frame_rate is given."
            )
        durations = meta["n_frames"].to_numpy(dtype=float) / frame_rate
    y_pred = check_events(
        y_pred,
        n_videos=len(games),
        durations=durations,
        require_confidence=True,
        name="y_pred",
    )
    per_game = {}
    for game, half, table in zip(games, halves, y_pred):
        entries = per_game.setdefault(game, [])
        for time, label, confidence in zip(
            table["time"].to_numpy(),
            table["label"].to_numpy(),
            table["confidence"].to_numpy(),
        ):
            position = int(round(1000 * float(time)))
            entries.append((half, position, label, float(confidence)))

    out_dir = Path(out_dir)
    paths, contents = [], {}
    for game, entries in per_game.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        predictions = [
            {
                "gameTime": _format_game_time(half, position / 1000),
                "half": str(half),
                "position": str(position),
                "label": label,
                "confidence": repr(confidence),
            }
            for half, position, label, confidence in entries
        ]
        data = _json_bytes({"UrlLocal": game, "predictions": predictions})
        folder = out_dir / game
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PREDICTIONS_FILE
        _atomic_write_bytes(path, data)
        paths.append(path)
        contents[f"{game}/{PREDICTIONS_FILE}"] = data

    if zip_path is not None:
        zip_path = Path(zip_path)
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in contents.items():
                zf.writestr(name, data)
        _atomic_write_bytes(zip_path, buffer.getvalue())
    return paths


def _read_capped(file, game, where):
    """The content of an open binary file, or an error past
    ``_MAX_PREDICTIONS_BYTES`` (read by 1 MiB chunks, so that a file over the
    limit costs the limit in memory, not twice)."""
    chunks, size = [], 0
    while chunk := file.read(2**20):
        size += len(chunk)
        if size <= _MAX_PREDICTIONS_BYTES:
            chunks.append(chunk)
            continue
        raise ValueError(
            f"Game {game!r}: predictions file {where!r} is larger than "
            f"{_MAX_PREDICTIONS_BYTES:,} bytes; a results file that large is not "
            f"read."
        )
    return b"".join(chunks)


def _open_predictions(path):
    """Return a function game -> (bytes, name) of a folder or a zip.

    A zip is read one member at a time, never past the size limit, whatever
    its header claims: a small zip can expand to gigabytes.
    """
    path = Path(path)
    if path.is_dir():

        def read(game):
            file = path / game / PREDICTIONS_FILE
            if not file.is_file():
                raise FileNotFoundError(
                    f"Game {game!r}: predictions file {str(file)!r} does not exist."
                )
            with open(file, "rb") as f:
                return _read_capped(f, game, str(file)), str(file)

        return read
    if path.is_file() and zipfile.is_zipfile(path):

        def read(game):
            name = f"{game}/{PREDICTIONS_FILE}"
            with zipfile.ZipFile(path) as zf:
                try:
                    member = zf.open(name)
                except KeyError:
                    raise FileNotFoundError(
                        f"Game {game!r}: {name!r} is not in the zip file {str(path)!r}."
                    ) from None
                with member:
                    return _read_capped(member, game, f"{path}:{name}"), (
                        f"{path}:{name}"
                    )

        return read
    raise FileNotFoundError(
        f"Predictions path {str(path)!r} is neither a folder nor a zip file."
    )


def _parse_predictions(data, game, where):
    try:
        content = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"Game {game!r}: predictions file {where!r} is not valid JSON: {exc}"
        ) from None
    if not isinstance(content, dict) or not isinstance(
        content.get("predictions"), list
    ):
        raise ValueError(
            f"Game {game!r}: predictions file {where!r} must hold an object with "
            f"a 'predictions' list."
        )
    rows = []
    for k, entry in enumerate(content["predictions"]):
        try:
            half = _half(entry["half"])
            position = entry["position"]
            confidence = float(entry["confidence"])
            label = entry["label"]
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"Game {game!r}: predictions file {where!r}, prediction {k} is "
                f"malformed ({exc!r}): {entry!r}."
            ) from None
        time = _position_seconds(
            position, f"Game {game!r}: predictions file {where!r}, prediction {k}"
        )
        rows.append((half, time, label, confidence))
    return rows


def _half(value):
    """A prediction's ``half``: 1 or 2, as a number or a string of digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"half must be 1 or 2, got {value!r}")
    if value not in HALVES:  # 1.0 == 1; 1.9 and 3 are refused
        raise ValueError(f"half must be 1 or 2, got {value!r}")
    return int(value)


def read_soccernet_predictions(path, meta):
    """Read ``results_spotting.json`` files back into per-video tables.

    Parameters
    ----------
    path : str or path-like
        A folder as written by :func:`write_soccernet_predictions`, or a zip
        holding ``<game>/results_spotting.json`` entries.
    meta : pandas.DataFrame
        Columns ``game`` and ``half``; one output table per row.

    Returns
    -------
    y_pred : list of pandas.DataFrame
        Aligned with ``meta``: columns ``time`` (``position / 1000`` s),
        ``label`` and ``confidence`` (float), in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` or the file of a game is missing.
    ValueError
        If a file is not valid JSON, a prediction is malformed or has a
        position outside ``[0, 600,000,000]`` ms, or a file is larger than
        64 MiB.  A zip is read one member at a time and never past that
        limit, so a small zip expanding to gigabytes fails fast.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from sk_spotting.datasets import (read_soccernet_predictions,
    ...                                   write_soccernet_predictions)
    >>> meta = pd.DataFrame({"game": ["league/2020-2021/game"] * 2,
    ...                      "half": [1, 2]})
    >>> y_pred = [pd.DataFrame({"time": [3.5], "label": ["Goal"],
    ...                         "confidence": [0.1]}),
    ...           pd.DataFrame({"time": [0.0], "label": ["Corner"],
    ...                         "confidence": [1 / 3]})]
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = write_soccernet_predictions(y_pred, meta, tmp.name)
    >>> read_soccernet_predictions(tmp.name, meta)[1]
       time   label  confidence
    0   0.0  Corner    0.333333
    >>> tmp.cleanup()
    """
    games, halves = _check_meta(meta)
    read = _open_predictions(path)
    cache = {}
    tables = []
    for game, half in zip(games, halves):
        if game not in cache:
            data, where = read(game)
            cache[game] = _parse_predictions(data, game, where)
        rows = [r[1:] for r in cache[game] if r[0] == half]
        table = pd.DataFrame(rows, columns=["time", "label", "confidence"]).astype(
            {"time": float, "label": object, "confidence": float}
        )
        tables.append(table)
    return check_events(
        tables,
        n_videos=len(games),
        require_confidence=True,
        name="predictions",
        names=[f"game {game!r}, half {half}" for game, half in zip(games, halves)],
    )
