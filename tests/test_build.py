"""``python -m course_utils.instructor`` on tiny notebooks made here, and RESULTS.md's format."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import instructor
from course_utils.device import format_seconds
from course_utils.instructor.report import results_markdown, write_results_md

GOOD = [
    "from course_utils.run import start_run\n"
    "run = start_run('01_tiny', 'cpu')",
    "import matplotlib.pyplot as plt\n"
    "from course_utils.plots import write_figure\n"
    "fig, ax = plt.subplots()\n"
    "ax.plot([0, 1], [1, 0])\n"
    "paths = write_figure(fig, run.figures_dir(), 'line')",
    "import os\n"
    "print('hello from the kernel', os.environ['COURSE_DEVICE'])\n"
    "run.record(answer=42, ratio=0.123456, smoke_env=os.environ['COURSE_SMOKE'])",
]
BAD = [
    "x = 1",
    "\n# NBVAL_CHECK_OUTPUT\nraise ValueError('deliberate failure')\nx = 2",
    "print('never runs')",
]


@pytest.fixture(autouse=True)
def _no_mode_from_the_test_run(monkeypatch):
    """The test run sets COURSE_SMOKE=1, which the build honours; these tests choose."""
    monkeypatch.delenv("COURSE_SMOKE", raising=False)


def make_notebook(path: Path, cells: list[str]) -> bytes:
    nb = new_notebook(cells=[new_markdown_cell("# A tiny notebook"), *map(new_code_cell, cells)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path.read_bytes()


def live_kernels() -> list[int]:
    """The process ids of this process's children that are Jupyter kernels (Linux's /proc)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc to list child processes")
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):   # gone meanwhile
            continue
        if parent == os.getpid() and b"ipykernel" in command:
            found.append(int(stat.parent.name))
    return found


def dirs(tmp_path: Path) -> list[str]:
    return ["--notebooks-dir", str(tmp_path / "nb"), "--out", str(tmp_path / "build"),
            "--figures", str(tmp_path / "figures"), "--results", str(tmp_path / "results")]


def test_build_runs_a_notebook_and_collects_its_outputs(tmp_path):
    source = make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    make_notebook(tmp_path / "nb" / "02_other.ipynb", BAD)  # not named, so not run
    log = io.StringIO()
    md = tmp_path / "RESULTS.md"
    rc = instructor.main(["01", *dirs(tmp_path), "--device", "cpu", "--formats", "png,svg",
                     "--results-md", str(md)], stream=log)
    assert rc == 0, log.getvalue()
    assert re.search(r"^\[1/1\] 01_tiny cell +3/3 .* import os$", log.getvalue(), re.M)
    assert live_kernels() == []   # its kernel stopped when it was done, not when the build exits

    assert (tmp_path / "figures" / "01_tiny" / "line.png").stat().st_size > 0
    assert (tmp_path / "figures" / "01_tiny" / "line.svg").stat().st_size > 0
    record = json.loads((tmp_path / "results" / "01_tiny.json").read_text())
    assert record["metrics"]["answer"] == 42
    assert record["mode"] == "full" and record["metrics"]["smoke_env"] == "0"  # full by default

    executed = nbformat.read(tmp_path / "build" / "notebooks" / "01_tiny.ipynb", as_version=4)
    text = json.dumps([c.get("outputs") for c in executed.cells])
    assert "hello from the kernel cpu" in text and "image/png" in text  # outputs kept, inline plot
    assert not (tmp_path / "build" / "notebooks" / "02_other.ipynb").exists()
    assert (tmp_path / "nb" / "01_tiny.ipynb").read_bytes() == source  # sources untouched

    report = md.read_text()
    assert "[01_tiny](nb/01_tiny.ipynb)" in report and "| `answer` | 42 |" in report
    assert "| `ratio` | 0.1235 |" in report and "02_other" in report and "not run yet" in report


