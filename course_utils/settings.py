"""Every ``COURSE_*`` setting, read and checked here only (a bad value raises :class:`SettingError`),
and the folders they choose: ``COURSE_SMOKE``, ``COURSE_DEVICE``, ``COURSE_HOME``, ``COURSE_DATA``,
``COURSE_RESULTS``, ``COURSE_FIGURES``, ``COURSE_CACHE``, ``COURSE_FIGURE_FORMATS``,
``COURSE_FIGURE_STYLE``, ``COURSE_NOTEBOOK``, ``COURSE_STANDIN_LOG`` (README.md, "Where things go")."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

from course_utils.files import ReadOnlyError, nearest_existing

#: The folder that holds the ``course_utils`` package.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_noted: set[str] = set()
#: The figure styles (``course_utils/styles/<name>.mplstyle``) and file formats.
STYLES, FORMATS = ("paper", "slides"), ("png", "svg", "pdf")
#: Every setting the course reads.
NAMES = ("COURSE_SMOKE", "COURSE_DEVICE", "COURSE_HOME", "COURSE_DATA", "COURSE_RESULTS",
         "COURSE_FIGURES", "COURSE_CACHE", "COURSE_FIGURE_FORMATS", "COURSE_FIGURE_STYLE",
         "COURSE_NOTEBOOK", "COURSE_STANDIN_LOG")


class SettingError(ValueError):
    """A ``COURSE_*`` setting (or the matching argument) has a value that cannot be used."""


def given(name: str) -> str:
    """The text a setting was given (stripped; empty when unset)."""
    if name not in NAMES:
        raise KeyError(f"{name} is not a setting of the course (they are: {', '.join(NAMES)})")
    return os.environ.get(name, "").strip()


def _launch_dir() -> Path:
    """The shell's ``PWD`` (a kernel inherits it) when it names a folder, else the working directory."""
    pwd = os.environ.get("PWD")
    if pwd and Path(pwd).is_absolute() and Path(pwd).is_dir():
        return Path(pwd)
    return Path.cwd()


def checkout() -> Path | None:
    """The checkout the package was imported from, else the one the working or launch folder is in."""
    here, launched = Path.cwd().resolve(), _launch_dir().resolve()
    for folder in (PACKAGE_PARENT, here, *here.parents, launched, *launched.parents):
        if ((folder / "course_utils" / "__init__.py").is_file() and (folder / "notebooks").is_dir()
                and (folder / "pyproject.toml").is_file()):
            return folder
    return None


def _folder_setting(name: str, default: Path) -> Path:
    """Setting ``name`` (a relative path: from the launch folder; never a file), else ``default``."""
    value = given(name)
    path = Path(value).expanduser() if value else default
    if value and not path.is_absolute() and "PWD" not in os.environ:
        raise SettingError(
            f"{name}={value!r} is a relative path, and the folder it is relative to is "
            f"unknown here (no PWD: a Jupyter kernel runs in the notebook's folder). "
            f"Give an absolute path, e.g. {name}={path.resolve()}")
    if value:
        path = (_launch_dir() / path).resolve()   # an absolute path stays as it is
    if path.exists() and not path.is_dir():
        raise SettingError(f"{name} points at {path}, which is a file, not a folder. Set {name} "
                           f"to a folder (it is created when missing), or unset it.")
    return path


def _per_user(name: str, xdg: str, default: str) -> Path:
    """Setting ``name``, else ``$<xdg>/pytorch-course``, else ``~/<default>/pytorch-course``."""
    base = os.environ.get(xdg)
    return _folder_setting(name, (Path(base) if base else Path.home() / default) / "pytorch-course")


def home() -> Path:
    """The checkout in use, else ``COURSE_HOME``, else the per-user data folder."""
    return checkout() or _per_user("COURSE_HOME", "XDG_DATA_HOME", ".local/share")


def data_root() -> Path:
    """``COURSE_DATA``, else ``data/`` of :func:`home`."""
    return _folder_setting("COURSE_DATA", home() / "data")


