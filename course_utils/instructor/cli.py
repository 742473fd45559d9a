"""The command line of ``python -m course_utils.instructor``."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence, TextIO

from jupyter_client.kernelspec import NoSuchKernel

from course_utils.instructor.execute import Outcome, Progress, find_notebooks, kernel_env, run_one, show
from course_utils.instructor.outputs import Staging, promote, promotion_lock
from course_utils import settings
from course_utils.settings import SettingError, checkout, describe_data_root
from course_utils.instructor.report import write_results_md
from course_utils.device import format_seconds


class BuildError(Exception):
    """A problem with the command line, the settings or the folders, reported without a traceback."""


def select_notebooks(names: Sequence[str], directory: Path) -> list[Path]:
    """The notebooks named by ``names`` (stems, unique prefixes or paths), in course order;
    every numbered notebook in ``directory`` when ``names`` is empty."""
    available = find_notebooks(directory)
    if not names:
        if not available:
            raise BuildError(f"no numbered notebooks (NN_name.ipynb) in {show(directory)}")
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
            raise BuildError(f"{name!r} {what} in {show(directory)} (there are: {known})")
        chosen.append(matches[0])
    return sorted(dict.fromkeys(chosen), key=lambda p: (p.name, str(p)))


def resolve_mode(smoke_flag: bool, full_flag: bool) -> tuple[bool, str]:
    """(smoke?, why) from ``--smoke``/``--full`` and ``COURSE_SMOKE``; a contradiction or an
    unrecognised ``COURSE_SMOKE`` is a :class:`BuildError`."""
    raw = settings.given("COURSE_SMOKE")
    try:
        env_smoke = settings.is_smoke()
    except SettingError as err:
        raise BuildError(str(err)) from None
    if smoke_flag and full_flag:
        raise BuildError("--smoke and --full contradict each other; give one")
    if raw and smoke_flag and not env_smoke:
        raise BuildError(f"--smoke contradicts COURSE_SMOKE={raw}; unset COURSE_SMOKE or drop --smoke")
    if raw and full_flag and env_smoke:
        raise BuildError(f"--full contradicts COURSE_SMOKE={raw}; unset COURSE_SMOKE or drop --full")
    if smoke_flag:
        return True, "--smoke"
    if env_smoke:
        return True, f"COURSE_SMOKE={raw}"
    return False, "--full" if full_flag else (f"COURSE_SMOKE={raw}" if raw else "the default")


def machine() -> str:
    """One line naming this machine, its accelerator and the versions that matter."""
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


def figures_only(notebooks: Sequence[Path], results: Path, figures: Path, *, style: str,
                 formats: str | None, smoke: bool, log: TextIO) -> int:
    """Redraw every figure of ``notebooks`` from their saved runs; 1 when one has none or a
    damaged one (named; its figures are left as they were, the others are redrawn)."""
    from course_utils.figures import runs_path
    from course_utils.instructor.redraw import RunsError, redraw

    started = time.perf_counter()
    written, missing = 0, []
    fmts = formats.split(",") if formats else None
    for path in notebooks:
        runs = runs_path(path.stem, results)
        try:
            files = redraw(runs, figures, style=style, formats=fmts)
        except RunsError as err:
            missing.append(path.stem)
            how = f"python -m course_utils.instructor {path.stem}{' --smoke' if smoke else ''}"
            kept = f" ({show(figures / path.stem)} left as it was)" if (figures / path.stem).exists() else ""
            print(f"  {path.stem}: no figures redrawn{kept}: {err}. Make one with: {how}", file=log)
            continue
        written += len(files)
        print(f"  {path.stem}: {len(files)} figure file(s) -> {show(figures / path.stem)}", file=log)
    print(f"redrew {written} figure file(s) in the {style} style in "
          f"{format_seconds(time.perf_counter() - started)}, from {show(results)}", file=log)
    return 1 if missing else 0


def resolve_jobs(jobs: int | None, device: str, notebooks: int) -> int:
    """How many notebooks run at once: ``jobs`` when given (at least 1), else 3 on a CUDA GPU
    with 8 or more CPU cores (small models leave a big GPU mostly idle, so notebooks can share
    it), else 1 (on a CPU, notebooks at once only compete for its cores)."""
    if jobs is not None and jobs < 1:
        raise BuildError(f"--jobs must be 1 or more, not {jobs}")
    if jobs is None:
        jobs = 3 if device.startswith("cuda") and (os.cpu_count() or 1) >= 8 else 1
    return min(jobs, max(notebooks, 1))


def run_notebooks(one: Callable[[int, Path], Outcome], chosen: Sequence[Path], *, jobs: int,
                  keep_going: bool) -> list[Outcome]:
    """Run ``one(i, path)`` for each notebook, ``jobs`` at a time, in order of starting; after a
    failure none is started any more (unless ``keep_going``), after an interruption none.
    Returns the outcomes of the notebooks that ran, in ``chosen``'s order."""
    stop = threading.Event()

    def guarded(i: int, path: Path) -> Outcome | None:
        if stop.is_set():
            return None
        outcome = one(i, path)
        if outcome.status == "interrupted" or (outcome.status != "ok" and not keep_going):
            stop.set()
        return outcome

    if jobs == 1:
        done = [guarded(i, path) for i, path in enumerate(chosen, 1)]   # None once stopped
        return [o for o in done if o is not None]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(guarded, i, path) for i, path in enumerate(chosen, 1)]
        try:
            done = [f.result() for f in futures]
        except KeyboardInterrupt:  # the kernels got the same Ctrl-C: their cells stop and fail
            stop.set()
            done = [f.result() for f in futures]
            for o in done:
                if o is not None and o.status == "FAILED" and "KeyboardInterrupt" in (o.failure.error or ""):
                    o.status = "interrupted"
    return [o for o in done if o is not None]