def test_build_stops_at_a_failing_cell_and_names_it(tmp_path):
    source = make_notebook(tmp_path / "nb" / "03_broken.ipynb", BAD)
    log = io.StringIO()
    rc = instructor.main(["--smoke", *dirs(tmp_path)], stream=log)
    out = log.getvalue()
    assert rc == 1
    assert "FAILED: 03_broken, code cell 2 of 3" in out
    assert live_kernels() == []
    assert "raise ValueError('deliberate failure')" in out  # the cell's first line of code
    assert "ValueError: deliberate failure" in out
    assert (tmp_path / "nb" / "03_broken.ipynb").read_bytes() == source

    kept = tmp_path / "build" / "smoke" / "partial" / "notebooks" / "03_broken.ipynb"
    assert f"The notebook as far as it ran, with the traceback: {kept}" in out
    partial = nbformat.read(kept, as_version=4)
    code = [c for c in partial.cells if c.cell_type == "code"]
    assert code[1].outputs[0]["output_type"] == "error" and code[2].outputs == []
    assert not (tmp_path / "build" / "smoke" / "RESULTS.md").exists()   # a failed build writes none
    assert not (tmp_path / "RESULTS.md").exists()
    assert "The build did not finish" in out and (tmp_path / "build" / "smoke" / "partial").is_dir()


def test_select_notebooks_by_stem_prefix_or_path(tmp_path):
    for name in ("01_a", "02_b", "02_bc", "10_d", "01_a.nbconvert", "Untitled", "02x_c"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    names = lambda args: [p.stem for p in instructor.select_notebooks(args, tmp_path)]  # noqa: E731
    assert names([]) == ["01_a", "02_b", "02_bc", "10_d"]   # numbered notebooks only
    assert names(["10", "01_a"]) == ["01_a", "10_d"]  # course order, whatever the order given
    assert names(["02_b"]) == ["02_b"]  # an exact stem wins over a longer one with that prefix
    assert names(["01"]) == ["01_a"]    # an nbconvert copy beside it does not make "01" ambiguous
    assert names([str(tmp_path / "02x_c.ipynb")]) == ["02x_c"]   # an explicit path is run
    with pytest.raises(instructor.BuildError, match="several"):
        instructor.select_notebooks(["02_b", "0"], tmp_path)
    with pytest.raises(instructor.BuildError, match="no notebook.*01_a, 02_b"):
        instructor.select_notebooks(["99"], tmp_path)
    assert instructor.main(["99", "--notebooks-dir", str(tmp_path)], stream=io.StringIO()) == 2


def test_first_line_skips_blank_lines_and_markers():
    assert instructor.first_line("\n# NBVAL_CHECK_OUTPUT\nprint(1)\n") == "print(1)"
    assert instructor.first_line("x = '" + "a" * 200 + "'", width=20) == "x = 'aaaaaaaaaaaa..."


def test_results_markdown_format(tmp_path):
    results = {
        "01_x": {"mode": "full", "device": "cuda", "torch": "2.5.0", "seconds": 3725.0,
                 "recorded": "2026-01-02 03:04:05",
                 "metrics": {"params": 1234567, "acc": 0.87654, "name": "a|b", "ok": True}},
        "03_z": {"mode": "smoke", "device": "cpu", "torch": "2.5.0", "seconds": 12.34, "metrics": {}},
    }
    text = results_markdown(results, notebooks=["02_y"], links={"01_x": "notebooks/01_x.ipynb"})
    assert "committed RESULTS.md must come from a full run" in text
    assert "| [01_x](notebooks/01_x.ipynb) | full | cuda | 2.5.0 | 1 h 02 min | 2026-01-02 03:04:05 |" in text
    assert "| 02_y | not run yet | - | - | - | - |" in text
    assert "| `params` | 1,234,567 |" in text and "| `acc` | 0.8765 |" in text
    assert "| `name` | a\\|b |" in text and "| `ok` | true |" in text
    assert "Warning: not recorded in full mode: 03_z" in text
    assert text.index("## 01_x") > text.index("| notebook |") and "## 03_z" not in text
    assert format_seconds(12.34) == "12.3 s" and format_seconds(185) == "3 min 05 s"

    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "01_x.json").write_text(json.dumps(results["01_x"]))
    path = write_results_md(tmp_path / "out" / "RESULTS.md", tmp_path / "res",
                            notebook_paths=[tmp_path / "nb" / "01_x.ipynb"])
    assert "[01_x](../nb/01_x.ipynb)" in path.read_text()


