"""Data, tiny spotters and a private throwaway PostgreSQL server for tuning tests."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data

from .. import _tiny
from . import _postgres

CLASSES = ("a", "b")
TINY = {**_tiny.TINY, "validation_interval": 1, "classes": CLASSES}
REPO = Path(__file__).resolve().parents[2]


def tiny_spotter(**params):
    """A DenseAnchorSpotter that fits in about a second."""
    return DenseAnchorSpotter(**{**TINY, **params})


@pytest.fixture(scope="session")
def videos():
    """Six 2-minute videos, 16 features, classes a and b."""
    return make_spotting_data(
        6, n_features=16, minutes=2.0, classes=CLASSES, random_state=0
    )


def run_worker_script(source, *args, env=None):
    """Start ``python -c source args...`` with the repository importable.

    Torch gets one thread, as in this process (``tests/conftest.py``).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-c", source, *map(str, args)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# ---------------------------------------------------------------- PostgreSQL
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_ci():
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def postgres_cluster():
    """A fresh private PostgreSQL cluster (see ``_postgres``), stopped afterwards.

    Without the server binaries the test fails under CI and is skipped
    elsewhere.
    """
    if _postgres.postgres_bindir() is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; run .ci/postgres.sh to install them."
        )
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg2  # noqa: F401  (the driver: a missing one is a failure)

    cluster, guard = _postgres.start_cluster()
    try:
        yield cluster
    finally:
        _postgres.stop_cluster(cluster, guard)


@pytest.fixture(scope="module")
def postgres_url(postgres_cluster):
    """URL of the database ``optuna`` of :func:`postgres_cluster`."""
    return postgres_cluster.url()
