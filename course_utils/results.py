"""Each notebook's headline numbers, recorded as it runs in ``results/<notebook>.json``."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from course_utils.runtime import REPO_ROOT, is_smoke, mode

_state: dict = {"notebook": None, "start": None, "device": None}


def start_notebook(name: str, device: torch.device | str | None = None) -> None:
    """Name the running notebook (its file stem) and start its clock.

    Figures saved with :func:`course_utils.pictures.save_figure` and numbers recorded with
    :func:`record` go under this name.
    """
    _state.update(notebook=name, start=time.perf_counter(),
                  device=str(device) if device is not None else None)


def current_notebook() -> str:
    """The name given to :func:`start_notebook` (``COURSE_NOTEBOOK`` or ``"scratch"`` before)."""
    return _state["notebook"] or os.environ.get("COURSE_NOTEBOOK", "scratch")


def results_dir() -> Path:
    """``COURSE_RESULTS`` if set, else ``results/`` (``results/smoke/`` in smoke mode)."""
    env = os.environ.get("COURSE_RESULTS")
    base = Path(env) if env else REPO_ROOT / "results"
    return base / "smoke" if is_smoke() and not env else base


def results_path(notebook: str | None = None) -> Path:
    return results_dir() / f"{notebook or current_notebook()}.json"


def record(**metrics: float | int | str) -> dict:
    """Merge ``metrics`` into this notebook's results file, with mode, device, seconds since
    :func:`start_notebook`, and the torch version; return the whole record."""
    path = results_path()
    data = json.loads(path.read_text()) if path.exists() else {}
    if data.get("mode") not in (None, mode()):
        data = {}  # never mix smoke and full numbers in one record
    data.setdefault("metrics", {}).update(metrics)
    data.update(
        notebook=current_notebook(),
        mode=mode(),
        device=_state["device"] or data.get("device") or "unknown",
        seconds=round(time.perf_counter() - _state["start"], 2) if _state["start"] else None,
        torch=torch.__version__,
        python=platform.python_version(),
        recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


def load_results(directory: Path | str | None = None) -> dict[str, dict]:
    """All results files in ``directory`` (default :func:`results_dir`), by notebook name."""
    directory = Path(directory) if directory is not None else results_dir()
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def format_table(rows: list[dict], floatfmt: str = ".4f") -> str:
    """A plain-text table of ``rows`` (dicts with the same keys), for printing in a notebook."""
    if not rows:
        return ""
    cols = list(rows[0])

    def fmt(v) -> str:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return str(v)
        return f"{v:,}" if isinstance(v, int) else format(v, floatfmt)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in
                               enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)
