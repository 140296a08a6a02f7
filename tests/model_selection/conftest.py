"""Data, tiny spotters and a throwaway PostgreSQL server for tuning tests."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data

CLASSES = ("a", "b")
TINY = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 2,
    "chunks_per_epoch": 16,
    "batch_size": 8,
    "validation_interval": 1,
    "classes": CLASSES,
    "random_state": 0,
}
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
def _postgres_bindir():
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
    )
    for d in reversed(dirs):
        if os.access(Path(d, "pg_ctl"), os.X_OK) and os.access(
            Path(d, "initdb"), os.X_OK
        ):
            return Path(d)
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_ci():
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def postgres_url():
    """URL of a fresh database on a throwaway PostgreSQL cluster on loopback.

    The cluster is created with initdb (as the ``postgres`` user when running
    as root, since initdb refuses root), started on 127.0.0.1 at a free port,
    and stopped and deleted afterwards.  Without the server binaries the test
    fails under CI and is skipped elsewhere.
    """
    bindir = _postgres_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; run .ci/postgres.sh to install them."
        )
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg2  # noqa: F401  (the driver: a missing one is a failure)

    root = Path(tempfile.mkdtemp(prefix="sk_spotting_pg_"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)

    def run(*command):
        subprocess.run(
            [str(c) for c in command],
            check=True,
            user=user,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    data = root / "data"
    port = _free_port()
    run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
    run(
        bindir / "pg_ctl",
        "-D",
        data,
        "-l",
        root / "server.log",
        "-w",
        "-t",
        "60",
        "-o",
        options,
        "start",
    )
    try:
        run(
            bindir / "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "optuna",
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        try:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
