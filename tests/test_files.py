"""Files and folders written whole or not at all (sk_spotting._files)."""

import os
import stat

import pytest

from sk_spotting._files import atomic_folder, atomic_write


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    path = atomic_write(tmp_path / "model.safetensors", b"old")

    def half(stream):
        stream.write(b"ne")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half)
    assert path.read_bytes() == b"old"
    assert _names(tmp_path) == ["model.safetensors"]
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"


def test_an_interrupted_folder_keeps_the_old_set(tmp_path):
    out = tmp_path / "results"
    with atomic_folder(out) as folder:
        (folder / "a.json").write_text("first")
        (folder / "b.json").write_text("first")
    with pytest.raises(KeyboardInterrupt), atomic_folder(out) as folder:
        (folder / "a.json").write_text("second")
        raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "a.json": "first",
        "b.json": "first",
    }
    assert _names(tmp_path) == ["results"]  # no temporary folder left


def test_a_finished_folder_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "results"
    with atomic_folder(out) as folder:
        (folder / "stale.json").write_text("first")
    with atomic_folder(out) as folder:
        (folder / "fresh.json").write_text("second")
    assert _names(out) == ["fresh.json"]
    assert _names(tmp_path) == ["results"]


def test_new_files_and_folders_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "f", b"x")
        with atomic_folder(tmp_path / "d"):
            pass
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_atomic_folder_of_the_current_folder(tmp_path, monkeypatch):
    name = tmp_path.name
    monkeypatch.chdir(tmp_path)
    with atomic_folder(".") as folder:  # "." has no name of its own
        (folder / "a.txt").write_text("a")
    assert (tmp_path.parent / name / "a.txt").read_text() == "a"
