"""The saved-run redraw: every figure of a notebook drawn again from its saved run, in any style
and format, without data or training (``python -m course_utils.instructor --figures-only``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt

from course_utils import plots
from course_utils.figures import FORMAT, VERSION, draw
from course_utils.files import remove, remove_stale_temporaries, temporary_name


class RunsError(ValueError):
    """A saved run is missing, damaged, or of another format version."""


def load_runs(path: Path) -> dict:
    """A saved run, checked: :class:`RunsError` when it is missing, damaged or of another
    version."""
    if not path.exists():
        raise RunsError(f"no saved run at {path}")
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunsError(f"saved run {path} cannot be read ({exc}); rebuild the notebook") from None
    if not isinstance(runs, dict) or runs.get("format") != FORMAT:
        raise RunsError(f"{path} is not a saved run of course_utils")
    if runs.get("version") != VERSION:
        raise RunsError(f"{path} is a saved run of version {runs.get('version')}; this course_utils "
                        f"reads version {VERSION}: rebuild the notebook to update it")
    notebook, specs = runs.get("notebook"), runs.get("figures")
    if not (_plain_name(notebook) and isinstance(specs, dict)
            and all(_plain_name(n) and isinstance(s, dict) for n, s in specs.items())):
        raise RunsError(f"saved run {path} is damaged (its notebook name or its figures are not "
                        f"what a saved run holds); rebuild the notebook")
    return runs


def _plain_name(name: object) -> bool:
    """True for a file or folder name without a path in it (nothing that leads elsewhere)."""
    return isinstance(name, str) and bool(name) and not name.startswith(".") and Path(name).name == name


def redraw(path: Path, out: Path, *, style: str = "paper", formats=None) -> list[Path]:
    """Draw every figure of the saved run ``path`` again into ``out/<notebook>/``, in ``style``
    and ``formats``; return the files written. All are drawn before any is moved into place,
    so a damaged saved run (:class:`RunsError`, naming it) leaves the figures as they were."""
    runs = load_runs(path)
    folder = out / runs["notebook"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    temp = temporary_name(folder, "redraw")
    try:
        drawn = []
        with plots.style(style):
            for name, spec in runs["figures"].items():
                try:
                    fig = draw(spec)
                except Exception as exc:   # half a thumbnail, a list for a dict, an unknown kind...
                    raise RunsError(f"saved run {path} is damaged: its figure {name!r} cannot be "
                                    f"drawn ({type(exc).__name__}: {exc}); rebuild the "
                                    f"notebook") from None
                try:
                    drawn += plots.write_figure(fig, temp, name, formats)
                finally:
                    plt.close(fig)
        folder.mkdir(exist_ok=True)
        written = []
        for file in drawn:
            os.replace(file, folder / file.name)
            written.append(folder / file.name)
        return written
    finally:
        remove(temp)
