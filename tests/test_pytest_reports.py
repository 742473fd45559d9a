"""What the README's test command shows: stand-ins counted in the summary, only numbered
notebooks collected, files left outside build/ reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.settings import PACKAGE_PARENT

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def notebook(path: Path, *cells: str) -> None:
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=KERNEL), path)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COURSE_", "PYTEST_XDIST_", "PYTEST_CURRENT_TEST"))}  # a fresh run
    env["COURSE_SMOKE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_summary_counts_notebooks_on_standin_data_and_skips_copies(tmp_path):
    shutil.copy(PACKAGE_PARENT / "conftest.py", tmp_path / "conftest.py")
    notebook(tmp_path / "01_standin.ipynb",
             "import tempfile\nfrom course_utils.run import start_run\n"
             "from course_utils.data.mnist import load_mnist\nstart_run('01_standin')\n"
             "train = load_mnist(root=tempfile.mkdtemp())")
    notebook(tmp_path / "02_real.ipynb", "print('no data needed')")
    notebook(tmp_path / "01_standin.nbconvert.ipynb", "raise RuntimeError('a copy must not be collected')")
    notebook(tmp_path / "Untitled.ipynb", "raise RuntimeError('nor a scratch notebook')")
    done = run_pytest(tmp_path, "--nbval-lax", ".")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "2 passed" in out
    assert "1 notebook(s) ran on generated STAND-IN data" in out
    assert "01_standin: MNIST (no archives in" in out and "02_real" not in out.split("STAND-IN DATA")[-1]


def test_nbconvert_copies_are_ignored_by_git():
    done = subprocess.run(["git", "check-ignore", "-q", "notebooks/01_mnist_fc_vs_cnn.nbconvert.ipynb"],
                          cwd=PACKAGE_PARENT, capture_output=True)
    assert done.returncode == 0


def test_files_left_outside_build_fail_the_run(tmp_path):
    shutil.copy(PACKAGE_PARENT / "conftest.py", tmp_path / "conftest.py")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "test_litter.py").write_text(
        "from pathlib import Path\n"
        "def test_writes_a_file():\n"
        "    Path(__file__).with_name('litter.pt').write_bytes(b'x')\n"
        "def test_writes_into_build():\n"
        "    (Path(__file__).parent / 'build').mkdir(exist_ok=True)\n"
        "    (Path(__file__).parent / 'build' / 'fine.pt').write_bytes(b'x')\n")
    done = run_pytest(tmp_path, "test_litter.py")
    assert done.returncode == 1 and "2 passed" in done.stdout
    assert "files left behind" in done.stdout and "litter.pt" in done.stdout
    assert "fine.pt" not in done.stdout


def test_long_units_are_handed_out_first_in_their_own_order(pytestconfig):
    conftest = next(p for p in pytestconfig.pluginmanager.get_plugins()   # the checkout's root conftest.py
                    if getattr(p, "__file__", None) == str(PACKAGE_PARENT / "conftest.py"))

    class Item:
        def __init__(self, nodeid: str):
            self.nodeid = nodeid

    items = [Item(n) for n in ("tests/test_stats.py::t", "notebooks/04_x.ipynb::Cell 0",
                               "notebooks/03_y.ipynb::Cell 0", "notebooks/03_y.ipynb::Cell 1",
                               "tests/test_build.py::t")]
    conftest.pytest_collection_modifyitems(None, None, items)
    assert [i.nodeid for i in items] == ["notebooks/04_x.ipynb::Cell 0", "notebooks/03_y.ipynb::Cell 0",
                                         "notebooks/03_y.ipynb::Cell 1", "tests/test_stats.py::t",
                                         "tests/test_build.py::t"]