def describe_data_root() -> str:
    """One line saying which data root is in use and why."""
    value, root = given("COURSE_DATA"), data_root()
    if value:
        return f"data root: {root} (from COURSE_DATA={value})"
    where = "this checkout" if checkout() is not None else "the per-user course home"
    return f"data root: {root} (the default, in {where}; set COURSE_DATA to change it)"


def run_dir() -> Path:
    """Where a run that is not the instructor's build writes: ``build/`` (``build/smoke/``)."""
    return home() / "build" / "smoke" if is_smoke() else home() / "build"


def results_root() -> Path:
    """``COURSE_RESULTS``, else ``build/results`` (``build/smoke/results`` in smoke mode)."""
    return _folder_setting("COURSE_RESULTS", run_dir() / "results")


def figures_root() -> Path:
    """``COURSE_FIGURES``, else ``build/figures`` (``build/smoke/figures`` in smoke mode)."""
    return _folder_setting("COURSE_FIGURES", run_dir() / "figures")


def is_writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (or its nearest existing parent)."""
    try:
        with tempfile.NamedTemporaryFile(dir=nearest_existing(folder), prefix=".course-write-test-"):
            return True
    except OSError:
        return False


def writable_dir(preferred: Path, purpose: str) -> Path:
    """``preferred`` (created) if writable, else its place in the per-user cache; else ReadOnlyError."""
    folder = preferred
    if not is_writable(preferred):
        cache = _per_user("COURSE_CACHE", "XDG_CACHE_HOME", ".cache")
        folder = cache / "readonly" / str(preferred)[len(preferred.anchor):]
        if not is_writable(folder):
            raise ReadOnlyError(errno.EROFS, (
                f"{preferred} is read-only, and so is the course's cache {cache}: {purpose} "
                f"have nowhere to go. Set COURSE_CACHE to a folder you can write to."))
        if purpose not in _noted:
            _noted.add(purpose)
            print(f"note: {preferred} is read-only; {purpose} go to {folder} instead.",
                  file=sys.stderr, flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoints_dir() -> Path:
    """``build/checkpoints`` (``build/smoke/checkpoints``), or the cache when that is read-only."""
    return writable_dir(run_dir() / "checkpoints", "checkpoints")


def is_smoke() -> bool:
    """``COURSE_SMOKE``: on (1, true, yes, on) or off (unset, 0, false, no, off); anything else raises."""
    value = given("COURSE_SMOKE").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise SettingError(f"COURSE_SMOKE={os.environ['COURSE_SMOKE']!r} is neither on nor off: use "
                       f"COURSE_SMOKE=1 for the smoke run or COURSE_SMOKE=0 (or unset it) for "
                       f"the full run.")


def mode() -> str:
    """``"smoke"`` or ``"full"``."""
    return "smoke" if is_smoke() else "full"


def pick(full, smoke):
    """Return ``smoke`` in smoke mode and ``full`` otherwise (for a notebook's parameters cell)."""
    return smoke if is_smoke() else full


def figure_style() -> str:
    """``COURSE_FIGURE_STYLE``, else ``"paper"``; checked."""
    chosen = given("COURSE_FIGURE_STYLE") or "paper"
    if chosen not in STYLES:
        raise SettingError(f"COURSE_FIGURE_STYLE={chosen!r} is not a figure style; choose one of "
                           f"{', '.join(STYLES)}")
    return chosen


def figure_formats(formats=None) -> list[str]:
    """``formats``, else ``COURSE_FIGURE_FORMATS`` (``png,svg,pdf``), else PNG; checked."""
    chosen = list(formats or [f.strip() for f in given("COURSE_FIGURE_FORMATS").split(",") if f.strip()]
                  or ["png"])
    bad = [f for f in chosen if f not in FORMATS]
    if bad:
        raise SettingError(f"unknown figure format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    return chosen
