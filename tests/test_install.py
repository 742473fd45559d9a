"""course_utils installed the Colab way and the student's way, used from outside the checkout.

A scratch virtual environment gets ``pip install .`` (no ``-e``: the package lands in its
site-packages, far from any checkout) and runs notebook 01 in smoke mode with nbclient from a
working directory outside the checkout. Its data, results and figures must land in the
per-user course home that README.md names, never in site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course_utils.settings import PACKAGE_PARENT
from tests.conftest import find_mnist_raw

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", shutdown_kernel="immediate").execute()
outputs = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
print("".join(outputs))
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A scratch venv with ``pip install .`` of a copy of this checkout; torch, jupyter and the
    other dependencies come from the test run's own environment (as Colab has them already)."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PACKAGE_PARENT / name, source / name)
    shutil.copytree(PACKAGE_PARENT / "course_utils", source / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "zz_course_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         str(source)], cwd=tmp)   # pip itself comes from the test run's environment too
    assert (site / "course_utils" / "__init__.py").exists() and not (site / "course_utils.egg-link").exists()
    return python


def test_pip_install_without_e_runs_notebook_01_outside_the_checkout(installed, tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"                       # the student's working folder, no checkout
    work.mkdir()
    shutil.copy(PACKAGE_PARENT / "notebooks" / "01_mnist_fc_vs_cnn.ipynb", work)
    course_home = home / ".local" / "share" / "pytorch-course"
    raw = find_mnist_raw()
    if raw is not None:                            # the real data where README says it goes
        (course_home / "data" / "MNIST" / "raw").mkdir(parents=True)
        for f in raw.glob("*.gz"):
            shutil.copy(f, course_home / "data" / "MNIST" / "raw" / f.name)
    env = {k: v for k, v in os.environ.items()    # a fresh shell: no settings, no other sys.path
           if not k.startswith(("COURSE_", "XDG_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(HOME=str(home), PWD=str(work), COURSE_SMOKE="1", MPLBACKEND="Agg",
               PATH=f"{installed.parent}:{env['PATH']}")
    where = run([str(installed), "-c", "import course_utils, course_utils.settings as p; "
                                       "print(course_utils.__file__); print(p.checkout())"],
                cwd=work, env=env).stdout.split()
    assert "site-packages" in where[0] and where[1] == "None"
    out = run([str(installed), "-c", RUN_NOTEBOOK, str(work / "01_mnist_fc_vs_cnn.ipynb")],
              cwd=work, env=env).stdout
    assert f"data root: {course_home / 'data'}" in out
    record = json.loads((course_home / "build" / "smoke" / "results" / "01_mnist_fc_vs_cnn.json").read_text())
    assert record["mode"] == "smoke" and record["standin"] is (raw is None)
    figures = sorted(p.name for p in (course_home / "build" / "smoke" / "figures" / "01_mnist_fc_vs_cnn").iterdir())
    assert figures == ["feature_maps.png", "training_digits.png", "training_loss.png"]
    site = Path(where[0]).parent.parent
    assert not any((site / name).exists() for name in ("data", "results", "figures", "build"))
    assert sorted(p.name for p in work.iterdir()) == ["01_mnist_fc_vs_cnn.ipynb"]   # nothing else


def test_editable_install_used_from_elsewhere_keeps_the_checkout(tmp_path):
    """The dev install (pip install -e .): from any working directory, the checkout's folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env.update(PWD=str(tmp_path), COURSE_SMOKE="1")
    out = run([sys.executable, "-c", "import course_utils.settings as p; print(p.checkout()); "
                                     "print(p.data_root()); print(p.results_root())"],
              cwd=tmp_path, env=env).stdout.split()
    assert out == [str(PACKAGE_PARENT), str(PACKAGE_PARENT / "data"),
                   str(PACKAGE_PARENT / "build" / "smoke" / "results")]


# ------------------------------------------------------------------ the seam: the student part alone
#: What the instructor's and the tests' extras bring; a student's install has none of them.
NOT_IN_A_STUDENTS_INSTALL = ("nbclient", "nbconvert", "nbformat", "jinja2", "jupyter_client", "pytest",
                             "nbval", "xdist")
BLOCKER = '''
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    """A student's install: the instructor's and the tests' packages are not there."""
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in a student's install)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
'''


def notebook_code(path: Path) -> list[str]:
    """The code cells of a notebook, without the Colab setup cell and IPython's magics."""
    from course_utils.instructor.colab import SETUP_MARK

    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    return ["\n".join(line for line in s.splitlines() if not line.lstrip().startswith(("%", "!")))
            for s in sources if not s.startswith(SETUP_MARK)]


def notebook_imports() -> list[str]:
    """Every module an import statement of a notebook names (course_utils's and others)."""
    import ast

    names = set()
    for path in sorted((PACKAGE_PARENT / "notebooks").glob("[0-9]*.ipynb")):
        for source in notebook_code(path):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    names.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module)
    return sorted(names)


def test_the_student_install_runs_notebook_01_without_the_instructors_and_tests_extras(installed, tmp_path):
    """The seam: ``pip install .`` without extras (the scratch venv of :func:`installed`, where
    the instructor's and the tests' packages are made unimportable) imports every module the
    notebooks import, and notebook 01's code cells run there in smoke mode without Jupyter."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(NOT_IN_A_STUDENTS_INSTALL)))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COURSE_", "XDG_", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_"))}
    env.update(HOME=str(tmp_path / "home"), PWD=str(work), COURSE_SMOKE="1", MPLBACKEND="Agg",
               PYTHONPATH=str(blocker), OMP_NUM_THREADS="1")
    modules = notebook_imports()
    assert "course_utils.run" in modules and "torch" in modules
    script = work / "student.py"
    script.write_text(
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "try:\n"
        "    import course_utils.instructor\n"
        "except ModuleNotFoundError as err:\n"
        "    print('instructor missing:', err.name)\n"
        "print('imported', len(sys.modules))\n"
        + "".join(f"\n# --- cell {i}\n{source}\n" for i, source in
                  enumerate(notebook_code(PACKAGE_PARENT / "notebooks" / "01_mnist_fc_vs_cnn.ipynb"))))
    done = subprocess.run([str(installed), str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "instructor missing: nbclient" in done.stdout or "instructor missing: jupyter_client" in done.stdout
    record = json.loads((tmp_path / "home" / ".local" / "share" / "pytorch-course" / "build" / "smoke"
                         / "results" / "01_mnist_fc_vs_cnn.json").read_text())
    assert record["mode"] == "smoke" and record["metrics"]
