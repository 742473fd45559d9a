"""Atomic writes everywhere the package writes (course_utils.files): what a process killed
mid-write leaves is cleaned up by the next run; a full disk or read-only folders are one clear
sentence, with nothing left behind."""

from __future__ import annotations

import hashlib
import os
import signal
import zipfile
from pathlib import Path
from typing import Callable

import pytest
import torch

from course_utils import files, settings
from course_utils.data import cifar
from course_utils.data.download import download, extract_zip
from course_utils.files import DiskFullError, ReadOnlyError
from course_utils.files import write_json
from test_cifar import write_export

BLOB = os.urandom(300_000)   # incompressible: as large in a zip as on disk


def killed_at_rename(action: Callable[[], object]) -> None:
    """Run ``action`` in a forked child that is killed with SIGKILL (as by ``kill -9``) at its
    first ``os.replace``: the moment an atomic write has written its temporary file or folder
    and not yet renamed it into place."""
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    pid = os.fork()
    if pid == 0:   # the child: never returns into pytest
        try:
            # one thread: OpenMP's pool of a parent that already used it hangs in a forked child
            torch.set_num_threads(1)
            os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
            action()
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def zipped(tmp_path: Path, name: str = "hotdog") -> Path:
    archive = tmp_path / "src" / f"{name}.zip"
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{name}/train/a.bin", BLOB)
    return archive


# ------------------------------------------------------------------ kill -9 mid-write (item 4)
def test_killed_cifar_cache_write_is_cleaned_up_by_the_next_load(tmp_path):
    images = write_export(tmp_path, "train", "png")
    killed_at_rename(lambda: cifar.load_folder(tmp_path, "train"))
    assert hidden(tmp_path)    # the ~100 MB temporary of a real run, left by kill -9
    loaded, _ = cifar.load_folder(tmp_path, "train")
    assert torch.equal(loaded, images) and (tmp_path / "cifar10-train.pt").exists()
    assert hidden(tmp_path) == []


def test_killed_download_is_cleaned_up_by_the_next_one(tmp_path):
    source = tmp_path / "src" / "hotdog.zip"
    source.parent.mkdir()
    source.write_bytes(BLOB)
    dest, sha1 = tmp_path / "data" / "hotdog.zip", hashlib.sha1(BLOB).hexdigest()
    killed_at_rename(lambda: download(source.as_uri(), dest, sha1=sha1))
    assert hidden(dest.parent) and not dest.exists()    # .hotdog.zip.<...>.part
    download(source.as_uri(), dest, sha1=sha1)
    assert dest.read_bytes() == BLOB and hidden(dest.parent) == []


def test_killed_extraction_is_cleaned_up_by_the_next_one(tmp_path):
    archive, into = zipped(tmp_path), tmp_path / "data"
    killed_at_rename(lambda: extract_zip(archive, into))
    assert hidden(into) and not (into / "hotdog").exists()   # .hotdog.<...>.extracting/
    extract_zip(archive, into)
    assert (into / "hotdog" / "train" / "a.bin").read_bytes() == BLOB and hidden(into) == []


def test_killed_record_write_is_cleaned_up_by_the_next_one(tmp_path):
    path = tmp_path / "01_x.json"
    killed_at_rename(lambda: write_json(path, {"a": 1}))
    assert hidden(tmp_path) and not path.exists()
    write_json(path, {"a": 2})
    assert hidden(tmp_path) == [] and '"a": 2' in path.read_text()


def test_a_live_writers_temporary_is_kept(tmp_path):
    path = tmp_path / "x.json"
    live = files.temporary_name(path)          # this process's: a write in progress
    live.write_text("half")
    parent = path.with_name(f".x.json.{os.getppid()}.abcd.tmp")   # another live process's
    parent.write_text("half")
    write_json(path, {})
    assert live.exists() and parent.exists()


# ------------------------------------------------------------------ full disks (item 6)
def test_download_onto_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path, tiny_disk):
    source = tmp_path / "hotdog.zip"
    source.write_bytes(BLOB)
    disk = tiny_disk(64)
    with pytest.raises(DiskFullError) as info:
        download(source.as_uri(), disk / "hotdog.zip", sha1=hashlib.sha1(BLOB).hexdigest())
    message = str(info.value)
    assert f"The disk holding {disk} is full" in message and "Errno" not in message
    assert list(disk.iterdir()) == []


def test_extraction_onto_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path, tiny_disk):
    archive = zipped(tmp_path)
    disk = tiny_disk(64)
    with pytest.raises(DiskFullError, match=f"The disk holding {disk} is full.*extracted from hotdog.zip"):
        extract_zip(archive, disk)
    assert list(disk.iterdir()) == []


def test_cifar_cache_on_a_full_disk_says_the_disk_is_full(tmp_path, tiny_disk, read_only,
                                                         monkeypatch, capsys):
    monkeypatch.setattr(settings, "_noted", set())   # its once-only note must not silence later tests
    images = write_export(tmp_path / "root", "train", "png")
    root = read_only(tmp_path / "root")          # so the cache goes to COURSE_CACHE:
    cache = tiny_disk(64)                        # a disk too small for it
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    loaded, _ = cifar.load_folder(root, "train")
    err = capsys.readouterr().err
    assert torch.equal(loaded, images)
    assert "is full" in err and "enforce fail" not in err and "unexpected pos" not in err
    assert [p for p in cache.rglob("*") if p.is_file()] == []


# ------------------------------------------------------------------ read-only folders (item 6)
def test_read_only_data_root_and_cache_decode_without_a_cache(tmp_path, read_only, monkeypatch, capsys):
    images = write_export(tmp_path / "root", "train", "png")
    (tmp_path / "cache").mkdir()
    root, cache = read_only(tmp_path / "root"), read_only(tmp_path / "cache")
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    data = cifar.load_cifar10(True, root=root, smoke=False, download=False)   # not [Errno 30]
    assert torch.equal(data.images, images)
    assert "is read-only, and so is the course's cache" in capsys.readouterr().err


def test_read_only_data_root_and_cache_for_the_hot_dogs_is_one_sentence(tmp_path, read_only, monkeypatch):
    from course_utils.data.hotdog import ensure_hotdog
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "hotdog.zip").write_bytes(b"an archive")
    (tmp_path / "cache").mkdir()
    root, cache = read_only(tmp_path / "root"), read_only(tmp_path / "cache")
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    with pytest.raises(ReadOnlyError, match=f"{root} is read-only, and so is the course's cache {cache}") as info:
        ensure_hotdog(root)
    assert "Errno" not in str(info.value) and "COURSE_CACHE" in str(info.value)


def test_killed_results_md_write_leaves_the_old_one(tmp_path):
    from course_utils.instructor.report import write_results_md
    md = tmp_path / "RESULTS.md"
    md.write_text("# as committed\n")
    write_json(tmp_path / "results" / "01_x.json", {"mode": "full", "metrics": {"a": 1}})
    killed_at_rename(lambda: write_results_md(md, tmp_path / "results"))
    assert md.read_text() == "# as committed\n"          # before: cut short or empty
    write_results_md(md, tmp_path / "results")
    assert "01_x" in md.read_text() and hidden(tmp_path) == []
