"""Running one notebook in a Jupyter kernel, cell by cell, with progress lines.

The kernel is local and talks over the IPC transport (no TCP port, no "running over TCP
without encryption" warning). Ctrl-C stops the kernel quietly and is reported as an
interrupted notebook, not as a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from course_utils.device import format_seconds

#: While one cell runs for long, say so this often (seconds), so logs show the build is alive.
HEARTBEAT = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: The course's notebooks: a number, an underscore, a name (``01_mnist_fc_vs_cnn.ipynb``).
#: Copies such as ``01_x.nbconvert.ipynb`` or ``Untitled.ipynb`` are not course notebooks.
NOTEBOOK_NAME = re.compile(r"^\d+_[A-Za-z0-9_-]+\.ipynb$")


def find_notebooks(directory: Path) -> list[Path]:
    """The course's numbered notebooks in ``directory``, in course order (by file name)."""
    return sorted(p for p in directory.glob("*.ipynb") if p.is_file() and NOTEBOOK_NAME.match(p.name))



@dataclass
class CellFailure(Exception):
    """A code cell that raised (or timed out, or killed its kernel)."""

    notebook: str
    cell: int            # 1-based among the notebook's code cells, = its execution count [n]
    cells: int           # code cells in the notebook
    index: int           # 0-based position among all cells (markdown included)
    first_line: str
    error: str           # "ValueError: message"
    traceback: str = ""

    def message(self, executed: Path | None = None) -> str:
        lines = [f"FAILED: {self.notebook}, code cell {self.cell} of {self.cells} "
                 f"(In [{self.cell}], cell {self.index + 1} counting markdown), which starts:",
                 f"    {self.first_line}",
                 self.error]
        if executed is not None:
            lines.append(f"The notebook as far as it ran, with the traceback: {show(executed)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message()


@dataclass
class Outcome:
    """How one notebook's run went."""

    name: str
    status: str                    # "ok", "FAILED" or "interrupted"
    seconds: float
    executed: Path
    figures: list[Path] = field(default_factory=list)
    recorded: bool = False
    standins: list[dict] = field(default_factory=list)
    failure: CellFailure | None = None


def show(path: Path | str) -> str:
    """``path`` relative to the working directory when it is inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def first_line(source: str, width: int = 100) -> str:
    """A cell's first line of code (skipping blank lines and ``# NBVAL_`` markers), shortened."""
    lines = [l.strip() for l in source.splitlines() if l.strip()]
    code = [l for l in lines if not l.startswith("# NBVAL_")] or lines or [""]
    line = code[0]
    return line if len(line) <= width else line[: width - 3] + "..."


class Track:
    """One notebook's progress: its label, when it started, which cell runs since when."""

    def __init__(self, progress: "Progress", label: str) -> None:
        self.progress, self.label = progress, label
        self.start, self.cell, self.cell_start = time.perf_counter(), "", None

    def cell_started(self, k: int, n: int, line: str) -> None:
        now = time.perf_counter()
        self.cell, self.cell_start = f"cell {k:>2}/{n}", now
        self.progress.say(f"{self.label} {self.cell}  {format_seconds(now - self.start):>9}  {line}")

    def done(self) -> None:
        self.cell_start = None


class Progress:
    """Progress lines on ``stream``: one per code cell, plus a heartbeat during long cells.

    Each notebook gets a :class:`Track` (:meth:`notebook`); several may run at once
    (``--jobs``), and every line names its notebook."""

    def __init__(self, stream: TextIO, heartbeat: float = HEARTBEAT) -> None:
        self.stream, self.heartbeat = stream, heartbeat
        self.last = 0.0
        self.tracks: list[Track] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> "Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)
            self.last = time.perf_counter()

    def notebook(self, label: str) -> Track:
        track = Track(self, label)
        with self._lock:
            self.tracks.append(track)
        self.say(f"{label} starting a kernel")
        return track

    def finished(self, track: Track) -> None:
        with self._lock:
            if track in self.tracks:
                self.tracks.remove(track)

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            now = time.perf_counter()
            with self._lock:
                tracks = list(self.tracks)
            quiet = now - self.last >= self.heartbeat
            for t in tracks:
                began = t.cell_start
                if began is not None and now - began >= self.heartbeat and quiet:
                    self.say(f"{t.label} {t.cell}  {format_seconds(now - t.start):>9}  "
                             f"(still running: {format_seconds(now - began)} in this cell)")


def _error_text(cell) -> tuple[str, str]:
    """("Name: message", traceback) from a failed cell's error output."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
            return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}", tb
    return "", ""


class _Quiet(logging.Filter):
    """Drop the asyncio/ZMQ noise of a kernel torn down by Ctrl-C."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def execute_notebook(nb, path: Path, env: dict[str, str], track: Track,
                     timeout: float | None = None) -> None:
    """Run ``nb`` (read from ``path``) in place, in a local kernel (IPC transport) started in
    ``path``'s folder, saying each cell on ``track`` (from :meth:`Progress.notebook`). Raises
    :class:`CellFailure` for the first cell that fails, and ``KeyboardInterrupt`` (after
    stopping the kernel quietly) on Ctrl-C."""
    kernel = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    sockets = Path(tempfile.mkdtemp(prefix="course-kernel-"))
    km = AsyncKernelManager(kernel_name=kernel, transport="ipc", ip=str(sockets / "kernel"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=kernel, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(path.parent)}})
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    client.reset_execution_trackers()
    try:
        # cleanup_kc: stop the kernel when the notebook is done (nbclient keeps a kernel it was
        # handed alive, and every finished notebook's kernel would live, holding its memory and
        # GPU, until the build exits); "immediate": its cells are done, nothing to wait for.
        with client.setup_kernel(env=env, cleanup_kc=True):
            for k, (index, cell) in enumerate(code, 1):
                track.cell_started(k, len(code), first_line(cell.source))
                try:
                    client.execute_cell(cell, index, execution_count=k)
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
                    error, tb = _error_text(cell)
                    if isinstance(err, CellExecutionError):
                        error = error or f"{err.ename}: {err.evalue}"
                    else:
                        error = f"{type(err).__name__}: {_ANSI.sub('', str(err)).strip()}"
                    raise CellFailure(path.stem, k, len(code), index, first_line(cell.source),
                                      error, tb) from err
                finally:
                    track.done()
            client.set_widgets_metadata()
    except KeyboardInterrupt:
        _stop_quietly(km)
        raise
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


