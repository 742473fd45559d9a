"""Where a build writes, and how its outputs reach their places only when it finished.

Every notebook writes its figures, records, stand-in notes and executed copy into its build's
own staging folder (under ``<out>/staging/``, one per build, so two builds at once never share
one). When the whole build succeeds they are moved into place (each notebook's figure folder
replaced as a whole) while the build holds ``<out>/build.lock``: a second build that finishes
meanwhile waits for it, and says so. When a build fails or is interrupted, nothing in place
changes and its staged outputs are kept in ``<out>/partial/`` for a look. A record made from
stand-in data, or from data that is not the course's own, never reaches the committed
``results/``: it goes to ``<out>/results/`` instead, with a line saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, TextIO

from course_utils.data.provenance import read_standin_log
from course_utils.files import remove_stale_temporaries, temporary_name

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


@dataclass
class Staging:
    """One build's own staging folder, ``<out>/staging/.build.<pid>.<random>.staging/``."""

    root: Path

    @classmethod
    def fresh(cls, out: Path) -> "Staging":
        """A new staging folder for this build; those of builds that were killed are removed."""
        anchor = out / "staging" / "build"
        anchor.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(anchor)
        root = temporary_name(anchor, "staging")
        for sub in ("figures", "results", "standin", "notebooks"):
            (root / sub).mkdir(parents=True)
        return cls(root)

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def notebooks(self) -> Path:
        """The executed notebooks (moved to ``<out>/notebooks/`` only when the build finished)."""
        return self.root / "notebooks"

    def standin_log(self, notebook: str) -> Path:
        return self.root / "standin" / f"{notebook}.jsonl"

    def standins(self, notebook: str) -> list[dict]:
        """The stand-ins this notebook announced (one entry per data set split)."""
        return read_standin_log(self.standin_log(notebook))

    def figure_files(self, notebook: str) -> list[Path]:
        folder = self.figures / notebook
        return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []

    def record(self, notebook: str) -> dict | None:
        path = self.results / f"{notebook}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def keep_as_partial(self, out: Path) -> Path:
        """Keep the staged outputs of a build that did not finish in ``<out>/partial/``."""
        partial = out / "partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.root.rename(partial)
        return partial


def _lock(f: IO, wait: bool) -> bool:
    """Lock the open file ``f`` for this process; False when ``wait`` is off and it is taken."""
    if fcntl is not None:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False
    while True:  # msvcrt has no blocking lock that waits for long
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not wait:
                return False
            time.sleep(0.5)


def _unlock(f: IO) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    else:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)


@contextmanager
def promotion_lock(out: Path, log: TextIO | None = None) -> Iterator[None]:
    """Hold ``<out>/build.lock`` while a build moves its outputs into place (or keeps them as
    partial). A build that finds it taken waits for it, saying so on ``log``, so two builds
    in one checkout never move outputs at the same time."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "build.lock"
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+") as f:
        if not _lock(f, wait=False):
            holder = f.read().strip() or "another build"
            print(f"waiting for {holder} to finish moving its outputs into place (it holds {path})",
                  file=log or sys.stderr, flush=True)
            _lock(f, wait=True)
        f.seek(0)
        f.truncate()
        f.write(f"the build with process id {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            f.flush()
            _unlock(f)


def _replace(src: Path, dest: Path) -> None:
    """Move ``src`` over ``dest`` (a file, or a folder replaced as a whole)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    if dest.is_dir():
        old = temporary_name(dest, "old")
        dest.rename(old)
        shutil.move(str(src), str(dest))
        shutil.rmtree(old, ignore_errors=True)
    else:
        shutil.move(str(src), str(dest))


def held_back_reason(record: dict) -> str:
    """Why a record may not go into the committed results ("" when it may)."""
    if record.get("standin"):
        return "it was made from STAND-IN data (" + "; ".join(record.get("standin_reasons", [])) + ")"
    if not record.get("course_data", True):
        return "it was made from other data than the course's (" + "; ".join(record.get("data", [])) + ")"
    return ""


def promote(staging: Staging, *, figures: Path, results: Path, committed: bool,
            held_back: Path, notebooks: Path | None = None) -> list[str]:
    """Move the staged figures and records into ``figures`` and ``results`` (and the executed
    notebooks into ``notebooks``); return what was held back and why. With ``committed``
    (``results`` is the course's committed folder), a notebook whose record was made from
    stand-ins or from other data goes to ``held_back/results`` and ``held_back/figures``
    instead. Hold :func:`promotion_lock` around it."""
    notes = []
    held: set[str] = set()
    for path in sorted(staging.results.glob("*.json")):   # records and saved runs
        notebook = path.name.split(".", 1)[0]
        record = staging.record(notebook)
        reason = held_back_reason(record) if record is not None else ""
        if committed and reason:
            if notebook not in held:
                notes.append(f"{notebook}: kept out of {results} and {figures}, in {held_back}, "
                             f"because {reason}")
            held.add(notebook)
        _replace(path, (held_back / "results" if notebook in held else results) / path.name)
    for folder in sorted(p for p in staging.figures.iterdir() if p.is_dir()):
        _replace(folder, (held_back / "figures" if folder.name in held else figures) / folder.name)
    if notebooks is not None and staging.notebooks.is_dir():
        for path in sorted(staging.notebooks.glob("*.ipynb")):
            _replace(path, notebooks / path.name)
    shutil.rmtree(staging.root, ignore_errors=True)
    return notes
