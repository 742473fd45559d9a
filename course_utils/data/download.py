"""Download a file safely: a timeout, a checksum, and an atomic write; extract zip archives.

A download goes to a temporary file in the destination's folder and is renamed into place
only after its size and checksum are right, so a failed, truncated or wrong download never
leaves a file that a later run could take for the data set. It says what it fetches, from
where, into which folder and how big, shows a progress bar (``tqdm.auto``: a bar widget in
Jupyter, text elsewhere), and a failure names its real cause (an HTTP status, a timeout, an
SSL error, a name that does not resolve), not a guess.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

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


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """The real cause of a failed download, in words: ``"the server answered HTTP 404 Not
    Found"``, ``"no answer within 30 s"``, ``"SSL error: ..."``..."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc) if isinstance(exc, urllib.error.URLError) else exc
    host = urllib.parse.urlsplit(url).hostname or url
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(reason, ssl.SSLError):
        return (f"SSL error talking to {host}: {getattr(reason, 'reason', None) or reason} (a proxy "
                f"that rewrites HTTPS, a wrong clock or missing CA certificates?)")
    if isinstance(reason, socket.gaierror):
        return f"the name {host} could not be resolved ({reason.strerror or reason}): no internet, or no DNS?"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{reason.strerror} ({host})"
    return f"{type(reason).__name__}: {reason}"


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


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
    quiet: bool = False,
) -> Path:
    """Fetch ``url`` to ``dest`` and return ``dest``, saying what, from where and how big, with
    a progress bar (``quiet``: neither).

    A ``dest`` already present with the right checksum is reused (no network); one with a
    wrong checksum raises :class:`CorruptDataError`. A download that arrives shorter than
    announced, breaks off, or whose checksum differs, raises :class:`DownloadError` and is
    deleted. A server that cannot be reached or answers with an error (or a ``timeout`` in
    seconds passing without an answer) raises :class:`DataMissingError` naming the file, the
    folder and the real cause (also in its ``cause`` attribute).
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
    if not quiet:
        print(f"Downloading {dataset + ': ' if dataset else ''}{dest.name} from {url} into {dest.parent}",
              flush=True)
    received, announced = 0, None
    try:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                announced = int(length) if length and length.isdigit() else None
                with tqdm(total=announced, unit="B", unit_scale=True, unit_divisor=1000, disable=quiet,
                          desc=f"{dest.name} ({_size(announced)})", leave=True) as bar:
                    for chunk in iter(lambda: resp.read(CHUNK), b""):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if h is not None:
                            h.update(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, ssl.SSLError,
                http.client.HTTPException) as exc:
            cause = describe_failure(exc, url, timeout)
            if received:   # it answered, then broke off
                raise DownloadError(url, dest, f"the transfer broke off after {received:,} of "
                                               f"{_size(announced)}: {cause}") from None
            error = DataMissingError(dataset or dest.name, dest.parent, [dest.name],
                                     why="is not in the data root and could not be downloaded",
                                     hint=f"Downloading {url} failed: {cause}.")
            error.cause = cause
            raise error from None
        if announced is not None and received != announced:
            raise DownloadError(url, dest, f"truncated: got {received:,} of {announced:,} bytes")
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
