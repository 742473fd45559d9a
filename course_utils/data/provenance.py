"""What data a run used: the real data set (and where it came from) or an announced stand-in.

Loaders note each split they return (:func:`course_utils.run.note_data`, also called
:func:`note` here); the run's record says what was used (``data``, ``standin``,
``standin_reasons``, ``course_data``), and every stand-in is also appended to the file named by
``COURSE_STANDIN_LOG`` (one JSON line), which is how the build and the test run learn that a
notebook used one (:func:`read_standin_log`).
"""

from __future__ import annotations

import json
import os

from course_utils.run import DataUse, current, note_data as note, shown_source

__all__ = ["DataUse", "note", "uses", "shown_source", "read_standin_log"]


def uses() -> list[DataUse]:
    """Every data set split the current run noted, in order."""
    return list(current().uses)


def read_standin_log(path: str | os.PathLike) -> list[dict]:
    """The stand-in notes written to a ``COURSE_STANDIN_LOG`` file (empty when there is none)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
