"""Run the course's notebooks headless: ``python -m course_utils.build [--smoke] [NOTEBOOK ...]``.

Executes every notebook in ``notebooks/`` in order (or the ones named: a file stem, a unique
prefix such as ``02``, or a path) in a Jupyter kernel with nbclient, cell by cell, printing
progress. Figures saved with :func:`course_utils.pictures.save_figure` land in
``figures/<notebook>/<name>.png``; the executed notebooks, with their outputs, in
``build/notebooks/``; each notebook's headline numbers in ``results/<notebook>.json``, and all
of them in ``RESULTS.md``. ``--smoke`` runs the shrunken test mode and keeps everything it makes
apart: ``build/smoke/`` (notebooks, figures, RESULTS.md) and ``results/smoke/``.
The source notebooks are never written. Exit status: 0 when every notebook ran, 1 when one
failed (its name, cell number, first line and error are printed), 2 for a usage error, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from course_utils.report import format_seconds, write_results_md
from course_utils.runtime import REPO_ROOT

#: While one cell runs for long, say so this often (seconds), so logs show the build is alive.
HEARTBEAT = 30.0

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class BuildError(Exception):
    """A problem with the command line or the folders, reported without a traceback."""


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
            lines.append(f"The notebook as far as it ran, with the traceback: {_show(executed)}")
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
    stale_figures: list[Path] = field(default_factory=list)
    recorded: bool = False
    failure: CellFailure | None = None


def find_notebooks(directory: Path) -> list[Path]:
    """The notebooks in ``directory``, in course order (by file name)."""
    return sorted(p for p in directory.glob("*.ipynb") if p.is_file())


def select_notebooks(names: Sequence[str], directory: Path) -> list[Path]:
    """The notebooks named by ``names`` (stems, unique prefixes or paths), in course order;
    every notebook in ``directory`` when ``names`` is empty."""
    available = find_notebooks(directory)
    if not names:
        if not available:
            raise BuildError(f"no notebooks (*.ipynb) in {_show(directory)}")
        return available
    chosen: list[Path] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        stem = path.stem if path.suffix == ".ipynb" else name
        matches = [p for p in available if p.stem == stem] or \
                  [p for p in available if p.stem.startswith(stem)]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in available) or "none"
            what = "matches several notebooks" if matches else "matches no notebook"
            raise BuildError(f"{name!r} {what} in {_show(directory)} (there are: {known})")
        chosen.append(matches[0])
    return sorted(dict.fromkeys(chosen), key=lambda p: (p.name, str(p)))


def first_line(source: str, width: int = 100) -> str:
    """A cell's first line of code (skipping blank lines and ``# NBVAL_`` markers), shortened."""
    lines = [l.strip() for l in source.splitlines() if l.strip()]
    code = [l for l in lines if not l.startswith("# NBVAL_")] or lines or [""]
    line = code[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def _show(path: Path | str) -> str:
    """``path`` relative to the working directory when it is inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


class Progress:
    """Progress lines on ``stream``: one per code cell, plus a heartbeat during long cells."""

    def __init__(self, stream: TextIO, heartbeat: float = HEARTBEAT) -> None:
        self.stream, self.heartbeat = stream, heartbeat
        self.label, self.cell, self.start, self.cell_start = "", "", 0.0, None
        self.last = 0.0
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

    def notebook(self, label: str) -> None:
        self.label, self.start, self.cell_start = label, time.perf_counter(), None
        self.say(f"{label} starting a kernel")

    def cell_started(self, k: int, n: int, line: str) -> None:
        now = time.perf_counter()
        self.cell, self.cell_start = f"cell {k:>2}/{n}", now
        self.say(f"{self.label} {self.cell}  {format_seconds(now - self.start):>9}  {line}")

    def done(self) -> None:
        self.cell_start = None

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            now, began = time.perf_counter(), self.cell_start
            if began is not None and now - began >= self.heartbeat and now - self.last >= self.heartbeat:
                self.say(f"{self.label} {self.cell}  {format_seconds(now - self.start):>9}  "
                         f"(still running: {format_seconds(now - began)} in this cell)")


def kernel_env(*, smoke: bool, notebook: str, figures: Path, device: str | None,
               formats: str | None, results: Path | None) -> dict[str, str]:
    """The kernel's environment: this process's, with the build's settings for course_utils."""
    env = dict(os.environ)
    env["COURSE_SMOKE"] = "1" if smoke else "0"
    env["COURSE_NOTEBOOK"] = notebook
    env["COURSE_FIGURES"] = str(figures)
    if device:
        env["COURSE_DEVICE"] = device
    if formats:
        env["COURSE_FIGURE_FORMATS"] = formats
    if results is not None:
        env["COURSE_RESULTS"] = str(results)
    # ipykernel's own default, the inline backend, is headless and puts the figures into the
    # executed notebook; a backend inherited from the shell (pytest's Agg) would not.
    env.pop("MPLBACKEND", None)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiet a debugger warning on startup
    return env


def _error_text(cell) -> tuple[str, str]:
    """("Name: message", traceback) from a failed cell's error output."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
            return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}", tb
    return "", ""


def execute_notebook(nb, path: Path, env: dict[str, str], progress: Progress,
                     timeout: float | None = None) -> None:
    """Run ``nb`` (read from ``path``) in place, in a kernel started in ``path``'s folder.

    Raises :class:`CellFailure` for the first cell that fails.
    """
    kernel = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    client.reset_execution_trackers()
    with client.setup_kernel(env=env):
        for k, (index, cell) in enumerate(code, 1):
            progress.cell_started(k, len(code), first_line(cell.source))
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
                progress.done()
        client.set_widgets_metadata()


def _written_since(folder: Path, since: float) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    new = [p for p in files if p.stat().st_mtime >= since]
    return new, [p for p in files if p not in new]


def run_one(path: Path, label: str, *, out: Path, figures: Path, results: Path,
            env: dict[str, str], progress: Progress, timeout: float | None) -> Outcome:
    """Execute one notebook; write the executed copy to ``out`` whatever happens."""
    nb = nbformat.read(path, as_version=4)
    executed = out / path.name
    wall, start = time.time() - 1.0, time.perf_counter()  # 1 s of slack for file times
    outcome = Outcome(path.stem, "ok", 0.0, executed)
    progress.notebook(label)
    try:
        execute_notebook(nb, path, env, progress, timeout)
    except CellFailure as failure:
        outcome.status, outcome.failure = "FAILED", failure
    except KeyboardInterrupt:
        outcome.status = "interrupted"
    finally:
        outcome.seconds = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed)
        outcome.figures, outcome.stale_figures = _written_since(figures / path.stem, wall)
        record = results / f"{path.stem}.json"
        outcome.recorded = record.exists() and record.stat().st_mtime >= wall
    return outcome


def _machine() -> str:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
    return (f"{platform.system()} {platform.machine()}, {cpu or 'CPU'} ({os.cpu_count()} cores), "
            f"{gpu}, torch {torch.__version__}, Python {platform.python_version()}")


def _check_device(device: str) -> str:
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError as err:
        raise BuildError(f"--device {device}: {err}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise BuildError(f"--device {device}: no CUDA GPU is available here")
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and not (mps is not None and mps.is_available()):
        raise BuildError(f"--device {device}: Apple's MPS is not available here")
    return device


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.build",
        description="Run the course's notebooks headless in a Jupyter kernel and regenerate all "
                    "figures (figures/<notebook>/<name>.png), the executed notebooks "
                    "(build/notebooks/) and RESULTS.md.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="notebooks to run: file stems, unique prefixes (02) or paths; default: all")
    p.add_argument("--smoke", action="store_true",
                   help="smoke mode (COURSE_SMOKE=1): small data, minutes on a CPU; outputs go "
                        "to <out>/smoke/ and results/smoke/, never over the full run's")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: what get_device() picks)")
    p.add_argument("--formats", help="figure formats, e.g. png,svg (default: "
                   "COURSE_FIGURE_FORMATS, else each notebook's choice, PNG)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "build",
                   help="build folder for the executed notebooks (default: build/)")
    p.add_argument("--notebooks-dir", type=Path, default=REPO_ROOT / "notebooks",
                   help="where the source notebooks are (default: notebooks/)")
    p.add_argument("--figures", type=Path, help="figures folder (default: COURSE_FIGURES, else "
                   "figures/, or <out>/smoke/figures/ with --smoke)")
    p.add_argument("--results", type=Path, help="folder for the results/*.json records "
                   "(default: COURSE_RESULTS, else results/, or results/smoke/ with --smoke)")
    p.add_argument("--results-md", type=Path, help="where to write RESULTS.md (default: "
                   "RESULTS.md for a full run into results/, else <out>[/smoke]/RESULTS.md)")
    p.add_argument("--timeout", type=float, help="seconds one cell may run (default: no limit)")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failed notebook, run the others (still exits 1)")
    p.add_argument("--list", action="store_true", help="print the notebooks and folders, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite RESULTS.md from the existing records, run nothing")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    """The command line; returns the exit status."""
    args = parse_args(argv)
    log = stream or sys.stderr
    mode = "smoke" if args.smoke else "full"
    out = (args.out.resolve() / "smoke") if args.smoke else args.out.resolve()
    env_results = os.environ.get("COURSE_RESULTS")
    default_results = (REPO_ROOT / "results" / "smoke") if args.smoke else REPO_ROOT / "results"
    results = (args.results or (Path(env_results) if env_results else default_results)).resolve()
    env_figures = os.environ.get("COURSE_FIGURES")
    figures = (args.figures or (Path(env_figures) if env_figures else
                                out / "figures" if args.smoke else REPO_ROOT / "figures")).resolve()
    if args.results_md:
        results_md = args.results_md.resolve()
    elif not args.smoke and results == (REPO_ROOT / "results").resolve():
        results_md = REPO_ROOT / "RESULTS.md"
    else:
        results_md = out / "RESULTS.md"
    notebooks_dir = args.notebooks_dir.resolve()
    try:
        chosen = select_notebooks(args.notebooks, notebooks_dir)
        if args.device:
            _check_device(args.device)
    except BuildError as err:
        print(f"error: {err}", file=log)
        return 2
    all_notebooks = sorted(dict.fromkeys(find_notebooks(notebooks_dir) + chosen), key=lambda p: p.name)

    if args.report_only:
        write_results_md(results_md, results, notebook_paths=all_notebooks, mode=mode)
        print(f"wrote {_show(results_md)} from {_show(results)}", file=log)
        return 0

    from course_utils.runtime import get_device

    device = str(get_device(args.device))
    print(f"{len(chosen)} notebook(s), {mode} mode, device {device}", file=log)
    print(f"  executed notebooks -> {_show(out / 'notebooks')}\n"
          f"  figures            -> {_show(figures)}/<notebook>/\n"
          f"  results            -> {_show(results)}/<notebook>.json, {_show(results_md)}", file=log)
    if args.list:
        for path in chosen:
            print(f"  {_show(path)}", file=log)
        return 0

    outcomes: list[Outcome] = []
    started = time.perf_counter()
    width = max(len(p.stem) for p in chosen)
    with Progress(log) as progress:
        for i, path in enumerate(chosen, 1):
            env = kernel_env(smoke=args.smoke, notebook=path.stem, figures=figures,
                             device=args.device, formats=args.formats,
                             results=results if args.results else None)
            label = f"[{i}/{len(chosen)}] {path.stem:<{width}}"
            try:
                outcome = run_one(path, label, out=out / "notebooks", figures=figures,
                                  results=results, env=env, progress=progress, timeout=args.timeout)
            except NoSuchKernel as err:
                progress.say(f"error: {path.stem} asks for the Jupyter kernel {err.name!r}, which is "
                             "not installed here (pip install ipykernel)")
                return 1
            outcomes.append(outcome)
            if outcome.status == "ok":
                progress.say(f"{label} done in {format_seconds(outcome.seconds)}: "
                             f"{len(outcome.figures)} figure file(s), "
                             f"{'results recorded' if outcome.recorded else 'NO results recorded'}")
            elif outcome.failure is not None:
                tb = "\n".join("    " + l for l in outcome.failure.traceback.splitlines()[-40:])
                progress.say(f"{tb}\n{outcome.failure.message(outcome.executed)}")
                if not args.keep_going:
                    break
            else:
                progress.say(f"{label} interrupted; its partial run is in {_show(outcome.executed)}")
                break

    ran = [o.name for o in outcomes]
    built_on = (f"Last build: {time.strftime('%Y-%m-%d %H:%M')}, {mode} mode, ran "
                f"{', '.join(ran)}; machine: {_machine()}.")
    write_results_md(results_md, results, notebook_paths=all_notebooks, mode=mode, built_on=built_on)

    total = time.perf_counter() - started
    print(f"\nSummary ({mode} mode, device {device}, {format_seconds(total)} in all):", file=log)
    for o in outcomes:
        stale = f", {len(o.stale_figures)} older not rewritten" if o.stale_figures else ""
        print(f"  {o.name:<{width}}  {o.status:<11} {format_seconds(o.seconds):>10}  "
              f"{len(o.figures)} figure file(s){stale}, "
              f"{'results recorded' if o.recorded else 'no results recorded'}", file=log)
    for path in chosen[len(outcomes):]:
        print(f"  {path.stem:<{width}}  not run", file=log)
    print(f"executed notebooks: {_show(out / 'notebooks')}\nfigures: {_show(figures)}\n"
          f"results: {_show(results)} -> {_show(results_md)}", file=log)
    for o in outcomes:
        if o.failure is not None:
            print(o.failure.message(o.executed), file=log)
    if any(o.status == "interrupted" for o in outcomes):
        return 130
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # between notebooks
        print("interrupted", file=sys.stderr)
        sys.exit(130)