# ---------------------------------------------------------------- mode, safety, outputs
@pytest.mark.parametrize("env, flags, smoke, why", [
    (None, [], False, "the default"),
    ("1", [], True, "COURSE_SMOKE=1"),          # the test command's variable is honoured
    ("0", [], False, "COURSE_SMOKE=0"),
    (None, ["--smoke"], True, "--smoke"),
    ("true", ["--smoke"], True, "--smoke"),
])
def test_mode_from_flag_and_variable(monkeypatch, env, flags, smoke, why):
    if env is None:
        monkeypatch.delenv("COURSE_SMOKE", raising=False)
    else:
        monkeypatch.setenv("COURSE_SMOKE", env)
    assert instructor.resolve_mode("--smoke" in flags, "--full" in flags) == (smoke, why)


@pytest.mark.parametrize("env, flags, message", [
    ("0", ["--smoke"], "--smoke contradicts COURSE_SMOKE=0"),
    ("1", ["--full"], "--full contradicts COURSE_SMOKE=1"),
    ("2", [], "COURSE_SMOKE='2' is neither on nor off"),
    ("y", ["--smoke"], "COURSE_SMOKE='y' is neither on nor off"),
])
def test_contradictions_and_bad_values_are_refused(monkeypatch, tmp_path, env, flags, message):
    monkeypatch.setenv("COURSE_SMOKE", env)
    log = io.StringIO()
    assert instructor.main([*flags, *dirs(tmp_path)], stream=log) == 2
    assert message in log.getvalue() and "Traceback" not in log.getvalue()


def test_first_line_says_mode_device_and_data_root(monkeypatch, tmp_path):
    make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    log = io.StringIO()
    assert instructor.main([*dirs(tmp_path), "--list"], stream=log) == 0
    first = log.getvalue().splitlines()[0]
    assert first.startswith("course build: smoke mode (from COURSE_SMOKE=1), 1 notebook(s), device cpu")
    assert f"data root: {tmp_path / 'data'}" in first


@pytest.mark.parametrize("args, env, message", [
    (["--device", "cuda"], None, "--device='cuda', but this machine has no CUDA GPU"),
    (["--device", "garbage"], None, "--device='garbage' is not a device; choose one of cpu, cuda, mps"),
    ([], "CPUX", "COURSE_DEVICE='CPUX' is not a device"),
])
def test_bad_device_is_one_clear_line(monkeypatch, tmp_path, args, env, message):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if env:
        monkeypatch.setenv("COURSE_DEVICE", env)
    make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    log = io.StringIO()
    assert instructor.main([*args, *dirs(tmp_path)], stream=log) == 2
    assert message in log.getvalue() and "Traceback" not in log.getvalue()


STANDIN = [
    "import tempfile\n"
    "from course_utils.run import start_run\n"
    "from course_utils.data.mnist import load_mnist\n"
    "run = start_run('01_standin', 'cpu')\n"
    "train = load_mnist(root=tempfile.mkdtemp())\n"
    "run.record(acc=0.5)",
]


def test_standin_is_announced_by_the_build_and_kept_out_of_the_report(tmp_path, capfd):
    make_notebook(tmp_path / "nb" / "01_standin.ipynb", STANDIN)
    log = io.StringIO()
    assert instructor.main(["--smoke", *dirs(tmp_path)], stream=log) == 0, log.getvalue()
    out = log.getvalue()
    assert re.search(r"^!!! 01_standin used STAND-IN data: MNIST \(no archives in .*\)", out, re.M)
    assert "STAND-IN data (1 split(s))" in out   # in the summary too
    record = json.loads((tmp_path / "results" / "01_standin.json").read_text())
    assert record["standin"] is True and record["standin_reasons"][0].startswith("MNIST: no archives")
    report = (tmp_path / "build" / "smoke" / "RESULTS.md").read_text()
    assert "| `acc` |" not in report and "STAND-IN" in report
    assert "without encryption" not in capfd.readouterr().err   # the kernel runs over IPC


