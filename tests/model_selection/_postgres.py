"""A throwaway PostgreSQL cluster for the tests, private and never left running.

* **Private.** The server listens on no TCP address (``listen_addresses=''``),
  only on a Unix socket in its own folder (mode 0700, owned by the server's
  user), and every connection needs the superuser's random password
  (``scram-sha-256``): no other local user can reach it.
* **Never left running.** A watchdog process, in a session of its own, stops
  the server and deletes its folder as soon as the test process that started
  it dies, killed or not.  Should the watchdog die too, the next start stops
  every cluster whose test process is gone (:func:`remove_dead_clusters`).

PostgreSQL refuses to run as root: as root (CI), the cluster belongs to the
``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sk_spotting.model_selection._liveness import owner_state, this_process

PREFIX = "sk_spotting_pg_"
OWNER_FILE = "owner.json"
REPO = Path(__file__).resolve().parents[2]

# Run by the watchdog: wait for the test process to die, then stop the server.
WATCHDOG = """
import sys, time
from tests.model_selection._postgres import Cluster, owner_state, read_owner
cluster = Cluster.from_folder(sys.argv[1])
while owner_state(read_owner(cluster.folder)) == "alive":
    time.sleep(0.5)
cluster.destroy()
"""


def postgres_bindir():
    """The folder of ``initdb`` and ``pg_ctl``, or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
    )
    for d in reversed(dirs):
        if all(os.access(Path(d, name), os.X_OK) for name in ("pg_ctl", "initdb")):
            return Path(d)
    return None


def _server_user():
    """The user the server runs as: ``postgres`` under root, else None (us)."""
    return "postgres" if os.geteuid() == 0 else None


def read_owner(folder):
    try:
        return json.loads((Path(folder) / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Cluster:
    """One cluster: its folder (data, socket, log) and superuser password."""

    folder: Path
    bindir: Path
    password: str
    user: str | None

    @classmethod
    def from_folder(cls, folder):
        folder = Path(folder)
        record = json.loads((folder / "cluster.json").read_text())
        return cls(folder, Path(record["bindir"]), record["password"], record["user"])

    @property
    def data(self):
        return self.folder / "data"

    def url(self, database="optuna"):
        return (
            f"postgresql+psycopg2://postgres:{self.password}@/{database}"
            f"?host={self.folder}"
        )

    def connect(self, database="postgres", **kwargs):
        import psycopg2

        options = {"host": str(self.folder), "user": "postgres", "dbname": database}
        options.update(password=self.password)
        options.update(kwargs)
        return psycopg2.connect(**options)

    def run(self, *command, check=True):
        return subprocess.run(
            [str(c) for c in command],
            check=check,
            user=self.user,
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def server_pid(self):
        """The postmaster's pid, or None when the server is not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self):
        """Stop the server (immediate shutdown) and delete the folder."""
        if self.server_pid() is not None:
            self.run(
                self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w",
                "stop", check=False,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_dead_clusters():
    """Stop and delete the clusters of test processes that are gone."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        if not (folder / "cluster.json").is_file():
            continue
        if owner_state(read_owner(folder)) != "dead":
            continue
        Cluster.from_folder(folder).destroy()
        removed.append(folder)
    return removed


def start_cluster(*, watchdog=True):
    """Create and start a private cluster owned by this process.

    Returns ``(cluster, watchdog process or None)``; the database ``optuna``
    exists.  Raises ``RuntimeError`` when the server binaries are missing.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; run .ci/postgres.sh to install them."
        )
    remove_dead_clusters()
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700
    user = _server_user()
    cluster = Cluster(folder, bindir, secrets.token_hex(16), user)
    (folder / OWNER_FILE).write_text(json.dumps(this_process()))
    (folder / "cluster.json").write_text(
        json.dumps({"bindir": str(bindir), "password": cluster.password, "user": user})
    )
    os.chmod(folder / "cluster.json", 0o600)
    guard = None
    if watchdog:
        guard = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(folder)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        _initdb_and_start(cluster)
    except BaseException:
        cluster.destroy()
        if guard is not None:
            guard.kill()
        raise
    return cluster, guard


def _initdb_and_start(cluster):
    folder = cluster.folder
    password_file = folder / "password"
    password_file.write_text(cluster.password + "\n")
    os.chmod(password_file, 0o600)
    if cluster.user is not None:
        entry = pwd.getpwnam(cluster.user)
        for path in (folder, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    cluster.run(
        cluster.bindir / "initdb", "-D", cluster.data, "-U", "postgres",
        "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8",
    )  # fmt: skip
    password_file.unlink()
    # no TCP address; the socket in the private folder; no durability needed
    options = (
        f"-c listen_addresses='' -k {folder} -c fsync=off -c full_page_writes=off "
        f"-c synchronous_commit=off"
    )
    cluster.run(
        cluster.bindir / "pg_ctl", "-D", cluster.data, "-l", folder / "server.log",
        "-w", "-t", "60", "-o", options, "start",
    )  # fmt: skip
    connection = cluster.connect()
    try:
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE optuna")
    finally:
        connection.close()


def stop_cluster(cluster, guard):
    """Stop and delete ``cluster``, then end its watchdog."""
    try:
        cluster.destroy()
    finally:
        if guard is not None:
            guard.terminate()
            try:
                guard.wait(10)
            except subprocess.TimeoutExpired:
                guard.kill()


def wait_until(condition, timeout, what):
    """Poll ``condition`` every 0.2 s; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: {what}")
        time.sleep(0.2)
