"""Files and folders that appear whole or not at all.

:func:`atomic_write` writes a file through a temporary file beside it and
:func:`os.replace`; :func:`atomic_folder` builds a folder under a temporary
name beside its destination and moves it into place once complete.  A reader
(or a later command) never sees half a file or a folder mixing two runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

__all__ = ["atomic_write", "atomic_folder"]


def _sibling(path, tag):
    """A fresh hidden name beside ``path``: ``.<name>.<pid>.<random>.<tag>``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.{tag}")


def atomic_write(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder is created.  An existing file is replaced.
    data : bytes or callable
        The content, or ``data(stream)`` writing it to a binary stream.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting._io import atomic_write
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = atomic_write(Path(tmp) / "a" / "b.txt", b"hello")
    ...     path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
    (b'hello', ['b.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    # 0o666 less the umask: the permissions of any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _remove(path):
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


@contextlib.contextmanager
def atomic_folder(path):
    """Build a folder under a temporary name, then move it to ``path`` whole.

    The body writes into the yielded folder, created beside ``path`` (same
    file system, so the final move is a rename).  When the body succeeds the
    folder takes the place of ``path``; an existing ``path`` is first renamed
    aside and removed after the move.  When the body fails (or the process
    is killed) ``path`` is left as it was, and the temporary folder is
    removed (a killed process leaves it as a hidden ``.<name>.*.tmp``
    folder).  At no moment does ``path`` hold a mix of old and new files.

    Parameters
    ----------
    path : str or path-like
        Destination folder; its parent is created.

    Yields
    ------
    folder : pathlib.Path
        The temporary folder to fill.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting._io import atomic_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = Path(tmp) / "results"
    ...     with atomic_folder(out) as folder:
    ...         _ = (folder / "new.txt").write_text("new")
    ...     with atomic_folder(out) as folder:
    ...         _ = (folder / "newer.txt").write_text("newer")
    ...     sorted(p.name for p in out.iterdir()), len(list(Path(tmp).iterdir()))
    (['newer.txt'], 1)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    os.mkdir(tmp, 0o777)  # 0o777 less the umask, as any new folder
    try:
        yield tmp
        if not (path.exists() or path.is_symlink()):
            os.rename(tmp, path)
            return
        old = _sibling(path, "old")
        os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(old, path)
            raise
        _remove(old)
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp)
        raise
