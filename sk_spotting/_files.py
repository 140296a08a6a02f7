"""Atomic file writes, shared by every module that writes a file.

A file is written to a hidden temporary file beside its destination
(``.<name>.<pid>.<token>.tmp``), flushed to disk, then renamed over the
destination with :func:`os.replace`: a reader sees the old file or the new
one, never a partial one.  A writer killed half-way leaves only its
temporary file, which :func:`remove_stale_temporaries` deletes on the next
run.  :func:`atomic_folder` does the same for a whole folder (a results set):
it is built under a temporary name and moved into place once complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path

__all__ = [
    "atomic_folder",
    "atomic_write",
    "remove_stale_temporaries",
    "temporary_sibling",
]

# .<name>.<pid>.<8 hex digits>.tmp, as made by temporary_sibling
_TEMPORARY = re.compile(r"^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$")


def temporary_sibling(path):
    """A fresh hidden temporary path beside ``path`` (not created).

    Examples
    --------
    >>> from sk_spotting._files import temporary_sibling
    >>> name = temporary_sibling("out/model.json").name
    >>> name.startswith(".model.json.") and name.endswith(".tmp")
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def atomic_write(path, data):
    """Write ``data`` to ``path`` so that it appears complete or not at all.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder is created.
    data : bytes or callable
        The bytes to write, or ``data(stream)`` that writes to a binary
        stream.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting._files import atomic_write
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = atomic_write(Path(folder) / "a.txt", b"hello")
    ...     path.read_bytes(), sorted(p.name for p in Path(folder).iterdir())
    (b'hello', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder, name=None):
    """Delete the temporary files that killed :func:`atomic_write` calls left.

    Parameters
    ----------
    folder : str or path-like
        Folder to clean; nothing happens when it does not exist.
    name : str, default=None
        Only the temporaries of this destination file name; None cleans the
        temporaries of every file of the folder.

    Returns
    -------
    removed : list of pathlib.Path
        The files deleted.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting._files import remove_stale_temporaries, temporary_sibling
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     temporary_sibling(Path(folder) / "a.pt").touch()
    ...     [p.name.startswith(".a.pt.") for p in remove_stale_temporaries(folder)]
    [True]
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.iterdir():
        match = _TEMPORARY.match(candidate.name)
        if match is None or (name is not None and match.group(1) != name):
            continue
        if candidate.is_file() and not candidate.is_symlink():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


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
    >>> from sk_spotting._files import atomic_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = Path(tmp) / "results"
    ...     with atomic_folder(out) as folder:
    ...         _ = (folder / "new.txt").write_text("new")
    ...     with atomic_folder(out) as folder:
    ...         _ = (folder / "newer.txt").write_text("newer")
    ...     sorted(p.name for p in out.iterdir()), len(list(Path(tmp).iterdir()))
    (['newer.txt'], 1)
    """
    path = Path(os.path.abspath(path))  # "." has no name to make a sibling of
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    os.mkdir(tmp, 0o777)  # 0o777 less the umask, as any new folder
    try:
        yield tmp
        if not (path.exists() or path.is_symlink()):
            os.rename(tmp, path)
            return
        old = temporary_sibling(path).with_suffix(".old")
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
