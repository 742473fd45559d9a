"""Files and folders written atomically, what interrupted writes leave behind, and full or
read-only disks said in one sentence.

Everything the package writes in place (records, saved runs, checkpoints, the CIFAR-10 cache,
downloads, extracted archives, a build's staging folder) is first made under a temporary name
beside its destination, ``.<name>.<pid>.<random>.<kind>``, and renamed over it when complete,
so readers see the old file or the new one, never half of one. A process killed mid-write
(``kill -9``, a Colab disconnect) leaves its temporary behind: :func:`remove_stale_temporaries`
deletes those whose process is gone, and every writer calls it before it writes.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: The last part of a temporary's name: what it is for.
KINDS = ("tmp", "part", "extracting", "staging", "redraw", "old")
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


class DiskFullError(OSError):
    """The disk has no space left for a file; the message says which folder, in one sentence."""

    def __str__(self) -> str:
        return str(self.strerror)


class ReadOnlyError(OSError):
    """A folder that must be written is read-only; the message says which and what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(exc: BaseException) -> bool:
    """True for the errors of a full disk or an exhausted quota."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def disk_full(dest: Path, what: str = "") -> DiskFullError:
    """The one-sentence error for ``dest`` not fitting on its disk (nothing was left behind)."""
    dest = Path(dest)
    try:
        free = f" ({shutil.disk_usage(_existing(dest.parent)).free / 1e6:,.0f} MB free)"
    except OSError:
        free = ""
    return DiskFullError(errno.ENOSPC, (
        f"The disk holding {dest.parent} is full{free}: {what or dest.name} could not be written "
        f"there, and nothing of it was kept. Free some space there, or point the course at a "
        f"folder on another disk (COURSE_DATA, COURSE_CACHE), and run again."))


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def temporary_name(dest: Path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside ``dest``: ``.<name>.<pid>.<random>.<kind>``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}")


def _owner(temp: Path, dest_name: str) -> int | None:
    """The process id in a temporary's name made by :func:`temporary_name` for ``dest_name``."""
    prefix = f".{dest_name}."
    if not temp.name.startswith(prefix):
        return None
    parts = temp.name[len(prefix):].split(".")
    if len(parts) != 3 or not parts[0].isdigit() or parts[2] not in KINDS or not parts[1]:
        return None
    return int(parts[0])


def remove_stale_temporaries(dest: Path) -> list[Path]:
    """Delete the temporaries that interrupted writes of ``dest`` left beside it (files or
    folders named by :func:`temporary_name` whose process is gone); return them. Those of a
    live process, this one included, are kept; one that cannot be deleted (a read-only
    folder) is left without a word."""
    dest = Path(dest)
    removed = []
    try:
        candidates = list(dest.parent.glob(f".{_glob_escape(dest.name)}.*"))
    except OSError:
        return removed
    for temp in candidates:
        pid = _owner(temp, dest.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            if temp.is_dir() and not temp.is_symlink():
                shutil.rmtree(temp)
            else:
                temp.unlink(missing_ok=True)
        except OSError:
            continue
        removed.append(temp)
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def remove(path: Path) -> None:
    """Delete a file or a folder tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(dest: Path | str, kind: str = "tmp", what: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest`` to write (a file, or a folder); when the block
    ends without an error it is renamed over ``dest``, otherwise deleted. Stale temporaries
    of ``dest`` are removed first; a full disk raises :class:`DiskFullError` naming the folder
    (``what`` names the file in it)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    temp = temporary_name(dest, kind)
    try:
        yield temp
        os.replace(temp, dest)  # atomic on one file system: dest is complete or as it was
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dest, what) from None
        raise
    finally:
        remove(temp)


def _write_file(path: Path, data: bytes | memoryview) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(dest: Path | str, data: bytes | memoryview | str, what: str = "") -> Path:
    """Write ``data`` (text is UTF-8) to ``dest`` atomically and durably; return ``dest``."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(dest, what=what) as temp:
        _write_file(temp, payload)
    return Path(dest)


def write_json(path: Path | str, data: object) -> Path:
    """Write ``data`` as indented JSON atomically (:func:`write_atomic`)."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
