"""SoccerNet-like synthetic spotting data, in memory or as a SoccerNet tree.

Shape legend: t frames, f features, c classes, l latent components.
"""

from __future__ import annotations

import datetime
import functools
import numbers
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ..data import check_frame_rate, time_to_frame
from ._soccernet import (
    LABELS_FILE,
    SOCCERNET_V2_CLASSES,
    _atomic_write_bytes,
    _json_bytes,
    soccernet_games,
)

__all__ = ["make_spotting_data", "make_soccernet_tree"]

# Approximate SoccerNet-v2 label counts over its 500 games (1,000 halves).
_SOCCERNET_V2_COUNTS = {
    "Penalty": 173,
    "Kick-off": 2566,
    "Goal": 1703,
    "Substitution": 2839,
    "Offside": 1265,
    "Shots on target": 5820,
    "Shots off target": 5256,
    "Clearance": 7896,
    "Ball out of play": 31810,
    "Throw-in": 18918,
    "Foul": 11674,
    "Indirect free-kick": 10521,
    "Direct free-kick": 2200,
    "Corner": 4749,
    "Yellow card": 1867,
    "Red card": 55,
    "Yellow->red card": 46,
}
_SOCCERNET_HALVES = 1000
_ACTIONS_PER_HALF = sum(_SOCCERNET_V2_COUNTS.values()) / _SOCCERNET_HALVES  # ~109

# Related SoccerNet classes share part of their temporal context.
_SOCCERNET_GROUPS = {
    "Penalty": "shot",
    "Goal": "shot",
    "Shots on target": "shot",
    "Shots off target": "shot",
    "Ball out of play": "out",
    "Throw-in": "out",
    "Corner": "out",
    "Clearance": "out",
    "Foul": "foul",
    "Indirect free-kick": "foul",
    "Direct free-kick": "foul",
    "Offside": "foul",
    "Yellow card": "card",
    "Red card": "card",
    "Yellow->red card": "card",
    "Kick-off": "stoppage",
    "Substitution": "stoppage",
}
_N_GENERIC_GROUPS = 4  # for classes outside SoccerNet-v2

_HALF_MINUTES = 45.0
_NOT_SHOWN_FRACTION = 0.15
_DISTRACTOR_FRACTION = 0.25  # distractors per labelled action
_N_BACKGROUND = 16  # latent dimensions of the smooth background
_BACKGROUND_SECONDS = 10.0  # its AR(1) time constant
_CUE_AMPLITUDE = (1.5, 2.5)  # per-class range, along a unit direction
_NOT_SHOWN_CUE = 0.3  # cue scale of a "not shown" action
_CUE_SIDE = 0.5  # neighbour-frame share of the cue
_GROUP_CONTEXT = 2.0
_CLASS_CONTEXT = 2.0
_DISTRACTOR_CUE = 2.0
_WORLD_SEED = 0x5C0CE7  # fixes the class patterns (not the videos)


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------


def _check_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _check_minutes(minutes, frame_rate):
    if isinstance(minutes, (bool, np.bool_)) or not isinstance(minutes, numbers.Real):
        raise TypeError(f"minutes must be a number, got {minutes!r}.")
    minutes = float(minutes)
    if not np.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"minutes must be finite and > 0, got {minutes}.")
    n_frames = int(round(minutes * 60 * frame_rate))
    if n_frames < 1:
        raise ValueError(
            f"minutes={minutes} at frame_rate={frame_rate} gives no frame; make "
            f"the videos longer."
        )
    return minutes, n_frames


def _check_classes(classes):
    if classes is None:
        return SOCCERNET_V2_CLASSES
    if isinstance(classes, str) or not isinstance(classes, (Sequence, np.ndarray)):
        raise TypeError(
            f"classes must be a sequence of class names, got {type(classes).__name__}."
        )
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes is empty: give at least one class name.")
    for name in classes:
        if not isinstance(name, str) or not name:
            raise TypeError(f"class names must be non-empty strings, got {name!r}.")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes has duplicate names: {list(classes)}.")
    return classes


def _seed_sequence(random_state):
    """A :class:`numpy.random.SeedSequence` from an sklearn-style random_state."""
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(
            f"random_state must be None, an int or a generator, got {random_state!r}."
        )
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}.")
        return np.random.SeedSequence(int(random_state))
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(
            int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
        )
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState, got "
        f"{type(random_state).__name__}."
    )