def test_promotion_holds_back_standin_and_other_data_records(tmp_path):
    from course_utils.instructor.outputs import Staging, promote
    staging = Staging.fresh(tmp_path / "build")
    for name, extra in [("01_real", {}), ("02_fake", {"standin": True, "standin_reasons": ["MNIST: gone"]}),
                        ("05_mine", {"course_data": False, "data": ["photos: /home/me/pets"]})]:
        (staging.results / f"{name}.json").write_text(json.dumps({"mode": "full", **extra}))
        (staging.figures / name).mkdir()
        (staging.figures / name / "a.png").write_bytes(b"png")
    (tmp_path / "figures" / "01_real").mkdir(parents=True)
    (tmp_path / "figures" / "01_real" / "stale.png").write_bytes(b"old")
    notes = promote(staging, figures=tmp_path / "figures", results=tmp_path / "results",
                    committed=True, held_back=tmp_path / "build")
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["01_real.json"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["01_real"]
    assert [p.name for p in (tmp_path / "figures" / "01_real").iterdir()] == ["a.png"]  # replaced whole
    assert (tmp_path / "build" / "results" / "02_fake.json").exists()
    assert (tmp_path / "build" / "figures" / "05_mine" / "a.png").exists()
    assert len(notes) == 2 and "STAND-IN" in notes[0] and "/home/me/pets" in notes[1]
    assert not staging.root.exists()


def test_failed_build_leaves_results_md_and_figures_as_they_were(tmp_path):
    make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    make_notebook(tmp_path / "nb" / "02_broken.ipynb", BAD)
    md = tmp_path / "RESULTS.md"
    md.write_text("# committed\n")
    (tmp_path / "figures" / "01_tiny").mkdir(parents=True)
    (tmp_path / "figures" / "01_tiny" / "line.png").write_bytes(b"the committed figure")
    log = io.StringIO()
    assert instructor.main([*dirs(tmp_path), "--results-md", str(md)], stream=log) == 1
    assert md.read_text() == "# committed\n"
    assert (tmp_path / "figures" / "01_tiny" / "line.png").read_bytes() == b"the committed figure"
    assert not (tmp_path / "results" / "01_tiny.json").exists()
    assert (tmp_path / "build" / "partial" / "figures" / "01_tiny" / "line.png").exists()


def test_report_only_keeps_the_last_build_line(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "01_x.json").write_text(json.dumps({"mode": "full", "metrics": {"a": 1}}))
    md = tmp_path / "RESULTS.md"
    write_results_md(md, tmp_path / "results", built_on="Last build: 2026-01-01 10:00, full mode, ran 01_x.")
    write_results_md(md, tmp_path / "results")           # what --report-only does
    assert "Last build: 2026-01-01 10:00, full mode, ran 01_x." in md.read_text()
    assert instructor.main(["--report-only", *dirs(tmp_path), "--results-md", str(md)],
                      stream=io.StringIO()) == 0
    assert "Last build: 2026-01-01 10:00" in md.read_text()


def test_ctrl_c_stops_the_build_quietly(tmp_path):
    """A real Ctrl-C (SIGINT) during a long cell: one clear line, exit status 130, no ZMQ
    traceback, nothing moved into place."""
    import os
    import signal
    import subprocess
    import sys
    import time
    make_notebook(tmp_path / "nb" / "01_slow.ipynb", [
        "print('started', flush=True)", "import time\ntime.sleep(60)"])
    env = dict(os.environ, COURSE_SMOKE="0")
    # a shell's background job (``cmd &`` without job control) ignores SIGINT, and so would the
    # build it starts: give it a terminal's default, as a user pressing Ctrl-C has
    proc = subprocess.Popen([sys.executable, "-m", "course_utils.instructor", *dirs(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "cell  2/2" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(lines) + rest
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out and "zmq" not in out.lower()
    assert not (tmp_path / "results" / "01_slow.json").exists()


WIDGETS = [
    "from course_utils.run import start_run\nrun = start_run('01_widgets')",
    "from course_utils.widgets import explore_schedules, layer_calculator\n"
    "explore_schedules(epochs=2, steps_per_epoch=3)",
    "layer_calculator()",
    "print('after the widgets')",
]


def test_widget_cells_run_headless_without_blocking(tmp_path):
    """A headless run executes widget cells, which must not wait for a browser (nor for the
    output-widget messages that nbclient mishandles after clear_output(wait=True))."""
    make_notebook(tmp_path / "nb" / "01_widgets.ipynb", WIDGETS)
    log = io.StringIO()
    assert instructor.main([*dirs(tmp_path), "--timeout", "60"], stream=log) == 0, log.getvalue()
    executed = nbformat.read(tmp_path / "build" / "notebooks" / "01_widgets.ipynb", as_version=4)
    kinds = [o.get("data", {}).keys() for c in executed.cells[1:] for o in c.get("outputs", [])]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)
    assert "after the widgets" in json.dumps(executed.cells[-1].outputs)
    assert (tmp_path / "figures" / "01_widgets" / "lr_schedules.png").exists()


def test_jobs_run_notebooks_at_once_and_keep_their_order(tmp_path):
    """--jobs 2: two kernels at once, each line names its notebook, and the summary and records
    come in the notebooks' order. 01_a and 02_b each wait for a file the other writes, which
    only two notebooks running at the same time can both see (no timing threshold: on a busy
    machine a kernel may take seconds longer to start)."""
    partner = {"01_a": "02_b", "02_b": "01_a", "03_c": "03_c"}
    for name in ("01_a", "02_b", "03_c"):
        make_notebook(tmp_path / "nb" / f"{name}.ipynb", [
            f"from course_utils.run import start_run\nrun = start_run('{name}', 'cpu')",
            f"import pathlib, time\nflags = pathlib.Path({str(tmp_path)!r})\n"
            f"(flags / '{name}.running').touch()\n"
            f"for _ in range(600):\n"
            f"    met = (flags / '{partner[name]}.running').exists()\n"
            f"    if met:\n        break\n    time.sleep(0.1)",
            f"run.record(name='{name}', met=met)"])
    log = io.StringIO()
    rc = instructor.main([*dirs(tmp_path), "--device", "cpu", "--jobs", "2",
                     "--results-md", str(tmp_path / "R.md")], stream=log)
    out = log.getvalue()
    assert rc == 0, out
    assert "3 notebook(s), 2 at a time" in out.splitlines()[0]
    met = {n: json.loads((tmp_path / "results" / f"{n}.json").read_text())["metrics"]["met"]
           for n in ("01_a", "02_b")}
    assert met == {"01_a": True, "02_b": True}          # side by side: each saw the other running
    summary = out[out.index("Summary"):]
    assert summary.index("01_a") < summary.index("02_b") < summary.index("03_c")
    assert re.search(r"^\[2/3\] 02_b +cell +2/3 ", out, re.M)


def test_jobs_after_a_failure_start_no_more_notebooks(tmp_path):
    make_notebook(tmp_path / "nb" / "01_bad.ipynb", BAD)
    make_notebook(tmp_path / "nb" / "02_slow.ipynb", ["import time\ntime.sleep(2)"])
    make_notebook(tmp_path / "nb" / "03_never.ipynb", ["print('x')"])
    log = io.StringIO()
    rc = instructor.main(["--smoke", *dirs(tmp_path), "--jobs", "2"], stream=log)
    out = log.getvalue()
    assert rc == 1 and "FAILED: 01_bad" in out
    assert re.search(r"^  03_never +not run$", out, re.M)
    assert "The build did not finish" in out


@pytest.mark.parametrize("jobs, device, cores, expected", [
    (None, "cpu", 16, 1), (None, "cuda", 16, 3), (None, "cuda:0", 2, 1), (None, "mps", 10, 1),
    (4, "cpu", 2, 4), (8, "cuda", 16, 6)])
def test_resolve_jobs(monkeypatch, jobs, device, cores, expected):
    from course_utils.instructor.cli import resolve_jobs
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert resolve_jobs(jobs, device, 6) == expected


def test_bad_jobs_is_refused(tmp_path):
    make_notebook(tmp_path / "nb" / "01_tiny.ipynb", ["x = 1"])
    log = io.StringIO()
    assert instructor.main([*dirs(tmp_path), "--device", "cpu", "--jobs", "0"], stream=log) == 2
    assert "--jobs must be 1 or more, not 0" in log.getvalue()


# ---------------------------------------------------------------- builds at once, failed builds
def build_process(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, COURSE_SMOKE="1")
    return subprocess.Popen([sys.executable, "-m", "course_utils.instructor", *args, *dirs(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def read_until(proc: subprocess.Popen, text: str) -> str:
    """The process's output up to the first line holding ``text`` (all of it if none does)."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            break
    return "".join(seen)


def test_two_builds_at_once_in_one_checkout_keep_each_others_outputs(tmp_path):
    """Build 01 is half-way (one of its three figures made) when build 04 starts and finishes.
    Before, the builds shared <out>/staging: 04 deleted 01's first figure and moved whatever was
    there, and 01 ended with 2 of its 3 figures while both exited 0."""
    go = tmp_path / "04 has run"
    make_notebook(tmp_path / "nb" / "01_slow.ipynb", [
        "from course_utils.run import start_run\nrun = start_run('01_slow', 'cpu')\n"
        "import matplotlib.pyplot as plt\nfrom course_utils.plots import write_figure\n"
        "write_figure(plt.figure(), run.figures_dir(), 'one')",
        f"import pathlib, time\nfor _ in range(1200):\n    if pathlib.Path({str(go)!r}).exists():\n"
        f"        break\n    time.sleep(0.1)",
        "write_figure(plt.figure(), run.figures_dir(), 'two')\n"
        "write_figure(plt.figure(), run.figures_dir(), 'three')\nrun.record(figures=3)"])
    make_notebook(tmp_path / "nb" / "04_quick.ipynb", [
        "from course_utils.run import start_run\nrun = start_run('04_quick', 'cpu')\n"
        "import matplotlib.pyplot as plt\nfrom course_utils.plots import write_figure\n"
        "write_figure(plt.figure(), run.figures_dir(), 'only')\nrun.record(figures=1)",
        f"import pathlib\npathlib.Path({str(go)!r}).touch()"])
    first = build_process(tmp_path, "01")
    head = read_until(first, "cell  2/3")                # 01 has made its first figure
    second = build_process(tmp_path, "04")
    out2, _ = second.communicate(timeout=300)
    out1 = head + first.communicate(timeout=300)[0]
    assert first.returncode == 0 and second.returncode == 0, out1 + out2
    assert sorted(p.name for p in (tmp_path / "figures" / "01_slow").iterdir()) == ["one.png", "three.png", "two.png"]
    assert sorted(p.name for p in (tmp_path / "figures" / "04_quick").iterdir()) == ["only.png"]
    for name, n in (("01_slow", 3), ("04_quick", 1)):
        assert json.loads((tmp_path / "results" / f"{name}.json").read_text())["metrics"]["figures"] == n
        assert (tmp_path / "build" / "smoke" / "notebooks" / f"{name}.ipynb").exists()
    report = (tmp_path / "build" / "smoke" / "RESULTS.md").read_text()
    assert "01_slow" in report and "04_quick" in report
    assert list((tmp_path / "build" / "smoke" / "staging").iterdir()) == []   # nothing left behind


def test_a_build_waits_while_another_moves_its_outputs(tmp_path):
    from course_utils.instructor.outputs import promotion_lock
    make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    with promotion_lock(tmp_path / "build" / "smoke"):    # as another build would, promoting
        proc = build_process(tmp_path, "--device", "cpu")
        waiting = read_until(proc, "waiting for")
        assert f"waiting for the build with process id {os.getpid()} to finish" in waiting, waiting
        assert not (tmp_path / "figures" / "01_tiny").exists()   # it moved nothing meanwhile
    rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, waiting + rest
    assert (tmp_path / "figures" / "01_tiny" / "line.png").exists()


def test_a_failed_build_leaves_the_executed_notebooks_as_they_were(tmp_path):
    """README lists build/notebooks/ among what is written only when every notebook ran; before,
    a failed build overwrote build/notebooks/<nb>.ipynb with the failed run."""
    make_notebook(tmp_path / "nb" / "02_broken.ipynb", BAD)
    executed = tmp_path / "build" / "notebooks" / "02_broken.ipynb"
    before = make_notebook(executed, ["print('the last good run')"])
    log = io.StringIO()
    assert instructor.main([*dirs(tmp_path)], stream=log) == 1
    assert executed.read_bytes() == before
    kept = tmp_path / "build" / "partial" / "notebooks" / "02_broken.ipynb"
    assert "deliberate failure" in kept.read_text()
    assert f"The notebook as far as it ran, with the traceback: {kept}" in log.getvalue()
    assert list((tmp_path / "build" / "staging").iterdir()) == []
