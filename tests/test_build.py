"""``python -m course_utils.build`` on tiny notebooks made here, and RESULTS.md's format."""

from __future__ import annotations

import io
import re
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import build
from course_utils.report import format_seconds, results_markdown, write_results_md

GOOD = [
    "from course_utils.results import record, start_notebook\n"
    "start_notebook('01_tiny', 'cpu')",
    "import matplotlib.pyplot as plt\n"
    "from course_utils.pictures import save_figure\n"
    "fig, ax = plt.subplots()\n"
    "ax.plot([0, 1], [1, 0])\n"
    "paths = save_figure(fig, 'line')",
    "import os\n"
    "print('hello from the kernel', os.environ['COURSE_DEVICE'])\n"
    "record(answer=42, ratio=0.123456, smoke_env=os.environ['COURSE_SMOKE'])",
]
BAD = [
    "x = 1",
    "\n# NBVAL_CHECK_OUTPUT\nraise ValueError('deliberate failure')\nx = 2",
    "print('never runs')",
]


def make_notebook(path: Path, cells: list[str]) -> bytes:
    nb = new_notebook(cells=[new_markdown_cell("# A tiny notebook"), *map(new_code_cell, cells)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path.read_bytes()


def dirs(tmp_path: Path) -> list[str]:
    return ["--notebooks-dir", str(tmp_path / "nb"), "--out", str(tmp_path / "build"),
            "--figures", str(tmp_path / "figures"), "--results", str(tmp_path / "results")]


def test_build_runs_a_notebook_and_collects_its_outputs(tmp_path):
    source = make_notebook(tmp_path / "nb" / "01_tiny.ipynb", GOOD)
    make_notebook(tmp_path / "nb" / "02_other.ipynb", BAD)  # not named, so not run
    log = io.StringIO()
    md = tmp_path / "RESULTS.md"
    rc = build.main(["01", *dirs(tmp_path), "--device", "cpu", "--formats", "png,svg",
                     "--results-md", str(md)], stream=log)
    assert rc == 0, log.getvalue()
    assert re.search(r"^\[1/1\] 01_tiny cell +3/3 .* import os$", log.getvalue(), re.M)

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
    rc = build.main(["--smoke", *dirs(tmp_path)], stream=log)
    out = log.getvalue()
    assert rc == 1
    assert "FAILED: 03_broken, code cell 2 of 3" in out
    assert "raise ValueError('deliberate failure')" in out  # the cell's first line of code
    assert "ValueError: deliberate failure" in out
    assert (tmp_path / "nb" / "03_broken.ipynb").read_bytes() == source

    partial = nbformat.read(tmp_path / "build" / "smoke" / "notebooks" / "03_broken.ipynb", as_version=4)
    code = [c for c in partial.cells if c.cell_type == "code"]
    assert code[1].outputs[0]["output_type"] == "error" and code[2].outputs == []
    assert (tmp_path / "build" / "smoke" / "RESULTS.md").exists()
    assert not (tmp_path / "RESULTS.md").exists()


def test_select_notebooks_by_stem_prefix_or_path(tmp_path):
    for name in ("01_a", "02_b", "02x_c", "10_d"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    names = lambda args: [p.stem for p in build.select_notebooks(args, tmp_path)]  # noqa: E731
    assert names([]) == ["01_a", "02_b", "02x_c", "10_d"]
    assert names(["10", "01_a"]) == ["01_a", "10_d"]  # course order, whatever the order given
    assert names(["02_b"]) == ["02_b"]  # an exact stem wins over a longer one with that prefix
    assert names([str(tmp_path / "02x_c.ipynb")]) == ["02x_c"]
    with pytest.raises(build.BuildError, match="several"):
        build.select_notebooks(["0"], tmp_path)
    with pytest.raises(build.BuildError, match="no notebook.*01_a, 02_b"):
        build.select_notebooks(["99"], tmp_path)
    assert build.main(["99", "--notebooks-dir", str(tmp_path)], stream=io.StringIO()) == 2


def test_first_line_skips_blank_lines_and_markers():
    assert build.first_line("\n# NBVAL_CHECK_OUTPUT\nprint(1)\n") == "print(1)"
    assert build.first_line("x = '" + "a" * 200 + "'", width=20) == "x = 'aaaaaaaaaaaa..."


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