# --------------------------------------------------------------------------
# the fixed "world": class patterns, independent of random_state
# --------------------------------------------------------------------------


def _named_rng(name, n_features):
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([_WORLD_SEED, key, n_features]))


def _unit(rng, n_features):
    v = rng.standard_normal(n_features)
    return v / np.linalg.norm(v)


def _profile_params(rng):
    """(pre offset, pre width, pre weight, post offset, post width, post weight), s."""
    return np.array(
        [
            rng.uniform(1.5, 5.0),
            rng.uniform(1.0, 2.5),
            rng.uniform(0.4, 1.0),
            rng.uniform(1.5, 6.0),
            rng.uniform(1.0, 2.5),
            rng.uniform(0.4, 1.0),
        ]
    )


@functools.lru_cache(maxsize=16)
def _world(classes, n_features):
    """Class patterns as a function of class names and n_features only."""
    n_classes = len(classes)
    groups = [
        _SOCCERNET_GROUPS.get(name)
        or f"group {zlib.crc32(name.encode('utf-8')) % _N_GENERIC_GROUPS}"
        for name in classes
    ]
    group_names = sorted(set(groups))
    group_index = np.array([group_names.index(g) for g in groups])
    cue_dirs, cue_amps, ctx_dirs, ctx_params = [], [], [], []
    for name in classes:
        rng = _named_rng(f"class:{name}", n_features)
        cue_dirs.append(_unit(rng, n_features))
        cue_amps.append(rng.uniform(*_CUE_AMPLITUDE))
        ctx_dirs.append(_unit(rng, n_features))
        ctx_params.append(_profile_params(rng))
    group_dirs, group_params = [], []
    for name in group_names:
        rng = _named_rng(f"group:{name}", n_features)
        group_dirs.append(_unit(rng, n_features))
        group_params.append(_profile_params(rng))
    rng = _named_rng("background", n_features)
    background = rng.standard_normal((_N_BACKGROUND, n_features)) / np.sqrt(
        _N_BACKGROUND
    )
    distractor = _unit(rng, n_features)

    # Rows of the projection (l, f): background, cues, class contexts, group
    # contexts, the distractor cue.
    projection = np.vstack(
        [
            background,
            np.asarray(cue_amps)[:, None] * np.asarray(cue_dirs),
            np.asarray(ctx_dirs),
            np.asarray(group_dirs),
            _DISTRACTOR_CUE * distractor[None, :],
        ]
    ).astype(np.float32)
    params = np.asarray(ctx_params)
    g_params = np.asarray(group_params)
    extent = max(
        (params[:, [0, 3]] + 4 * params[:, [1, 4]]).max(),
        (g_params[:, [0, 3]] + 4 * g_params[:, [1, 4]]).max(),
    )
    world = {
        "projection": projection,
        "class_params": params,
        "group_params": g_params,
        "group_index": group_index,
        "n_classes": n_classes,
        "n_groups": len(group_names),
        "extent": float(extent),
    }
    for value in world.values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return world


def _class_rates(classes):
    """Expected actions of each class per 45-minute half."""
    if all(name in _SOCCERNET_V2_COUNTS for name in classes):
        counts = np.array([_SOCCERNET_V2_COUNTS[name] for name in classes], float)
        return counts / _SOCCERNET_HALVES
    return np.full(len(classes), _ACTIONS_PER_HALF / len(classes))


# --------------------------------------------------------------------------
# one video
# --------------------------------------------------------------------------


def _profile(dt, params):
    """Two Gaussian bumps, before and after the action; dt in seconds (e, o)."""
    pre = params[:, 2, None] * np.exp(
        -0.5 * ((dt + params[:, 0, None]) / params[:, 1, None]) ** 2
    )
    post = params[:, 5, None] * np.exp(
        -0.5 * ((dt - params[:, 3, None]) / params[:, 4, None]) ** 2
    )
    return pre + post


