"""Records (``<results>/<notebook>.json``, written by ``run.record``) read back; tables for printing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from course_utils import settings


def load_results(directory: Path | str | None = None) -> dict[str, dict]:
    """The records in ``directory`` (default: the results root) by notebook name, saved runs left out."""
    directory = Path(directory) if directory is not None else settings.results_root()
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))
            if not p.name.endswith(".runs.json")}


def format_table(rows: list[dict], floatfmt: str = ".4f", formats: Mapping[str, str] | None = None) -> str:
    """A plain-text table of ``rows`` (dicts, same keys); floats in ``formats[column]``, else ``floatfmt``."""
    if not rows:
        return ""
    cols = list(rows[0])
    formats = dict(formats or {})
    unknown = set(formats) - set(cols)
    if unknown:
        raise KeyError(f"formats names columns the table does not have: {sorted(unknown)}; columns: {cols}")

    def fmt(v, col: str) -> str:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return str(v)
        return f"{v:,}" if isinstance(v, int) else format(v, formats.get(col, floatfmt))

    cells = [[fmt(r.get(c, ""), c) for c in cols] for r in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    head = "  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()
    body = ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]
    return "\n".join([head, "  ".join("-" * w for w in widths), *body])
