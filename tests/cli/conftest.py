"""Fixtures of the command-line tests: tiny SoccerNet trees and one torch thread."""

import os
import shutil
import sys
from pathlib import Path

import pytest

from sk_spotting.datasets import make_soccernet_tree

from .._tiny import TINY

N_FEATURES = 8


def tiny_set(**overrides):
    """``--set`` arguments of the tiny configuration."""
    args = []
    for key, value in {**TINY, **overrides}.items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.fixture(scope="session")
def roots(tmp_path_factory):
    """Train (2 games), valid (1) and test (1) roots of 2-minute halves."""
    base = tmp_path_factory.mktemp("soccernet")
    for name, n_games, seed in (("train", 2, 0), ("valid", 1, 1), ("test", 1, 2)):
        make_soccernet_tree(
            base / name,
            n_games,
            n_features=N_FEATURES,
            minutes=2.0,
            random_state=seed,
        )
    return base


@pytest.fixture(scope="session")
def console_script():
    """The installed ``sk-spotting`` script and an environment to run it."""
    script = Path(sys.executable).parent / "sk-spotting"
    if not script.exists():
        found = shutil.which("sk-spotting")
        if found is None:
            pytest.skip("the sk-spotting console script is not installed")
        script = Path(found)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return str(script), env
