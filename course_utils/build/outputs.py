"""Where a build writes, and how its outputs reach their places only when it finished.

Every notebook writes its figures, records and stand-in notes into a staging folder. When the
whole build succeeds they are moved into place (each notebook's figure folder replaced as a
whole); when it fails or is interrupted, nothing in place changes and the staged outputs are
kept in ``<out>/partial/`` for a look. A record made from stand-in data, or from data that is
not the course's own, never reaches the committed ``results/``: it goes to
``<out>/results/`` instead, with a line saying so.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.data.provenance import read_standin_log


@dataclass
class Staging:
    """One build's staging folder, ``<out>/staging/``."""

    root: Path

    @classmethod
    def fresh(cls, out: Path) -> "Staging":
        root = out / "staging"
        shutil.rmtree(root, ignore_errors=True)
        for sub in ("figures", "results", "standin"):
            (root / sub).mkdir(parents=True)
        return cls(root)

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def results(self) -> Path:
        return self.root / "results"

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


def _replace(src: Path, dest: Path) -> None:
    """Move ``src`` over ``dest`` (a file, or a folder replaced as a whole)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_dir():
        old = dest.with_name(f".{dest.name}.old-{time.time_ns()}")
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
            held_back: Path) -> list[str]:
    """Move the staged figures and records into ``figures`` and ``results``; return what was
    held back and why. With ``committed`` (``results`` is the course's committed folder), a
    notebook whose record was made from stand-ins or from other data goes to
    ``held_back/results`` and ``held_back/figures`` instead."""
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
    shutil.rmtree(staging.root, ignore_errors=True)
    return notes
