"""Worker processes on this machine for ``tune_in_turn(n_jobs=k)``.

Each worker is a fresh process (``spawn``) running :func:`run_worker` on the
shared storage.  Workers are independent: when one dies (killed, out of
memory), the others go on, fail its trial through the stale-trial sweep and
finish the studies; the parent waits for all of them and reports the dead.
When the parent dies, each worker notices within a second, deletes the
working folder and exits, so no worker is left training for nobody.

Videos reach the workers without copies: memory-mapped ``.npy`` files by
reference, other arrays of more than ``SHARE_BYTES`` through one ``.npy``
file each in the working folder, mapped read-only by every worker.  The
working folder (these files, and the temporary journal when no storage is
given) holds an owner record; a folder whose owner died on this machine is
deleted by the next ``tune_in_turn`` call.
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import traceback
from pathlib import Path

import cloudpickle
import numpy as np
import optuna

from ._liveness import logger, owner_state, this_process
from ._workers import run_worker

__all__ = ["make_folder", "remove_dead_folders", "run_workers"]

FOLDER_PREFIX = "sk_spotting_tune_"
OWNER_FILE = "owner.json"
SHARE_BYTES = 1 << 20  # smaller arrays are pickled along with the plan
WATCH_SECONDS = 1.0  # how often a worker checks that its parent lives
STOP_SECONDS = 10.0  # how long stopped workers get to fail their trials


# ------------------------------------------------------------ working folders
def make_folder():
    """A private working folder with an owner record (this process)."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    (folder / OWNER_FILE).write_text(json.dumps(this_process()))
    return folder


