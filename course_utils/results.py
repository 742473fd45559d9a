"""Each notebook's headline numbers, recorded as it runs in ``<results>/<notebook>.json``.

A record says what it was measured on: mode, device, torch and Python versions, the data it
used, and whether any of that data was a stand-in (``standin`` with the reasons). Where the
records go is :func:`course_utils.settings.results_root`: ``build/results/`` for a student's own
runs; only the instructor's build puts them into the committed ``results/``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Mapping, Sequence

import torch

from course_utils.data import provenance
from course_utils.files import write_atomic
from course_utils.settings import results_root
from course_utils.settings import mode

_state: dict = {"notebook": None, "start": None, "device": None}


def start_notebook(name: str, device: torch.device | str | None = None) -> None:
    """Name the running notebook (its file stem) and start its clock.

    Figures saved with :func:`course_utils.plots.save_figure` and numbers recorded with
    :func:`record` go under this name; the data notes of an earlier notebook in the same
    process are forgotten.
    """
    _state.update(notebook=name, start=time.perf_counter(),
                  device=str(device) if device is not None else None)
    provenance.clear()


def current_notebook() -> str:
    """The name given to :func:`start_notebook` (``COURSE_NOTEBOOK`` or ``"scratch"`` before)."""
    return _state["notebook"] or os.environ.get("COURSE_NOTEBOOK", "scratch")


def results_dir() -> Path:
    """Where records go (:func:`course_utils.settings.results_root`)."""
    return results_root()


def results_path(notebook: str | None = None) -> Path:
    return results_dir() / f"{notebook or current_notebook()}.json"


def write_json(path: Path, data: object) -> Path:
    """Write ``data`` as indented JSON atomically (:func:`course_utils.files.write_atomic`)."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def record(*, headline: Sequence[str] = (), **metrics: float | int | str) -> dict:
    """Merge ``metrics`` into this notebook's results file, with mode, device, seconds since
    :func:`start_notebook`, versions and the data used (:mod:`course_utils.data.provenance`);
    return the whole record. ``headline`` names the metrics the course site shows first."""
    path = results_path()
    data = json.loads(path.read_text()) if path.exists() else {}
    if data.get("mode") not in (None, mode()):
        data = {}  # never mix smoke and full numbers in one record
    data.setdefault("metrics", {}).update(metrics)
    if headline:
        missing = [k for k in headline if k not in data["metrics"]]
        if missing:
            raise KeyError(f"headline names metrics that were not recorded: {', '.join(missing)}")
        data["headline"] = list(headline)
    data.update(
        notebook=current_notebook(),
        mode=mode(),
        device=_state["device"] or data.get("device") or "unknown",
        seconds=round(time.perf_counter() - _state["start"], 2) if _state["start"] else None,
        torch=torch.__version__,
        python=platform.python_version(),
        recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
        **provenance.summary(),
    )
    write_json(path, data)
    return data


def load_results(directory: Path | str | None = None) -> dict[str, dict]:
    """All results files in ``directory`` (default :func:`results_dir`), by notebook name
    (saved runs, ``*.runs.json``, are not records)."""
    directory = Path(directory) if directory is not None else results_dir()
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))
            if not p.name.endswith(".runs.json")}


def format_table(rows: list[dict], floatfmt: str = ".4f", formats: Mapping[str, str] | None = None) -> str:
    """A plain-text table of ``rows`` (dicts with the same keys), for printing in a notebook.

    Floats print with ``floatfmt``, or with ``formats[column]`` for the columns it names
    (e.g. ``{"seconds": ".1f"}``)."""
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
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in
                               enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)