def _event_latent(n_frames, frame_rate, world, times, classes_idx, cue_scale, cue_col):
    """Latent (t, l_events) signal of all events, built by one bincount."""
    n_classes, n_groups = world["n_classes"], world["n_groups"]
    n_cols = 2 * n_classes + n_groups + 1
    if len(times) == 0:
        return np.zeros((n_frames, n_cols))
    frames = time_to_frame(times, frame_rate, n_frames)
    position = times * frame_rate
    frac = np.clip(position - frames, 0.0, 1.0)

    # Sharp cue: the action frame gets 1, its neighbours share _CUE_SIDE by the
    # sub-frame position, so the peak is always on the action frame.
    cue_offsets = np.array([-1, 0, 1])
    cue_weights = np.stack(
        [_CUE_SIDE * (1 - frac), np.ones_like(frac), _CUE_SIDE * frac], 1
    )
    cue_rows = frames[:, None] + cue_offsets[None, :]
    cue_vals = cue_weights * cue_scale[:, None]
    cue_cols = np.broadcast_to(cue_col[:, None], cue_rows.shape)

    # Broad context: a class-specific and a group-shared pattern.
    half_width = int(np.ceil(world["extent"] * frame_rate)) + 1
    offsets = np.arange(-half_width, half_width + 1)
    ctx_rows = frames[:, None] + offsets[None, :]
    dt = (ctx_rows + 0.5) / frame_rate - times[:, None]
    class_vals = _CLASS_CONTEXT * _profile(dt, world["class_params"][classes_idx])
    group_idx = world["group_index"][classes_idx]
    group_vals = _GROUP_CONTEXT * _profile(dt, world["group_params"][group_idx])
    class_cols = np.broadcast_to((n_classes + classes_idx)[:, None], ctx_rows.shape)
    group_cols = np.broadcast_to((2 * n_classes + group_idx)[:, None], ctx_rows.shape)

    rows = np.concatenate([cue_rows.ravel(), ctx_rows.ravel(), ctx_rows.ravel()])
    cols = np.concatenate([cue_cols.ravel(), class_cols.ravel(), group_cols.ravel()])
    vals = np.concatenate([cue_vals.ravel(), class_vals.ravel(), group_vals.ravel()])
    inside = (rows >= 0) & (rows < n_frames)
    flat = rows[inside] * n_cols + cols[inside]
    latent = np.bincount(flat, weights=vals[inside], minlength=n_frames * n_cols)
    return latent.reshape(n_frames, n_cols)


def _generate_video(seed, *, n_frames, n_features, frame_rate, minutes, classes, world):
    """Features (t, f) float32, events DataFrame and the video's generator."""
    rng = np.random.default_rng(seed)
    n_classes = len(classes)
    rates = _class_rates(classes) * (minutes / _HALF_MINUTES)
    n_ms = max(1, int(np.floor(1000 * n_frames / frame_rate)))

    counts = rng.poisson(rates)
    label_idx = np.repeat(np.arange(n_classes), counts)
    label_ms = rng.integers(0, n_ms, size=label_idx.size)
    not_shown = rng.random(label_idx.size) < _NOT_SHOWN_FRACTION

    n_distractors = rng.poisson(_DISTRACTOR_FRACTION * rates.sum())
    distractor_idx = rng.choice(n_classes, size=n_distractors, p=rates / rates.sum())
    distractor_ms = rng.integers(0, n_ms, size=n_distractors)

    rho = np.exp(-1.0 / (_BACKGROUND_SECONDS * frame_rate))
    start = rng.standard_normal(_N_BACKGROUND)
    innovations = rng.standard_normal((n_frames, _N_BACKGROUND))
    background = lfilter(
        [np.sqrt(1 - rho**2)], [1.0, -rho], innovations, axis=0, zi=rho * start[None, :]
    )[0]
    features = rng.standard_normal((n_frames, n_features), dtype=np.float32)

    times = np.concatenate([label_ms, distractor_ms]) / 1000.0
    event_idx = np.concatenate([label_idx, distractor_idx])
    cue_scale = np.concatenate(
        [np.where(not_shown, _NOT_SHOWN_CUE, 1.0), np.ones(n_distractors)]
    )
    cue_col = np.concatenate(
        [label_idx, np.full(n_distractors, 2 * n_classes + world["n_groups"])]
    )
    events = _event_latent(
        n_frames, frame_rate, world, times, event_idx, cue_scale, cue_col
    )
    latent = np.hstack([background, events]).astype(np.float32)
    features += latent @ world["projection"]

    order = np.lexsort((label_idx, label_ms))
    table = pd.DataFrame(
        {
            "time": label_ms[order] / 1000.0,
            "label": np.asarray(classes, dtype=object)[label_idx[order]],
            "visibility": np.where(not_shown[order], "not shown", "visible").astype(
                object
            ),
        }
    )
    return features, table, rng