def _stop_quietly(km: AsyncKernelManager) -> None:
    """Kill an interrupted kernel without the tracebacks of its half-closed channels."""
    for name in ("asyncio", "traitlets", "tornado.general"):
        logging.getLogger(name).addFilter(_Quiet())
    try:
        if km.has_kernel:
            asyncio.run(km.shutdown_kernel(now=True))
    except BaseException:  # the kernel may already be gone; nothing more to do
        pass


def kernel_env(*, smoke: bool, notebook: str, figures: Path, results: Path,
               device: str | None, formats: str | None, standin_log: Path) -> dict[str, str]:
    """The kernel's environment: this process's, with the build's settings for course_utils."""
    env = dict(os.environ)
    env["COURSE_SMOKE"] = "1" if smoke else "0"
    env["COURSE_NOTEBOOK"] = notebook
    env["COURSE_FIGURES"] = str(figures)
    env["COURSE_RESULTS"] = str(results)
    env["COURSE_STANDIN_LOG"] = str(standin_log)
    if device:
        env["COURSE_DEVICE"] = device
    if formats:
        env["COURSE_FIGURE_FORMATS"] = formats
    # ipykernel's own default, the inline backend, is headless and puts the figures into the
    # executed notebook; a backend inherited from the shell (pytest's Agg) would not.
    env.pop("MPLBACKEND", None)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiet a debugger warning on startup
    return env


def run_one(path: Path, label: str, *, out: Path, env: dict[str, str], progress: Progress,
            timeout: float | None) -> Outcome:
    """Execute one notebook; write the executed copy to ``out`` whatever happens."""
    nb = nbformat.read(path, as_version=4)
    executed = out / path.name
    start = time.perf_counter()
    outcome = Outcome(path.stem, "ok", 0.0, executed)
    track = progress.notebook(label)
    try:
        execute_notebook(nb, path, env, track, timeout)
    except CellFailure as failure:
        outcome.status, outcome.failure = "FAILED", failure
    except KeyboardInterrupt:
        outcome.status = "interrupted"
    finally:
        progress.finished(track)
        outcome.seconds = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed)
    return outcome
