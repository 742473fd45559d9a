"""Download a file safely: a timeout, a checksum, and an atomic write; extract zip archives.

A download goes to a temporary file in the destination's folder and is renamed into place
only after its size and checksum are right, so a failed, truncated or wrong download never
leaves a file that a later run could take for the data set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.files import disk_full, is_disk_full, remove_stale_temporaries, temporary_name

CHUNK = 1 << 20


class DownloadError(CorruptDataError):
    """A download arrived truncated or with the wrong checksum; nothing was kept."""

    def __init__(self, url: str, dest: Path, problem: str) -> None:
        ValueError.__init__(
            self,
            f"download of {url} refused: {problem}. Nothing was written to {dest} (the partial "
            f"file was deleted). Run again to retry, or put a good copy there by hand.")
        self.path, self.url = dest, url


def file_hash(path: Path | str, algorithm: str = "sha1") -> str:
    """Hex digest of a file's contents (``sha1``, ``md5``, ``sha256``...)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected(sha1: str | None, md5: str | None) -> tuple[str, str] | None:
    if sha1 and md5:
        raise ValueError("give sha1 or md5, not both")
    if sha1:
        return "sha1", sha1.lower()
    if md5:
        return "md5", md5.lower()
    return None


def check_file(path: Path, sha1: str | None = None, md5: str | None = None) -> None:
    """Raise :class:`CorruptDataError` when ``path``'s checksum is not the expected one."""
    expected = _expected(sha1, md5)
    if expected is None:
        return
    algorithm, digest = expected
    actual = file_hash(path, algorithm)
    if actual != digest:
        raise CorruptDataError(path, f"{algorithm} is {actual}, expected {digest}")


def download(
    url: str,
    dest: Path | str,
    *,
    sha1: str | None = None,
    md5: str | None = None,
    timeout: float = 30.0,
    dataset: str | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` and return ``dest``.

    A ``dest`` already present with the right checksum is reused (no network); one with a
    wrong checksum raises :class:`CorruptDataError`. A download that arrives shorter than
    announced, or whose checksum differs, raises :class:`DownloadError` and is deleted. No
    network (or a ``timeout`` in seconds passing without data) raises
    :class:`DataMissingError` naming the file and the folder.
    """
    dest = Path(dest)
    expected = _expected(sha1, md5)
    if dest.exists():
        check_file(dest, sha1, md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.new(expected[0]) if expected else None
    remove_stale_temporaries(dest)   # what a killed download left
    tmp = temporary_name(dest, "part")
    try:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                announced = resp.headers.get("Content-Length")
                received = 0
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    out.write(chunk)
                    received += len(chunk)
                    if h is not None:
                        h.update(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataMissingError(
                dataset or dest.name, dest.parent, [dest.name],
                hint=f"Downloading {url} failed: {reason}.") from None
        if announced is not None and received != int(announced):
            raise DownloadError(url, dest, f"truncated: got {received:,} of {int(announced):,} bytes")
        if h is not None and h.hexdigest() != expected[1]:
            raise DownloadError(url, dest, f"{expected[0]} is {h.hexdigest()}, expected "
                                           f"{expected[1]} (truncated or wrong file)")
        os.replace(tmp, dest)  # atomic on one file system: dest is complete or absent
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dest, f"the download of {dest.name}") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def extract_zip(archive: Path | str, into: Path | str) -> list[Path]:
    """Extract ``archive`` into the folder ``into``; return the top-level entries it made.

    Extraction goes to a temporary folder beside them first, and each top-level entry is
    renamed into place when all is extracted, so an interrupted extraction leaves nothing
    half-done. Entries already present are kept. A damaged archive raises
    :class:`CorruptDataError`; entries pointing outside ``into`` are refused.
    """
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(into / archive.stem)   # what a killed extraction left
    staging = temporary_name(into / archive.stem, "extracting")
    staging.mkdir()
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (staging / member).resolve()
                    if not target.is_relative_to(staging.resolve()):
                        raise CorruptDataError(archive, f"entry {member!r} points outside the folder")
                bad = zf.testzip()
                if bad is not None:
                    raise CorruptDataError(archive, f"entry {bad!r} fails its CRC check")
                zf.extractall(staging)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise CorruptDataError(archive, f"not a readable zip archive: {exc}") from None
        made = []
        for entry in sorted(staging.iterdir()):
            if entry.name == "__MACOSX":
                continue
            final = into / entry.name
            if not final.exists():
                os.replace(entry, final)
            made.append(final)
        return made
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(into / archive.stem, f"the photos extracted from {archive.name}") from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
