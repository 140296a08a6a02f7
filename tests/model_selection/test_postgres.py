"""The test database itself: private, and never left running by a killed test."""

import os
import signal
import subprocess
import sys

import pytest

from . import _postgres
from .conftest import REPO

# Starts a cluster (with or without its watchdog), prints where, then waits.
OWNER = """
import sys, time
from tests.model_selection import _postgres
cluster, _ = _postgres.start_cluster(watchdog=sys.argv[1] == "watchdog")
print(cluster.folder, cluster.server_pid(), flush=True)
time.sleep(600)
"""


def test_cluster_takes_no_tcp_and_no_connection_without_its_password(
    postgres_cluster,
):
    psycopg2 = pytest.importorskip("psycopg2")
    folder = postgres_cluster.folder
    assert os.stat(folder).st_mode & 0o777 == 0o700
    connection = postgres_cluster.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW listen_addresses")
        assert cursor.fetchone() == ("",)
        cursor.execute("SHOW password_encryption")
        assert cursor.fetchone() == ("scram-sha-256",)
    finally:
        connection.close()
    for password in ("", "wrong"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            postgres_cluster.connect(password=password)


def _start_owner(mode):
    """A process that owns a cluster; returns it, the folder and server pid."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, mode],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    folder, pid = owner.stdout.readline().split()
    return owner, _postgres.Cluster.from_folder(folder), int(pid)


def _server_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie until its parent reaps it
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("mode", ["watchdog", "next start"])
def test_killed_test_process_leaves_no_server(mode, postgres_cluster):
    owner, cluster, pid = _start_owner(mode)
    owner.send_signal(signal.SIGKILL)
    owner.communicate(timeout=30)
    if mode == "next start":  # no watchdog: the next cluster start cleans up
        assert not _server_gone(pid)
        assert _postgres.remove_dead_clusters() == [cluster.folder]
    _postgres.wait_until(lambda: _server_gone(pid), 60, "the server still runs")
    _postgres.wait_until(
        lambda: not cluster.folder.exists(), 30, "the cluster folder is left"
    )
    # the live cluster of this test process was left alone
    assert postgres_cluster.server_pid() is not None
