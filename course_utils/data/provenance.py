"""What data a run used (noted by :func:`course_utils.run.note_data`); the stand-in log's reader."""

from __future__ import annotations

import json
import os

from course_utils.run import shown_source

__all__ = ["shown_source", "read_standin_log"]


def read_standin_log(path: str | os.PathLike) -> list[dict]:
    """The stand-in notes written to a ``COURSE_STANDIN_LOG`` file (empty when there is none)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
