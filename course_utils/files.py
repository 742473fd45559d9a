"""Atomic writes (a temporary beside the destination, renamed over it; a killed writer's left for
the next one to remove) and one-sentence errors for full or read-only disks."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from contextlib import suppress
from pathlib import Path

#: The last part of a temporary's name: what it is for.
KINDS = ("tmp", "part", "extracting", "staging", "redraw", "old")
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class _OneSentence(OSError):
    def __str__(self) -> str:
        return str(self.strerror)


class DiskFullError(_OneSentence):
    """The disk has no space left for a file; the message says which folder, in one sentence."""


class ReadOnlyError(_OneSentence):
    """A folder that must be written is read-only; the message says which and what to do."""


def is_disk_full(exc: BaseException) -> bool:
    """True for the errors of a full disk or an exhausted quota."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest parent that exists."""
    return next(p for p in (path, *path.parents) if p.exists())


def disk_full(dest: Path, what: str = "") -> DiskFullError:
    """The one-sentence error for ``dest`` not fitting on its disk (nothing was left behind)."""
    folder = Path(dest).parent
    try:
        free = f" ({shutil.disk_usage(nearest_existing(folder)).free / 1e6:,.0f} MB free)"
    except OSError:
        free = ""
    return DiskFullError(errno.ENOSPC, (
        f"The disk holding {folder} is full{free}: {what or Path(dest).name} could not be written "
        f"there, and nothing of it was kept. Free some space there, or point the course at a "
        f"folder on another disk (COURSE_DATA, COURSE_CACHE), and run again."))


def temporary_name(dest: Path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside ``dest``: ``.<name>.<pid>.<random>.<kind>``."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:   # PermissionError: it exists, but belongs to someone else
        return not isinstance(exc, ProcessLookupError)
    return True


def remove_stale_temporaries(dest: Path) -> None:
    """Delete the temporaries of ``dest`` whose process is gone (silently keeping undeletable ones)."""
    dest = Path(dest)
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.(\d+)\.[^.]+\.({'|'.join(KINDS)})")
    with suppress(OSError):
        for name in os.listdir(dest.parent):
            match = pattern.fullmatch(name)
            if match is not None and not _pid_alive(int(match[1])):   # this process's is alive too
                with suppress(OSError):
                    remove(dest.parent / name)


def remove(path: Path) -> None:
    """Delete a file or a folder tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write_file(path: Path, data: bytes | memoryview) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(dest: Path | str, data: bytes | memoryview | str, what: str = "") -> Path:
    """Write ``data`` (text: UTF-8) to ``dest`` atomically and durably; a full disk raises DiskFullError."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    temp = temporary_name(dest)
    try:
        _write_file(temp, data.encode() if isinstance(data, str) else data)
        os.replace(temp, dest)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dest, what) from None
        raise
    finally:
        remove(temp)
    return dest


def write_json(path: Path | str, data: object) -> Path:
    """Write ``data`` as indented JSON atomically (:func:`write_atomic`)."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