def make_spotting_data(
    n_videos=2,
    *,
    n_features=512,
    minutes=45.0,
    frame_rate=2.0,
    classes=None,
    random_state=None,
):
    """Generate SoccerNet-like videos of features with spotting labels.

    Each video is ``round(60 * minutes * frame_rate)`` frames of
    ``n_features`` float32 features, built as the sum of:

    1. **White noise**, standard normal in every feature.
    2. **A smooth background**: a 16-dimensional AR(1) process (time constant
       10 s, unit stationary variance) projected to ``n_features`` by a fixed
       random matrix, so that it adds about unit variance per feature, like
       slowly changing camera views.
    3. **Broad temporal context** of each action: over several seconds before
       and after it, two Gaussian bumps (class-specific offsets of 1.5-6 s and
       widths of 1-2.5 s) along a class direction, plus stronger bumps along a
       direction *shared by related classes* (for SoccerNet: shots, ball out /
       restarts, fouls, cards, stoppages; other class names are hashed into 4
       groups).  Context alone is therefore ambiguous between related classes.
    4. **A sharp cue** on the action's frame ``floor(time * frame_rate)``
       along a class direction (norm 1.5-2.5, i.e. a weak signal-to-noise
       ratio against the unit noise in any direction, so that one frame alone
       is unreliable and models gain from temporal context): weight 1 on that frame,
       and up to 0.5 on its two neighbours according to where the action lies
       within the frame, so it is 1-2 frames wide and always peaks on the
       action frame.  "Not shown" actions (15 %) have a cue of 0.3 times that.
    5. **Distractors without labels** (a quarter as many as actions): the full
       context of a random class with a sharp cue along a direction of no
       class, so that "something happens here" is not enough.

    Actions of each class fall as a Poisson process, uniformly over the video,
    at millisecond resolution (not on frame centres).  For the SoccerNet-v2
    class names their rates are the SoccerNet-v2 label frequencies (Ball out
    of play ~32 per 45-minute half ... Yellow->red card ~0.05; about 110
    actions per 45-minute half in all); any other class list shares the same
    total rate equally.

    The class patterns (directions, context shapes, background projection)
    depend only on the class names and ``n_features``, not on
    ``random_state``: data drawn with different seeds (e.g. a training and a
    test set) share them.  ``random_state`` drives everything per video, and
    video ``i`` does not depend on ``n_videos``.

    Parameters
    ----------
    n_videos : int, default=2
        Number of videos (halves) to generate.
    n_features : int, default=512
        Features per frame (512 as ResNET_TF2_PCA512).
    minutes : float, default=45.0
        Duration of each video.
    frame_rate : float, default=2.0
        Frames per second.
    classes : sequence of str, default=None
        Class names; default :data:`SOCCERNET_V2_CLASSES`.
    random_state : int, numpy Generator or RandomState, default=None
        Seed for reproducible output (bit-identical for a fixed int).

    Returns
    -------
    X : list of ndarray of shape (n_frames, n_features), dtype float32
        The videos.
    y : list of pandas.DataFrame
        Their actions: ``time`` (s, millisecond resolution, within the
        video), ``label`` and ``visibility`` (``"visible"``/``"not shown"``),
        sorted by time.

    Examples
    --------
    >>> from sk_spotting.datasets import make_spotting_data
    >>> X, y = make_spotting_data(2, n_features=16, minutes=10, random_state=0)
    >>> X[0].shape, X[0].dtype
    ((1200, 16), dtype('float32'))
    >>> list(y[0].columns)
    ['time', 'label', 'visibility']
    >>> bool(y[0]["time"].max() < 600)
    True
    """
    n_videos = _check_int(n_videos, "n_videos")
    n_features = _check_int(n_features, "n_features")
    frame_rate = check_frame_rate(frame_rate)
    minutes, n_frames = _check_minutes(minutes, frame_rate)
    classes = _check_classes(classes)
    seeds = _seed_sequence(random_state).spawn(n_videos)
    world = _world(classes, n_features)
    X, y = [], []
    for seed in seeds:
        features, table, _ = _generate_video(
            seed,
            n_frames=n_frames,
            n_features=n_features,
            frame_rate=frame_rate,
            minutes=minutes,
            classes=classes,
            world=world,
        )
        X.append(features)
        y.append(table)
    return X, y


def _synthetic_game_names(n_games):
    names = []
    first = datetime.date(2020, 8, 1)
    for i in range(n_games):
        day = first + datetime.timedelta(days=3 * i)
        start = day.year if day.month >= 7 else day.year - 1
        names.append(
            f"synthetic_league/{start}-{start + 1}/"
            f"{day.isoformat()} - 15-00 Home {i + 1:03d} - Away {i + 1:03d}"
        )
    return names


