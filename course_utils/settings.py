"""Every ``COURSE_*`` setting, read and checked here and nowhere else, and the folders they choose.

========================  ==========================================================================
``COURSE_SMOKE``          ``1`` for the shrunken test run (:func:`is_smoke`)
``COURSE_DEVICE``         the device to train on (:func:`device_setting`, checked by
                          :func:`course_utils.device.get_device`)
``COURSE_HOME``           the course's home outside a checkout (:func:`user_home`)
``COURSE_DATA``           the data root (:func:`data_root`)
``COURSE_RESULTS``        where records and saved runs go (:func:`results_root`)
``COURSE_FIGURES``        where figures go (:func:`figures_root`)
``COURSE_CACHE``          a writable per-user cache (:func:`cache_dir`)
``COURSE_FIGURE_FORMATS`` the figure files written, e.g. ``png,svg,pdf`` (:func:`figure_formats`)
``COURSE_FIGURE_STYLE``   ``paper`` or ``slides`` (:func:`figure_style`)
``COURSE_NOTEBOOK``       the notebook's name before ``start_run`` names it (:func:`notebook_name`)
``COURSE_STANDIN_LOG``    a file every stand-in data set is logged to (:func:`standin_log`)
========================  ==========================================================================

The instructor's runner sets them for the kernels it starts; a value that cannot be used raises
:class:`SettingError` naming the variable and what it accepts.

Where things live: inside a checkout of the course (``course_utils`` installed with ``pip install
-e .``, or any install used from a working directory inside a checkout) everything lives in that
checkout: ``data/``, ``build/``, and, for the instructor's build only, ``results/`` and
``figures/``. Anywhere else the course's home is a per-user folder: ``COURSE_HOME``, else
``$XDG_DATA_HOME/pytorch-course``, else ``~/.local/share/pytorch-course``. A notebook run in
Jupyter writes its numbers to ``build/results/`` and its figures to ``build/figures/`` (ignored by
git), smoke runs to ``build/smoke/``; only ``python -m course_utils.instructor`` in full mode on the
course's data promotes records into the committed ``results/``.
"""


from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

from course_utils.files import ReadOnlyError

#: The folder that holds the ``course_utils`` package.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_noted: set[str] = set()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class SettingError(ValueError):
    """A ``COURSE_*`` setting (or the matching argument) has a value that cannot be used."""


def is_checkout(folder: Path) -> bool:
    """True when ``folder`` is a checkout of the course (it holds the package's source, the
    notebooks and ``pyproject.toml``)."""
    return ((folder / "course_utils" / "__init__.py").is_file() and (folder / "notebooks").is_dir()
            and (folder / "pyproject.toml").is_file())


def launch_dir() -> Path:
    """The folder the user launched from: the shell's ``PWD`` when it names an existing folder
    (a Jupyter kernel runs in the notebook's folder, but inherits the shell's ``PWD``), else
    the working directory."""
    pwd = os.environ.get("PWD")
    if pwd and Path(pwd).is_absolute() and Path(pwd).is_dir():
        return Path(pwd)
    return Path.cwd()


