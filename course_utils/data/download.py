"""Errors naming missing or bad data files; safe downloads (timeout, checksum, atomic write, progress
bar, the real cause of a failure); zip extraction."""

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

from course_utils.files import disk_full, is_disk_full, remove_stale_temporaries, temporary_name
from course_utils.settings import is_writable


class DataMissingError(FileNotFoundError):
    """A data set is not on disk: names the files and where they go. ``absent``: none of it is
    there (smoke mode may then use a stand-in); ``cause``: why a download failed, when one did."""

    def __init__(self, dataset: str, folder: Path, files: list[str], *, why: str, hint: str = "",
                 absent: bool = False, cause: str | None = None) -> None:
        listing, hint = "\n".join(f"  {folder / f}" for f in files), f"\n{hint}" if hint else ""
        super().__init__(f"{dataset} {why}.\nPut these files in {folder}:\n{listing}{hint}")
        self.folder, self.files, self.absent, self.cause = folder, files, absent, cause


class CorruptDataError(ValueError):
    """A data file is present but truncated or corrupted; ``path`` is the one bad file."""

    def __init__(self, path: Path, problem: str, advice: str | None = None) -> None:
        advice = advice or ("Replace this one file with a good copy (or delete it and run again with "
                            "internet to download it afresh).")
        super().__init__(f"{path} is corrupt or truncated ({problem}). {advice}")
        self.path = path


class DownloadError(CorruptDataError):
    """A download arrived truncated or with the wrong checksum; nothing was kept."""

    def __init__(self, url: str, dest: Path, problem: str) -> None:
        ValueError.__init__(self, f"download of {url} refused: {problem}. Nothing was written to {dest} "
                                  f"(the partial file was deleted). Run again to retry, or put a good copy "
                                  f"there by hand.")
        self.path = dest


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """The real cause of a failed download, in words (an HTTP status, a timeout, an SSL error...)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
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
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def check_file(path: Path, sha1: str | None = None, md5: str | None = None) -> None:
    """Raise :class:`CorruptDataError` when ``path``'s checksum is not the expected one."""
    for algorithm, digest in (("sha1", sha1), ("md5", md5)):
        if digest and (actual := file_hash(path, algorithm)) != digest.lower():
            raise CorruptDataError(path, f"{algorithm} is {actual}, expected {digest.lower()}")


def download(url: str, dest: Path | str, *, sha1: str | None = None, md5: str | None = None,
             timeout: float = 30.0, dataset: str | None = None) -> Path:
    """Fetch ``url`` to ``dest`` (kept when present with the right checksum), saying what, from
    where and how big; a bad, truncated or broken-off download raises :class:`DownloadError`,
    no answer :class:`DataMissingError` with its ``cause``."""
    dest = Path(dest)
    if dest.exists():
        check_file(dest, sha1, md5)
        return dest
    algorithm, digest = ("sha1", sha1) if sha1 else ("md5", md5)
    h = hashlib.new(algorithm) if digest else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)   # what a killed download left
    tmp = temporary_name(dest, "part")
    what = f"{dataset}: {dest.name}" if dataset else dest.name
    print(f"Downloading {what} from {url} into {dest.parent}", flush=True)
    received, announced = 0, None
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            announced = int(length) if length and length.isdigit() else None
            with tqdm(total=announced, unit="B", unit_scale=True, unit_divisor=1000,
                      desc=f"{dest.name} ({_size(announced)})", leave=True) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    if h is not None:
                        h.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        if announced is not None and received != announced:
            raise DownloadError(url, dest, f"truncated: got {received:,} of {announced:,} bytes")
        if h is not None and h.hexdigest() != digest.lower():
            raise DownloadError(url, dest, f"{algorithm} is {h.hexdigest()}, expected {digest.lower()} "
                                           f"(truncated or wrong file)")
        os.replace(tmp, dest)  # atomic on one file system: dest is complete or absent
    except (urllib.error.URLError, socket.timeout, ConnectionError, ssl.SSLError,
            http.client.HTTPException) as exc:
        cause = describe_failure(exc, url, timeout)
        if received:   # it answered, then broke off
            raise DownloadError(url, dest, f"the transfer broke off after {received:,} of "
                                           f"{_size(announced)}: {cause}") from None
        raise DataMissingError(dataset or dest.name, dest.parent, [dest.name], cause=cause,
                               why="is not in the data root and could not be downloaded",
                               hint=f"Downloading {url} failed: {cause}.") from None
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dest, f"the download of {dest.name}") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def try_download(url: str, dest: Path, *, dataset: str, **checksum: str) -> str | None:
    """:func:`download` into a writable folder: None when done, else why not (a read-only folder,
    no answer); a bad download raises."""
    if not is_writable(dest.parent):
        return "the data root is read-only, so it cannot be downloaded into it"
    try:
        download(url, dest, timeout=60.0, dataset=dataset, **checksum)
    except DataMissingError as exc:
        return exc.cause
    return None


def extract_zip(archive: Path | str, into: Path | str) -> None:
    """Extract ``archive`` into ``into`` by way of a temporary folder (an interrupted extraction leaves
    nothing), keeping entries already there; a damaged one raises :class:`CorruptDataError`."""
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(into / archive.stem)   # what a killed extraction left
    staging = temporary_name(into / archive.stem, "extracting")
    staging.mkdir()
    try:
        with zipfile.ZipFile(archive) as zf:   # it checks each entry's CRC, keeps paths inside
            zf.extractall(staging)
        for entry in staging.iterdir():
            if entry.name != "__MACOSX" and not (into / entry.name).exists():
                os.replace(entry, into / entry.name)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CorruptDataError(archive, f"not a readable zip archive: {exc}") from None
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(into / archive.stem, f"the photos extracted from {archive.name}") from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
