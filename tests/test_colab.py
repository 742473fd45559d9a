"""The Colab setup cell and badges, written from a scratch repository's made-up remote."""

import io
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from course_utils import build
from course_utils.build.colab import (BADGE_MARK, ColabError, find_setup_cell, github_address,
                                      setup_cell_source)
from course_utils.paths import PACKAGE_PARENT


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A copy of the course's notebooks, README and package markers in a fresh git repository."""
    root = tmp_path / "course"
    shutil.copytree(PACKAGE_PARENT / "notebooks", root / "notebooks")
    shutil.copy(PACKAGE_PARENT / "README.md", root / "README.md")
    shutil.copy(PACKAGE_PARENT / "pyproject.toml", root / "pyproject.toml")
    (root / "course_utils").mkdir()
    (root / "course_utils" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    return root


def test_every_notebook_starts_with_the_setup_cell():
    for path in build.find_notebooks(PACKAGE_PARENT / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        i = find_setup_cell(nb)
        assert i is not None and all(c.cell_type == "markdown" for c in nb.cells[:i]), path.name
        repo = nb.cells[i].source.split("COURSE_REPO = ", 1)[1].split("  #", 1)[0]
        url = None if repo == "None" else repo.strip('"')
        assert nb.cells[i].source == setup_cell_source(url), f"{path.name}: setup cell differs"


@pytest.mark.parametrize("remote", ["https://github.com/ada/torch-course.git", "git@github.com:ada/torch-course.git",
                                    "https://github.com/ada/torch-course"])
def test_github_remotes_are_understood(remote):
    assert github_address(remote) == ("ada", "torch-course")


def test_other_hosts_are_refused():
    with pytest.raises(ColabError, match="not a GitHub repository"):
        github_address("https://gitlab.com/ada/torch-course.git")


def test_colab_command_writes_address_and_badges(scratch, monkeypatch):
    git(scratch, "remote", "add", "origin", "git@github.com:ada/torch-course.git")
    monkeypatch.chdir(scratch)
    monkeypatch.setattr("course_utils.build.cli.checkout", lambda: scratch)
    log = io.StringIO()
    assert build.main(["--colab"], stream=log) == 0, log.getvalue()
    for path in sorted((scratch / "notebooks").glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        setup = nb.cells[find_setup_cell(nb)].source
        assert 'COURSE_REPO = "https://github.com/ada/torch-course"' in setup
        title = nb.cells[0].source
        assert title.count(BADGE_MARK) == 1 and (
            f"https://colab.research.google.com/github/ada/torch-course/blob/main/notebooks/{path.name}" in title)
    readme = (scratch / "README.md").read_text()
    assert readme.count("colab.research.google.com/github/ada/torch-course/blob/main/notebooks/") >= 5
    # running it again changes nothing (badges are replaced, not added)
    before = {p: p.read_bytes() for p in (scratch / "notebooks").glob("*.ipynb")}
    assert build.main(["--colab"], stream=io.StringIO()) == 0
    assert all(p.read_bytes() == b for p, b in before.items())


def test_colab_command_without_remote_is_refused_clearly(scratch, monkeypatch):
    monkeypatch.setattr("course_utils.build.cli.checkout", lambda: scratch)
    before = {p: p.read_bytes() for p in (scratch / "notebooks").glob("*.ipynb")}
    log = io.StringIO()
    assert build.main(["--colab"], stream=log) == 2
    assert "has no git remote 'origin'" in log.getvalue() and "git remote add origin" in log.getvalue()
    assert all(p.read_bytes() == b for p, b in before.items())