def remove_dead_folders(root=None):
    """Delete the working folders of dead ``tune_in_turn`` calls of this machine.

    Only this user's folders whose owner record names a process of this
    machine that is gone; returns the folders deleted.
    """
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(FOLDER_PREFIX + "*"):
        try:
            if not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            owner = json.loads((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner_state(owner) == "dead":
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# ------------------------------------------------------------ shared videos
@dataclasses.dataclass(frozen=True)
class _MappedArray:
    """An array in a file, opened read-only and memory-mapped by the worker."""

    filename: str
    dtype: str
    shape: tuple
    offset: int
    order: str

    def open(self):
        return np.memmap(
            self.filename,
            dtype=np.dtype(self.dtype),
            mode="r",
            offset=self.offset,
            shape=self.shape,
            order=self.order,
        )


def _mapped(array):
    """A reference to a whole memory-mapped file's array, or None."""
    if not isinstance(array, np.memmap) or not isinstance(array.base, mmap.mmap):
        return None
    if not array.filename or not (array.flags.c_contiguous or array.flags.f_contiguous):
        return None
    order = "C" if array.flags.c_contiguous else "F"
    return _MappedArray(
        str(array.filename), array.dtype.str, array.shape, int(array.offset), order
    )


class _Sharer:
    def __init__(self, folder):
        self.folder, self.count = Path(folder), 0

    def __call__(self, array):
        reference = _mapped(array)
        if reference is not None:
            return reference
        array = np.asarray(array)
        if array.nbytes < SHARE_BYTES:
            return array
        self.count += 1
        path = self.folder / f"array_{self.count}.npy"
        np.save(path, array)
        return _mapped(np.load(path, mmap_mode="r"))


def _open(video):
    return video.open() if isinstance(video, _MappedArray) else video


def _share_plan(plan, folder):
    share = _Sharer(folder)
    validation = plan.validation
    if validation is not None:
        validation = ([share(x) for x in validation[0]], validation[1])
    return dataclasses.replace(
        plan, X=[share(x) for x in plan.X], validation=validation
    )


def _open_plan(plan):
    validation = plan.validation
    if validation is not None:
        validation = ([_open(x) for x in validation[0]], validation[1])
    return dataclasses.replace(
        plan, X=[_open(x) for x in plan.X], validation=validation
    )


# ------------------------------------------------------------ worker side
def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _watch_parent(parent, folder):
    """Exit this worker soon after its parent dies; delete the working folder."""
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    logger.warning(
        f"Worker {os.getpid()}: its parent process {parent} is gone; stopping."
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.kill(os.getpid(), signal.SIGTERM)  # fail the running trial, if it can
    time.sleep(STOP_SECONDS)
    os._exit(1)


def _worker_main(payload, worker, n_threads, parent, connection, folder):
    """Entry point of a worker process started by :func:`run_workers`."""
    import torch

    plan = pickle.loads(payload)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    threading.Thread(target=_watch_parent, args=(parent, folder), daemon=True).start()
    torch.set_num_threads(n_threads)
    if plan.log_level is not None:
        optuna.logging.set_verbosity(plan.log_level)
    try:
        best = run_worker(_open_plan(plan), worker)
    except BaseException as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            _send(connection, ("error", exc, text))
        except Exception:  # an exception that does not pickle
            _send(connection, ("error", RuntimeError(f"{exc!r}"), text))
        raise SystemExit(1) from None
    _send(connection, ("done", best, None))


def _send(connection, message):
    try:
        connection.send(message)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone: nobody to tell


# ------------------------------------------------------------ parent side
def _died(process):
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _stop(processes):
    """Stop live workers: SIGTERM (their trials fail cleanly), then SIGKILL."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _collect(connections):
    """Wait for every worker's message; returns ``{worker: message}``.

    A worker's pipe becomes readable when it sends its result or error, or
    when it ends without one (killed).  The first error ends the wait.
    """
    messages, pending = {}, dict(enumerate(connections))
    while pending:
        ready = multiprocessing.connection.wait(list(pending.values()))
        for worker, pipe in list(pending.items()):
            if pipe not in ready:
                continue
            del pending[worker]
            try:
                messages[worker] = pipe.recv()
            except EOFError:  # ended without a word: killed
                continue
            if messages[worker][0] == "error":
                return messages
    return messages


def run_workers(plan, n_jobs, folder):
    """Run ``n_jobs`` worker processes; returns the best values.

    Raises the first error of a worker (after stopping the others), or a
    ``RuntimeError`` when every worker died without finishing.
    """
    context = multiprocessing.get_context("spawn")
    n_threads = max(1, (os.cpu_count() or 1) // n_jobs)
    # cloudpickle: estimators and scorers defined in a notebook or a script's
    # __main__ travel by value, as with joblib
    payload = cloudpickle.dumps(_share_plan(plan, folder))
    processes, connections = [], []
    try:
        for worker in range(n_jobs):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(payload, worker, n_threads, os.getpid(), sender, str(folder)),
                name=f"sk_spotting-tune-worker-{worker}",
            )
            process.start()
            sender.close()
            processes.append(process)
            connections.append(receiver)
        messages = _collect(connections)
        if all(kind != "error" for kind, _, _ in messages.values()):
            for process in processes:
                process.join(STOP_SECONDS)
    finally:
        _stop(processes)
        for receiver in connections:
            receiver.close()
    for worker, (kind, payload, text) in sorted(messages.items()):
        if kind == "error":
            if hasattr(payload, "add_note"):
                payload.add_note(f"in tuning worker {worker}:\n{text}")
            raise payload
    dead = [w for w in range(n_jobs) if w not in messages]
    for worker in dead:
        logger.warning(
            f"Tuning worker {worker} (pid {processes[worker].pid}) died "
            f"({_died(processes[worker])}); the other workers ran its trials."
        )
    done = [payload for kind, payload, _ in messages.values() if kind == "done"]
    if not done:
        raise RuntimeError(
            f"Every tuning worker died ({', '.join(_died(p) for p in processes)}) "
            f"before the studies were complete; run the same call again on the "
            f"same storage to resume."
        )
    return done[0]
