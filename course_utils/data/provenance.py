"""What data a run used: the real data set (and where it came from) or an announced stand-in.

Loaders note each split they return; :func:`course_utils.results.record` writes the notes
into the notebook's record (``data``, ``standin``, ``standin_reasons``, ``course_data``), and
every stand-in is also appended to the file named by ``COURSE_STANDIN_LOG`` (one JSON line),
which is how the build and the test run learn that a notebook used one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataUse:
    """One data set split a run loaded."""

    dataset: str                #: e.g. "MNIST train"
    source: str                 #: the folder or file it came from, or "generated"
    standin: bool = False       #: generated images, not the real data set
    reason: str = ""            #: why a stand-in was used
    course_data: bool = True    #: the data set the course's committed numbers are about


_uses: list[DataUse] = []


def note(use: DataUse) -> DataUse:
    """Remember ``use`` for this run's record (once); log a stand-in to ``COURSE_STANDIN_LOG``."""
    if use not in _uses:
        _uses.append(use)
        log = os.environ.get("COURSE_STANDIN_LOG")
        if use.standin and log:
            from course_utils.results import current_notebook

            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"notebook": current_notebook(), **asdict(use)}) + "\n")
    return use


def uses() -> list[DataUse]:
    """Every data set split noted in this process, in order."""
    return list(_uses)


def clear() -> None:
    """Forget the notes (a new notebook run in the same process)."""
    _uses.clear()


def shown_source(source: str) -> str:
    """``source`` relative to the checkout when it lies inside it (``data/MNIST/raw``), so that
    committed records name no folder of the machine they ran on; else as it is."""
    from course_utils.settings import checkout

    root = checkout()
    if root is None or source == "generated":
        return source
    # the path as named first (a data/ folder linked to a copy elsewhere, as CI links the offline
    # data, is still the checkout's data/), then with every link followed
    for path, top in ((Path(os.path.abspath(source)), Path(os.path.abspath(root))),
                      (Path(source).resolve(), root.resolve())):
        try:
            return path.relative_to(top).as_posix()
        except ValueError:
            continue
    return source


def summary() -> dict:
    """The record's data fields: what was used, whether any of it was a stand-in (and why),
    and whether all of it is the course's own data."""
    standins = [u for u in _uses if u.standin]
    return {"data": [f"{u.dataset}: {shown_source(u.source)}" for u in _uses],
            "standin": bool(standins),
            "standin_reasons": [f"{u.dataset}: {u.reason}" for u in standins],
            "course_data": all(u.course_data and not u.standin for u in _uses)}


def read_standin_log(path: str | os.PathLike) -> list[dict]:
    """The stand-in notes written to a ``COURSE_STANDIN_LOG`` file (empty when there is none)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