def parse_args(argv: Sequence[str] | None, root: Path) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.instructor",
        description="Run the course's notebooks headless in a Jupyter kernel and regenerate all "
                    "figures (figures/<notebook>/<name>.png), the executed notebooks "
                    "(build/notebooks/), the records (results/) and RESULTS.md. Outputs move into "
                    "place only when every notebook ran.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="notebooks to run: file stems, unique prefixes (02) or paths; default: all")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true",
                      help="smoke mode (as COURSE_SMOKE=1, which is honoured too): small data, "
                           "minutes on a CPU; outputs go to <out>/smoke/, never over the full run's")
    mode.add_argument("--full", action="store_true", help="full mode (the default unless COURSE_SMOKE=1)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: COURSE_DEVICE, else what "
                                    "get_device() picks)")
    p.add_argument("--formats", help="figure formats, e.g. png,svg (default: "
                   "COURSE_FIGURE_FORMATS, else each notebook's choice, PNG)")
    p.add_argument("--out", type=Path, default=root / "build",
                   help="build folder for the executed notebooks (default: build/)")
    p.add_argument("--notebooks-dir", type=Path, default=root / "notebooks",
                   help="where the source notebooks are (default: notebooks/)")
    p.add_argument("--figures", type=Path, help="figures folder (default: COURSE_FIGURES, else "
                   "figures/, or <out>/smoke/figures/ in smoke mode)")
    p.add_argument("--results", type=Path, help="folder for the results/*.json records "
                   "(default: COURSE_RESULTS, else results/, or <out>/smoke/results/ in smoke mode)")
    p.add_argument("--results-md", type=Path, help="where to write RESULTS.md (default: "
                   "RESULTS.md for a full run into results/, else <out>[/smoke]/RESULTS.md)")
    p.add_argument("--timeout", type=float, help="seconds one cell may run (default: no limit)")
    p.add_argument("--jobs", type=int, help="notebooks run at once, each in its own kernel (default: "
                   "3 on a CUDA GPU with 8 or more CPU cores, where one notebook leaves the GPU "
                   "mostly idle; else 1). Run times then overlap")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failed notebook, run the others (still exits 1, moves nothing)")
    p.add_argument("--list", action="store_true", help="print the notebooks and folders, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite RESULTS.md from the existing records, run nothing")
    p.add_argument("--figures-only", action="store_true",
                   help="redraw every figure from the saved runs (<results>/<notebook>.runs.json) in "
                        "seconds: no data, no training")
    p.add_argument("--style", choices=("paper", "slides"), default="paper",
                   help="figure style: paper (default) or slides (16:9, large fonts, thick lines); "
                        "slides figures go to figures-slides/ unless --figures says otherwise")
    p.add_argument("--site", action="store_true",
                   help="write the static site <out>/site/ (index, gallery, executed notebooks as "
                        "HTML) from the last build's outputs; run nothing")
    p.add_argument("--colab", action="store_true",
                   help="write the repository's address (from `git remote get-url origin`) and the "
                        "commit (HEAD) into every notebook's setup cell, and 'Open in Colab' badges into "
                        "the notebooks and README.md; run nothing")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 a notebook failed, 2 usage or
    settings, 130 interrupted)."""
    log = stream or sys.stderr
    root = checkout()
    if root is None:
        print("error: python -m course_utils.instructor runs inside a checkout of the course (a folder "
              "with notebooks/, course_utils/ and pyproject.toml); cd into one first.", file=log)
        return 2
    args = parse_args(argv, root)
    if args.colab:
        from course_utils.instructor.colab import ColabError, unpushed, write_colab

        try:
            changed = write_colab(root)
        except ColabError as err:
            print(f"error: {err}", file=log)
            return 2
        print(f"wrote the Colab setup cells and badges: {', '.join(show(p) for p in changed) or 'nothing changed'}",
              file=log)
        warning = unpushed(root)
        if warning:
            print(f"warning: {warning}", file=log)
        return 0
    try:
        smoke, why = resolve_mode(args.smoke, args.full)
        from course_utils.device import check_device, get_device

        device = str(check_device(args.device, "--device") if args.device else get_device())
        data_line = describe_data_root()
    except (BuildError, SettingError) as err:
        print(f"error: {err}", file=log)
        return 2
    mode = "smoke" if smoke else "full"
    out = (args.out.resolve() / "smoke") if smoke else args.out.resolve()
    committed = (root / "results").resolve()
    env_results, env_figures = settings.given("COURSE_RESULTS"), settings.given("COURSE_FIGURES")
    results = (args.results or (Path(env_results) if env_results else
                                out / "results" if smoke else committed)).resolve()
    default_figures = out / "figures" if smoke else root / "figures"
    if args.style != "paper":
        default_figures = default_figures.with_name(f"{default_figures.name}-{args.style}")
    figures = (args.figures or (Path(env_figures) if env_figures else default_figures)).resolve()
    if args.results_md:
        results_md = args.results_md.resolve()
    elif not smoke and results == committed:
        results_md = root / "RESULTS.md"
    else:
        results_md = out / "RESULTS.md"
    notebooks_dir = args.notebooks_dir.resolve()
    if args.report_only:
        write_results_md(results_md, results, notebook_paths=find_notebooks(notebooks_dir), mode=mode)
        print(f"wrote {show(results_md)} from {show(results)} (the last build's line kept)", file=log)
        return 0
    try:
        chosen = select_notebooks(args.notebooks, notebooks_dir)
    except BuildError as err:
        print(f"error: {err}", file=log)
        return 2
    if args.site:
        from course_utils.instructor.site import broken_links, build_site

        index = build_site(chosen, executed=out / "notebooks", results=results, figures=figures,
                           out=out / "site", mode=mode)
        broken = broken_links(index) + broken_links(index.with_name("gallery.html"))
        print(f"wrote the site: {show(index)} and {show(index.with_name('gallery.html'))}"
              + (f"; BROKEN links: {', '.join(broken)}" if broken else ""), file=log)
        return 1 if broken else 0
    if args.figures_only:
        return figures_only(chosen, results, figures, style=args.style, formats=args.formats,
                            smoke=smoke, log=log)
    all_notebooks = sorted(dict.fromkeys(find_notebooks(notebooks_dir) + chosen), key=lambda p: p.name)

    try:
        jobs = resolve_jobs(args.jobs, device, len(chosen))
    except BuildError as err:
        print(f"error: {err}", file=log)
        return 2
    at_once = f", {jobs} at a time" if jobs > 1 else ""
    print(f"course build: {mode} mode (from {why}), {len(chosen)} notebook(s){at_once}, device {device}, "
          f"{data_line}", file=log)
    print(f"  executed notebooks -> {show(out / 'notebooks')}\n"
          f"  figures            -> {show(figures)}/<notebook>/\n"
          f"  results            -> {show(results)}/<notebook>.json, {show(results_md)}\n"
          f"  (written to a folder of this build's own in {show(out / 'staging')} first; moved "
          f"into place when every notebook ran)",
          file=log)
    if args.list:
        for path in chosen:
            print(f"  {show(path)}", file=log)
        return 0

    staging = Staging.fresh(out)
    partial = out / "partial"   # where a build that does not finish keeps what it made
    started = time.perf_counter()
    width = max(len(p.stem) for p in chosen)
    with Progress(log) as progress:
        def one(i: int, path: Path) -> Outcome:
            env = kernel_env(smoke=smoke, notebook=path.stem, figures=staging.figures,
                             results=staging.results, device=args.device, formats=args.formats,
                             standin_log=staging.standin_log(path.stem))
            env["COURSE_FIGURE_STYLE"] = args.style
            label = f"[{i}/{len(chosen)}] {path.stem:<{width}}"
            outcome = run_one(path, label, out=staging.notebooks, env=env, progress=progress,
                              timeout=args.timeout)
            as_kept = partial / "notebooks" / path.name   # a failed or interrupted run's copy
            outcome.figures = staging.figure_files(path.stem)
            outcome.recorded = staging.record(path.stem) is not None
            outcome.standins = staging.standins(path.stem)
            for s in outcome.standins:
                progress.say(f"!!! {path.stem} used STAND-IN data: {s['dataset']} ({s['reason']}); "
                             f"its numbers say nothing about the real data set !!!")
            if outcome.status == "ok":
                progress.say(f"{label} done in {format_seconds(outcome.seconds)}: "
                             f"{len(outcome.figures)} figure file(s), "
                             f"{'results recorded' if outcome.recorded else 'NO results recorded'}")
            elif outcome.failure is not None:
                tb = "\n".join("    " + l for l in outcome.failure.traceback.splitlines()[-40:])
                progress.say(f"{tb}\n{outcome.failure.message(as_kept)}")
            else:
                progress.say(f"{label} interrupted; its partial run will be in {show(as_kept)}")
            return outcome

        try:
            outcomes = run_notebooks(one, chosen, jobs=jobs, keep_going=args.keep_going)
        except NoSuchKernel as err:
            progress.say(f"error: a notebook asks for the Jupyter kernel {err.name!r}, which is "
                         "not installed here (pip install ipykernel)")
            shutil.rmtree(staging.root, ignore_errors=True)
            return 1

    finished = len(outcomes) == len(chosen) and all(o.status == "ok" for o in outcomes)
    total = time.perf_counter() - started
    print(f"\nSummary ({mode} mode, device {device}, {format_seconds(total)} in all):", file=log)
    for o in outcomes:
        standin = f", STAND-IN data ({len(o.standins)} split(s))" if o.standins else ""
        print(f"  {o.name:<{width}}  {o.status:<11} {format_seconds(o.seconds):>10}  "
              f"{len(o.figures)} figure file(s), "
              f"{'results recorded' if o.recorded else 'no results recorded'}{standin}", file=log)
    ran = {o.name for o in outcomes}
    for path in chosen:
        if path.stem not in ran:
            print(f"  {path.stem:<{width}}  not run", file=log)
    if finished:
        with promotion_lock(out, log):
            notes = promote(staging, figures=figures, results=results, committed=results == committed,
                            held_back=out, notebooks=out / "notebooks")
            built_on = (f"Last build: {time.strftime('%Y-%m-%d %H:%M')}, {mode} mode, ran "
                        f"{', '.join(o.name for o in outcomes)}; machine: {machine()}.")
            write_results_md(results_md, results, notebook_paths=all_notebooks, mode=mode,
                             built_on=built_on)
        for note in notes:
            print(f"note: {note}", file=log)
        print(f"executed notebooks: {show(out / 'notebooks')}", file=log)
        print(f"figures: {show(figures)}\nresults: {show(results)} -> {show(results_md)}", file=log)
    else:
        with promotion_lock(out, log):
            staging.keep_as_partial(out)
        for o in outcomes:
            o.executed = partial / "notebooks" / o.executed.name
        print(f"The build did not finish: {show(figures)}, {show(results)}, {show(results_md)} and "
              f"{show(out / 'notebooks')} were left as they were; what the notebooks that ran made "
              f"(executed notebooks included) is in {show(partial)}.", file=log)
    for o in outcomes:
        if o.failure is not None:
            print(o.failure.message(o.executed), file=log)
    if any(o.status == "interrupted" for o in outcomes):
        return 130
    return 0 if finished else 1