def find_checkout(start: Path) -> Path | None:
    """The checkout that contains ``start`` (or ``start`` itself), or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if is_checkout(folder):
            return folder
    return None


def checkout() -> Path | None:
    """The checkout in use: the one the package was imported from (an editable install or a
    source tree), else the one the working directory is in, else None."""
    if is_checkout(PACKAGE_PARENT):
        return PACKAGE_PARENT
    return find_checkout(Path.cwd()) or find_checkout(launch_dir())


def user_home() -> Path:
    """The per-user home of the course's files outside a checkout."""
    env = os.environ.get("COURSE_HOME")
    if env:
        return _absolute("COURSE_HOME", env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "pytorch-course"


def home() -> Path:
    """The checkout in use, or :func:`user_home` when there is none."""
    return checkout() or user_home()


def _absolute(name: str, value: str) -> Path:
    """``value`` as an absolute path; a relative one is taken relative to the folder the user
    launched from (:func:`launch_dir`), never the kernel's folder."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        if "PWD" not in os.environ:
            raise SettingError(
                f"{name}={value!r} is a relative path, and the folder it is relative to is "
                f"unknown here (no PWD: a Jupyter kernel runs in the notebook's folder). "
                f"Give an absolute path, e.g. {name}={Path(value).resolve()}")
        path = launch_dir() / path
    return path.resolve()


def _folder_setting(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    path = _absolute(name, value) if value else default
    if path.exists() and not path.is_dir():
        raise SettingError(f"{name} points at {path}, which is a file, not a folder. Set {name} "
                           f"to a folder (it is created when missing), or unset it.")
    return path


def data_root() -> Path:
    """The data root: ``COURSE_DATA`` (a relative value is taken from the folder you launched
    from), else ``data/`` of :func:`home`. A path that is a file raises :class:`SettingError`."""
    return _folder_setting("COURSE_DATA", home() / "data")


def describe_data_root() -> str:
    """One line saying which data root is in use and why."""
    value = os.environ.get("COURSE_DATA", "").strip()
    root = data_root()
    if value:
        return f"data root: {root} (from COURSE_DATA={value})"
    where = "this checkout" if checkout() is not None else "the per-user course home"
    return f"data root: {root} (the default, in {where}; set COURSE_DATA to change it)"


def build_dir() -> Path:
    """``build/`` of :func:`home`: everything generated that git ignores."""
    return home() / "build"


def run_dir() -> Path:
    """Where a run that is not the instructor's build writes: ``build/`` (``build/smoke/`` in
    smoke mode)."""
    return build_dir() / "smoke" if is_smoke() else build_dir()


def results_root() -> Path:
    """``COURSE_RESULTS``, else ``build/results`` (``build/smoke/results`` in smoke mode)."""
    return _folder_setting("COURSE_RESULTS", run_dir() / "results")


def figures_root() -> Path:
    """``COURSE_FIGURES``, else ``build/figures`` (``build/smoke/figures`` in smoke mode)."""
    return _folder_setting("COURSE_FIGURES", run_dir() / "figures")


def cache_dir() -> Path:
    """A writable per-user cache: ``COURSE_CACHE``, else ``$XDG_CACHE_HOME/pytorch-course``,
    else ``~/.cache/pytorch-course``."""
    env = os.environ.get("COURSE_CACHE", "").strip()
    if env:
        return _absolute("COURSE_CACHE", env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pytorch-course"


def is_writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (or in the nearest existing parent, for a
    folder that does not exist yet)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    if not probe.is_dir():
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".course-write-test-"):
            return True
    except OSError:
        return False


def writable_dir(preferred: Path, purpose: str) -> Path:
    """``preferred`` when files can be written there, else the same place under
    :func:`cache_dir` (said once per purpose, on stderr). The folder is created. When neither
    can be written, :class:`~course_utils.files.ReadOnlyError` says so in one sentence."""
    if is_writable(preferred):
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred
    anchor = preferred.anchor
    fallback = cache_dir() / "readonly" / str(preferred)[len(anchor):]
    if not is_writable(fallback):
        raise ReadOnlyError(errno.EROFS, (
            f"{preferred} is read-only, and so is the course's cache {cache_dir()}: {purpose} "
            f"have nowhere to go. Set COURSE_CACHE to a folder you can write to."))
    if purpose not in _noted:
        _noted.add(purpose)
        print(f"note: {preferred} is read-only; {purpose} go to {fallback} instead.",
              file=sys.stderr, flush=True)
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def checkpoints_dir() -> Path:
    """Where notebooks write checkpoints: ``build/checkpoints`` (``build/smoke/checkpoints`` in
    smoke mode), or the per-user cache when that is read-only."""
    return writable_dir(run_dir() / "checkpoints", "checkpoints")


# ------------------------------------------------------------------------------ smoke mode
def is_smoke() -> bool:
    """True when ``COURSE_SMOKE`` asks for the shrunken, minutes-long test run. ``1``, ``true``,
    ``yes``, ``on`` mean smoke; unset, empty, ``0``, ``false``, ``no``, ``off`` mean full; any
    other value raises :class:`SettingError`."""
    value = os.environ.get("COURSE_SMOKE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
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


def device_setting() -> str:
    """``COURSE_DEVICE`` as given (empty when unset); :func:`course_utils.device.get_device`
    checks that the device exists."""
    return os.environ.get("COURSE_DEVICE", "").strip()


def notebook_name() -> str:
    """``COURSE_NOTEBOOK`` (set by the instructor's runner for each kernel), else ``"scratch"``."""
    return os.environ.get("COURSE_NOTEBOOK", "").strip() or "scratch"


def standin_log() -> Path | None:
    """The file named by ``COURSE_STANDIN_LOG`` that stand-in data sets are logged to, or None."""
    value = os.environ.get("COURSE_STANDIN_LOG", "").strip()
    return Path(value) if value else None


#: The course's figure styles (matplotlib style sheets in ``course_utils/styles/``).
STYLES = ("paper", "slides")
#: Figure file formats the course writes.
FORMATS = ("png", "svg", "pdf")


def figure_style(style: str | None = None) -> str:
    """``style``, else ``COURSE_FIGURE_STYLE``, else ``"paper"``; checked."""
    chosen = style or os.environ.get("COURSE_FIGURE_STYLE", "").strip() or "paper"
    if chosen not in STYLES:
        source = "style" if style else "COURSE_FIGURE_STYLE"
        raise SettingError(f"{source}={chosen!r} is not a figure style; choose one of {', '.join(STYLES)}")
    return chosen


def figure_formats(formats=None) -> list[str]:
    """``formats``, else ``COURSE_FIGURE_FORMATS`` (``png,svg,pdf``), else PNG; checked."""
    env = os.environ.get("COURSE_FIGURE_FORMATS")
    chosen = list(formats) if formats else ([f.strip() for f in env.split(",") if f.strip()] if env else ["png"])
    bad = [f for f in chosen if f not in FORMATS]
    if bad:
        raise SettingError(f"unknown figure format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    return chosen


#: Every setting the course reads (the table above).
NAMES = ("COURSE_SMOKE", "COURSE_DEVICE", "COURSE_HOME", "COURSE_DATA", "COURSE_RESULTS",
         "COURSE_FIGURES", "COURSE_CACHE", "COURSE_FIGURE_FORMATS", "COURSE_FIGURE_STYLE",
         "COURSE_NOTEBOOK", "COURSE_STANDIN_LOG")


def given(name: str) -> str:
    """The text a setting was given (stripped; empty when unset), for messages that quote it."""
    if name not in NAMES:
        raise KeyError(f"{name} is not a setting of the course (they are: {', '.join(NAMES)})")
    return os.environ.get(name, "").strip()
