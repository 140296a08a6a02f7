"""Generate ``sk_spotting/datasets/_splits/*.json`` from the SoccerNet devkit.

The official SoccerNet-v2 game lists ship with the ``SoccerNet`` PyPI package
as ``data/SoccerNetGames{Train,Valid,Test,Challenge}.json``, nested as
championship -> season -> list of game folder names.  This development script
flattens each into a sorted JSON list of ``"league/season/game"`` paths, so
that ``sk_spotting`` knows the splits without depending on the devkit at run
time.

Usage::

    python tools/make_split_lists.py [--check]

With ``--check`` nothing is written; the exit status is 1 if a stored list
differs from what the installed devkit gives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SPLIT_FILES = {
    "train": "SoccerNetGamesTrain.json",
    "valid": "SoccerNetGamesValid.json",
    "test": "SoccerNetGamesTest.json",
    "challenge": "SoccerNetGamesChallenge.json",
}

OUT_DIR = Path(__file__).resolve().parents[1] / "sk_spotting" / "datasets" / "_splits"


def flatten(nested):
    """Flatten championship -> season -> [game] into sorted relative paths."""
    games = [
        f"{league}/{season}/{game}"
        for league, seasons in nested.items()
        for season, names in seasons.items()
        for game in names
    ]
    if len(set(games)) != len(games):
        raise ValueError("the devkit game list holds duplicate games")
    return sorted(games)


def split_lists():
    """Return {split: sorted list of game paths} read from the devkit."""
    import SoccerNet

    data_dir = Path(SoccerNet.__file__).parent / "data"
    lists = {}
    for split, name in SPLIT_FILES.items():
        with open(data_dir / name, encoding="utf-8") as f:
            lists[split] = flatten(json.load(f))
    return lists


def dumps(games):
    return json.dumps(games, indent=1, ensure_ascii=False) + "\n"


def write_atomic(path, text):
    """Write through a temporary file in the same folder, then os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare only, write nothing"
    )
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stale = []
    for split, games in split_lists().items():
        path = OUT_DIR / f"{split}.json"
        text = dumps(games)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            print(f"{path}: up to date ({len(games)} games)")
            continue
        if args.check:
            stale.append(path)
            print(f"{path}: differs from the devkit ({len(games)} games)")
        else:
            write_atomic(path, text)
            print(f"{path}: written ({len(games)} games)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
