"""The Colab setup cell and badges, written from a scratch repository's made-up remote; and the
setup cell run by a Jupyter kernel on a fake Colab (a fake ``google.colab``, a local bare
repository as the remote, a scratch folder as /content): a first run, re-runs after a failed
fetch and a failed install, a re-run after success, and the Drive switch."""

import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from course_utils import instructor
from course_utils.instructor.colab import (BADGE_MARK, ColabError, find_setup_cell, github_address,
                                      setup_cell_source)
from course_utils.settings import PACKAGE_PARENT


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
                          cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


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
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the course")
    return root


def test_every_notebook_starts_with_the_setup_cell():
    for path in instructor.find_notebooks(PACKAGE_PARENT / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        i = find_setup_cell(nb)
        assert i is not None and all(c.cell_type == "markdown" for c in nb.cells[:i]), path.name
        source = nb.cells[i].source
        repo = source.split("COURSE_REPO = ", 1)[1].split("  #", 1)[0]
        commit = source.split("COURSE_COMMIT = ", 1)[1].split("\n", 1)[0]
        url, pin = (None if v == "None" else v.strip('"') for v in (repo, commit))
        assert source == setup_cell_source(url, pin), f"{path.name}: setup cell differs"


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
    monkeypatch.setattr("course_utils.instructor.cli.checkout", lambda: scratch)
    log = io.StringIO()
    assert instructor.main(["--colab"], stream=log) == 0, log.getvalue()
    head = git(scratch, "rev-parse", "HEAD")
    assert "warning: the pinned commit (HEAD) is not on any branch of the remote yet" in log.getvalue()
    for path in sorted((scratch / "notebooks").glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        setup = nb.cells[find_setup_cell(nb)].source
        assert 'COURSE_REPO = "https://github.com/ada/torch-course"' in setup
        assert f'COURSE_COMMIT = "{head}"' in setup
        title = nb.cells[0].source
        assert title.count(BADGE_MARK) == 1 and (
            f"https://colab.research.google.com/github/ada/torch-course/blob/main/notebooks/{path.name}" in title)
    readme = (scratch / "README.md").read_text()
    assert readme.count("colab.research.google.com/github/ada/torch-course/blob/main/notebooks/") >= 5
    # running it again changes nothing (badges are replaced, not added)
    before = {p: p.read_bytes() for p in (scratch / "notebooks").glob("*.ipynb")}
    assert instructor.main(["--colab"], stream=io.StringIO()) == 0
    assert all(p.read_bytes() == b for p, b in before.items())


def test_colab_command_without_remote_is_refused_clearly(scratch, monkeypatch):
    monkeypatch.setattr("course_utils.instructor.cli.checkout", lambda: scratch)
    before = {p: p.read_bytes() for p in (scratch / "notebooks").glob("*.ipynb")}
    log = io.StringIO()
    assert instructor.main(["--colab"], stream=log) == 2
    assert "has no git remote 'origin'" in log.getvalue() and "git remote add origin" in log.getvalue()
    assert all(p.read_bytes() == b for p, b in before.items())


def test_colab_command_refuses_to_pin_a_commit_without_the_helpers_changes(scratch, monkeypatch):
    git(scratch, "remote", "add", "origin", "https://github.com/ada/torch-course.git")
    monkeypatch.setattr("course_utils.instructor.cli.checkout", lambda: scratch)
    (scratch / "course_utils" / "__init__.py").write_text("CHANGED = True\n")
    log = io.StringIO()
    assert instructor.main(["--colab"], stream=log) == 2
    assert "these files differ from it: course_utils/__init__.py. Commit them first" in log.getvalue()


# ------------------------------------------------------------------ the cell on a fake Colab
FAKE_DRIVE = """
import os

mounted = []


def mount(mountpoint, force_remount=False):
    # Colab's refusal when something made the folder before the mount
    if os.path.isdir(mountpoint) and os.listdir(mountpoint):
        raise ValueError("Mountpoint must not already contain files")
    os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
    mounted.append(mountpoint)
"""
REPORT = """
import json, os, sys, course_utils
from google.colab import drive
print(json.dumps({"module": course_utils.__file__, "cwd": os.getcwd(), "data": os.environ.get("COURSE_DATA"),
                  "mounted": drive.mounted}))
"""


@pytest.fixture(scope="module")
def fake_colab(tmp_path_factory):
    """A scratch venv (the test run's packages through a .pth file: pip installs into the scratch
    venv only), a kernel spec for it, a fake google.colab, and a bare repository holding a commit
    of this checkout's package files."""
    tmp = tmp_path_factory.mktemp("colab")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "zz_course_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    fake = tmp / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "drive.py").write_text(FAKE_DRIVE)
    constraints = tmp / "constraints.txt"
    kernel = tmp / "jupyter" / "kernels" / "fake-colab"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fake Colab", "language": "python",
        # only the fake google.colab on the path; pip installs offline, from what is installed
        "env": {"PYTHONPATH": str(fake), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
                "PIP_CONSTRAINT": str(constraints), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "COURSE_DATA": "", "MPLBACKEND": "Agg"}}))
    work = tmp / "work"
    work.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(PACKAGE_PARENT / name, work / name)
    shutil.copytree(PACKAGE_PARENT / "course_utils", work / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (work / "notebooks").mkdir()
    (work / "notebooks" / "README").write_text("the notebooks\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the course")
    remote = tmp / "remote.git"
    git(tmp, "clone", "-q", "--bare", str(work), str(remote))
    return {"tmp": tmp, "jupyter": tmp / "jupyter", "remote": remote, "commit": git(work, "rev-parse", "HEAD"),
            "constraints": constraints}


def run_cells(fake_colab, monkeypatch, content: Path, drive: bool = False) -> tuple[dict | None, str | None]:
    """Run the setup cell in a new kernel (as after a runtime restart) with ``content`` as
    /content: (what the kernel reports afterwards, None) or (None, the error it stopped with)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    cell = setup_cell_source(str(fake_colab["remote"]), fake_colab["commit"]).replace('"/content', f'"{content}')
    if drive:
        cell = cell.replace("KEEP_DATA_ON_DRIVE = False", "KEEP_DATA_ON_DRIVE = True")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in ("import google.colab", cell, REPORT)])
    monkeypatch.setenv("JUPYTER_PATH", str(fake_colab["jupyter"]))
    client = NotebookClient(nb, kernel_name="fake-colab", timeout=300, shutdown_kernel="immediate")
    try:
        client.execute()
    except CellExecutionError as err:
        return None, str(err)
    return json.loads(nb.cells[2].outputs[0]["text"]), None


def test_the_setup_cell_on_a_fake_colab_retries_what_failed_and_pins_the_commit(fake_colab, monkeypatch, tmp_path):
    content, remote = tmp_path / "content", fake_colab["remote"]
    marker = content / "course" / ".git" / "course-installed"
    # 1. the remote cannot be reached: git's failure is reported, nothing is marked installed
    hidden = remote.with_name("away.git")
    remote.rename(hidden)
    fake_colab["constraints"].write_text("")
    report, error = run_cells(fake_colab, monkeypatch, content)
    assert report is None and "fetch -q --depth 1" in error and "failed (exit status 128)" in error, error
    assert not marker.exists()
    hidden.rename(remote)
    # 2. the fetch works, the install fails: pip's failure is reported, still no marker
    fake_colab["constraints"].write_text("numpy==0.0.1\n")     # no such numpy: pip must fail
    report, error = run_cells(fake_colab, monkeypatch, content)
    assert report is None and "-m pip install -e" in error and "failed (exit status 1)" in error, error
    assert "run this cell again to retry" in error and not marker.exists()
    # 3. run again: fetched at the pinned commit, installed, importable from there, marked
    fake_colab["constraints"].write_text("")
    report, error = run_cells(fake_colab, monkeypatch, content)
    assert error is None, error
    assert report["module"] == str(content / "course" / "course_utils" / "__init__.py")
    assert report["cwd"] == str(content / "course" / "notebooks") and report["mounted"] == []
    assert marker.read_text() == fake_colab["commit"]
    assert git(content / "course", "rev-parse", "HEAD") == fake_colab["commit"]
    # 4. a re-run (a restarted runtime) fetches and installs nothing: it works without the remote
    remote.rename(hidden)
    try:
        report, error = run_cells(fake_colab, monkeypatch, content)
    finally:
        hidden.rename(remote)
    assert error is None and report["module"] == str(content / "course" / "course_utils" / "__init__.py"), error


def test_the_drive_switch_mounts_before_anything_is_written_there(fake_colab, monkeypatch, tmp_path):
    content = tmp_path / "content"
    fake_colab["constraints"].write_text("")
    report, error = run_cells(fake_colab, monkeypatch, content, drive=True)
    assert error is None, error
    assert report["mounted"] == [str(content / "drive")]
    assert report["data"] == str(content / "drive" / "MyDrive" / "pytorch-course" / "data")
