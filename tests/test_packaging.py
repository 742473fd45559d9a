"""What installs what: the student's dependencies (what the notebooks import) apart from the
instructor's tools and the tests, a range of ipywidgets that admits Colab's, the licence, and
the files that install the environments (requirements.txt, environment.yml, .ci/run)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from course_utils.settings import PACKAGE_PARENT

PYPROJECT = tomllib.loads((PACKAGE_PARENT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: Not needed to run a notebook: the build's kernel runs and site, the tests, JupyterLab.
NOT_FOR_STUDENTS = {"nbclient", "nbconvert", "nbformat", "jinja2", "ipykernel", "jupyter-client",
                    "jupyterlab", "notebook", "pytest", "pytest-xdist", "nbval", "selenium"}


def names(requirements: list[str]) -> dict[str, Requirement]:
    return {re.sub(r"[-_.]+", "-", r.name).lower(): r for r in map(Requirement, requirements)}


def test_the_student_install_holds_only_what_the_notebooks_import():
    student = names(PROJECT["dependencies"])
    assert not NOT_FOR_STUDENTS & set(student), sorted(NOT_FOR_STUDENTS & set(student))
    assert {"torch", "torchvision", "ipywidgets", "matplotlib", "tqdm", "pillow"} <= set(student)


def test_ipywidgets_range_accepts_colabs_7_7_and_8():
    spec = names(PROJECT["dependencies"])["ipywidgets"].specifier
    assert spec.contains("7.7.1") and spec.contains("8.1.9"), spec
    assert not spec.contains("7.6.5") and not spec.contains("9.0.0"), spec


def test_the_tools_are_extras():
    extras = PROJECT["optional-dependencies"]
    assert {"nbclient", "nbconvert", "nbformat", "jinja2", "ipykernel"} <= set(names(extras["instructor"]))
    test = names(extras["test"])
    assert {"pytest", "pytest-xdist", "nbval"} <= set(test) and "instructor" in test["course-utils"].extras
    assert "jupyterlab" in names(extras["lab"]) and "selenium" in names(extras["browser"])


def test_requirements_environment_and_ci_use_the_extras():
    lines = [l.strip() for l in (PACKAGE_PARENT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert lines == ["-e .[lab,test,browser]"], lines   # everything else comes from pyproject.toml
    assert "-r requirements.txt" in (PACKAGE_PARENT / "environment.yml").read_text()
    ci = (PACKAGE_PARENT / ".ci" / "run").read_text()
    assert "-r requirements.txt" in ci and "pytest -m colab tests/test_colab_env.py" in ci


def test_the_helpers_import_without_the_instructors_tools():
    """Every module a notebook imports, in a process where the build's and the tests' packages
    cannot be imported (as in a student's install)."""
    blocked = ["nbclient", "nbconvert", "nbformat", "jinja2", "jupyter_client", "pytest", "nbval"]
    code = f"""
import importlib, pkgutil, sys
for name in {blocked!r}:
    sys.modules[name] = None
import course_utils
skip = ("course_utils.instructor",)
for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
    if not info.name.startswith(skip):
        importlib.import_module(info.name)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE_PARENT,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_licence_pyproject_names_is_there():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    text = (PACKAGE_PARENT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