def make_soccernet_tree(
    out_dir,
    n_games,
    *,
    split=None,
    features="ResNET_TF2_PCA512",
    n_features=512,
    minutes=45.0,
    frame_rate=2.0,
    random_state=None,
):
    """Write synthetic games in the SoccerNet-v2 folder layout.

    Each game gets ``1_<features>.npy`` and ``2_<features>.npy`` (the halves,
    float32) and ``Labels-v2.json`` whose annotations carry ``gameTime``
    (``"H - MM:SS"``, whole seconds truncated), ``label``, ``position``
    (milliseconds, a string), ``team`` and ``visibility``, as in the real
    data.  The halves are those of :func:`make_spotting_data` with the same
    ``random_state`` (game ``i`` holds videos ``2 i`` and ``2 i + 1``).  Games
    of the challenge split get no labels file, like the real ones.  Every
    file is written atomically.

    Parameters
    ----------
    out_dir : str or path-like
        Data root to write into (created if needed).
    n_games : int
        Number of games.
    split : {"train", "valid", "test", "challenge"}, default=None
        If given, the games are the first ``n_games`` official games of this
        split (see :func:`soccernet_games`); else they are named
        ``"synthetic_league/<season>/<date> - 15-00 Home NNN - Away NNN"``.
    features : str, default="ResNET_TF2_PCA512"
        Feature file name stem.
    n_features, minutes, frame_rate, random_state
        As in :func:`make_spotting_data`.

    Returns
    -------
    games : list of str
        The game paths written, relative to ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> from sk_spotting.datasets import load_soccernet, make_soccernet_tree
    >>> tmp = tempfile.TemporaryDirectory()
    >>> games = make_soccernet_tree(tmp.name, 2, split="test", n_features=8,
    ...                             minutes=1.0, random_state=0)
    >>> games[0]
    'england_epl/2014-2015/2015-05-17 - 18-00 Manchester United 1 - 1 Arsenal'
    >>> X, y, meta = load_soccernet(tmp.name, games=games)
    >>> len(X), meta["half"].tolist()
    (4, [1, 2, 1, 2])
    >>> del X
    >>> tmp.cleanup()
    """
    n_games = _check_int(n_games, "n_games")
    n_features = _check_int(n_features, "n_features")
    frame_rate = check_frame_rate(frame_rate)
    minutes, n_frames = _check_minutes(minutes, frame_rate)
    if not isinstance(features, str) or not features or "/" in features:
        raise ValueError(f"features must be a non-empty file stem, got {features!r}.")
    if split is not None:
        official = soccernet_games(split)
        if n_games > len(official):
            raise ValueError(
                f"n_games={n_games} but the {split!r} split has only "
                f"{len(official)} games."
            )
        games = official[:n_games]
    else:
        games = _synthetic_game_names(n_games)
    classes = SOCCERNET_V2_CLASSES
    world = _world(classes, n_features)
    seeds = _seed_sequence(random_state).spawn(2 * n_games)
    out_dir = Path(out_dir)
    for i, game in enumerate(games):
        folder = out_dir / game
        folder.mkdir(parents=True, exist_ok=True)
        annotations = []
        for half in (1, 2):
            features_array, table, rng = _generate_video(
                seeds[2 * i + half - 1],
                n_frames=n_frames,
                n_features=n_features,
                frame_rate=frame_rate,
                minutes=minutes,
                classes=classes,
                world=world,
            )
            _atomic_write_bytes(
                folder / f"{half}_{features}.npy",
                lambda f, a=features_array: np.save(f, a, allow_pickle=False),
            )
            teams = rng.choice(["home", "away"], size=len(table))
            for (time, label, visibility), team in zip(
                table[["time", "label", "visibility"]].itertuples(index=False), teams
            ):
                ms = int(round(1000 * time))
                seconds = ms // 1000
                annotations.append(
                    {
                        "gameTime": f"{half} - {seconds // 60:02d}:{seconds % 60:02d}",
                        "label": label,
                        "position": str(ms),
                        "team": str(team),
                        "visibility": visibility,
                    }
                )
        if split != "challenge":
            labels = {"UrlLocal": game, "UrlYoutube": "", "annotations": annotations}
            _atomic_write_bytes(folder / LABELS_FILE, _json_bytes(labels))
    return games
