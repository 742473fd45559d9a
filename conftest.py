"""Test-wide settings and reports.

* Smoke mode (small data, few epochs) and a headless matplotlib, inherited by the Jupyter
  kernels that ``pytest --nbval-lax notebooks`` starts. ``COURSE_SMOKE=0 pytest ...`` tests
  the notebooks in full mode.
* Only the course's numbered notebooks are collected (not ``*.nbconvert.ipynb`` copies,
  checkpoints or scratch notebooks).
* Every stand-in a notebook announces is logged (``COURSE_STANDIN_LOG``) and counted in the
  terminal summary, so a run on generated data says so where people look.
* Files the test run leaves outside ``build/`` in the checkout are reported, and fail the run.
* The notebooks (the longest units) are handed out first, so the parallel run ends together.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("COURSE_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")   # set in pytest-xdist's worker processes
if _WORKER:
    # Workers (-n 2) share the cores: one thread each, for them and the kernels they start
    # (two processes each spinning two threads on two cores run several times slower).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parent
NOTEBOOK_NAME = re.compile(r"^\d+_[A-Za-z0-9_-]+\.ipynb$")
if _WORKER and os.environ.get("COURSE_STANDIN_LOG"):
    _STANDIN_LOG = Path(os.environ["COURSE_STANDIN_LOG"])   # the controller's: it reports
else:
    _STANDIN_LOG = Path(tempfile.mkdtemp(prefix="course-standin-")) / "standin.jsonl"
    os.environ["COURSE_STANDIN_LOG"] = str(_STANDIN_LOG)
_before: set[str] = set()

def _untracked_and_changed() -> set[str]:
    """Files git reports as new, changed or ignored in the checkout, outside build/ and the
    virtual environment (empty when git is not there)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    skip = ("build/", ".venv/", "__pycache__", ".egg-info", ".ipynb_checkpoints", ".pytest_cache")
    return {line[3:] for line in out.splitlines() if not any(s in line for s in skip)}


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the cores (at most 4). The workers often wait on a
    notebook kernel or a subprocess, and a third one on two cores fills those gaps."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores + 1, 4)


def pytest_sessionstart(session):
    _before.update(_untracked_and_changed())


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and not NOTEBOOK_NAME.match(collection_path.name):
        return True
    return None


def pytest_collection_modifyitems(session, config, items):
    """The notebooks first (the longest units of work, each run in one worker): started last,
    one would keep the run going after the other workers had finished. Otherwise the order of
    collection; a unit's own items keep their order."""
    items.sort(key=lambda item: not item.nodeid.startswith("notebooks/"))


def pytest_sessionfinish(session, exitstatus):
    if _WORKER:  # the controller checks once every worker has finished
        return
    left = sorted(_untracked_and_changed() - _before)
    session.config._course_left_behind = left
    if left and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _WORKER:  # the controller reports for all of them
        return
    from course_utils.data.provenance import read_standin_log

    entries = [e for e in read_standin_log(_STANDIN_LOG) if e.get("notebook", "scratch") != "scratch"]
    notebooks = sorted({e["notebook"] for e in entries})
    if notebooks:
        terminalreporter.section("STAND-IN DATA", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(notebooks)} notebook(s) ran on generated STAND-IN data, not the real data sets: "
            "their numbers say nothing about the lessons.", red=True, bold=True)
        for name in notebooks:
            what = sorted({f"{e['dataset']} ({e['reason']})" for e in entries if e["notebook"] == name})
            terminalreporter.write_line(f"  {name}: {'; '.join(what)}", red=True)
        terminalreporter.write_line("Put the data sets in the data root (see data/README.md) to test "
                                    "the notebooks on the real data.")
    left = getattr(config, "_course_left_behind", [])
    if left:
        terminalreporter.section("files left behind", sep="!", red=True, bold=True)
        terminalreporter.write_line("The test run wrote these files outside build/ and did not "
                                    "clean them up (so the run fails):", red=True)
        for path in left:
            terminalreporter.write_line(f"  {path}", red=True)
