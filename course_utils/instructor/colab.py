"""One click to Colab: every notebook's setup cell and "Open in Colab" badges, written from the
instructor's own git remote and commit (``python -m course_utils.instructor --colab``).

The setup cell is the first code cell of every notebook. Outside Colab it does nothing; on
Colab it fetches the course at the commit written here (the one ``--colab`` ran from, so a
student's saved copy keeps matching its helper package), installs ``course_utils`` into
Colab's own packages (which it changes none of: tests/test_colab_env.py) and makes it
importable at once, so a student clicks the badge and then "Run all". Without an address it
stops with a message saying how to set one, never with a made-up one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat

from course_utils.files import write_atomic
from course_utils.instructor.execute import find_notebooks

#: Marks the setup cell (its first line) and the badge lines, so they can be found and rewritten.
SETUP_MARK = "# Setup (Colab only):"
BADGE_MARK = "<!-- colab-badge -->"
README_START, README_END = "<!-- colab-badges:start -->", "<!-- colab-badges:end -->"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
                     r"(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$")


class ColabError(Exception):
    """The repository's address cannot be had (no remote, not on GitHub)."""


def setup_cell_source(repo_url: str | None, commit: str | None = None) -> str:
    """The setup cell for a course hosted at ``repo_url``, pinned to ``commit`` (None: not
    published yet).

    On Colab it mounts Google Drive first when asked to keep the data there (a folder made at
    /content/drive before the mount would make the mount refuse), fetches exactly ``commit``
    (a saved copy of a notebook keeps working when the course moves on), installs it, and
    writes a marker only after every step succeeded: each step's exit status is checked, and a
    failed install is retried when the cell runs again."""
    address = f'"{repo_url}"' if repo_url else "None"
    pinned = f'"{commit}"' if commit else "None"
    return f'''{SETUP_MARK} fetch the course at the commit these notebooks belong to and install its
# helper package, course_utils. Elsewhere it does nothing.
COURSE_REPO = {address}  # both written by `python -m course_utils.instructor --colab`
COURSE_COMMIT = {pinned}
KEEP_DATA_ON_DRIVE = False  # True: the data sets go to your Google Drive and outlive a runtime reset
import os, subprocess, sys
if "google.colab" in sys.modules:
    if KEEP_DATA_ON_DRIVE:  # mount first: the course then writes its data into Drive
        from google.colab import drive
        drive.mount("/content/drive")
        os.environ["COURSE_DATA"] = "/content/drive/MyDrive/pytorch-course/data"
    if COURSE_REPO is None:
        raise RuntimeError("This copy of the course has no repository address yet: the instructor "
                           "runs `python -m course_utils.instructor --colab` once after pushing it to GitHub.")
    def _run(*command):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{{' '.join(command)}} failed (exit status {{done.returncode}}); run this cell "
                               f"again to retry.\\n{{done.stdout[-2000:]}}{{done.stderr[-2000:]}}")
        return done.stdout
    _marker = "/content/course/.git/course-installed"  # written only after a successful install
    if not os.path.exists(_marker) or open(_marker).read() != COURSE_COMMIT:
        print(f"Fetching {{COURSE_REPO}} at {{COURSE_COMMIT[:10]}} and installing course_utils ...")
        _run("git", "init", "-q", "/content/course")
        _run("git", "-C", "/content/course", "fetch", "-q", "--depth", "1", COURSE_REPO, COURSE_COMMIT)
        _run("git", "-C", "/content/course", "checkout", "-q", "FETCH_HEAD")
        _said = _run(sys.executable, "-m", "pip", "install", "-e", "/content/course")
        if "Successfully uninstalled" in _said.replace("Successfully uninstalled course_utils", ""):
            print("pip replaced packages Colab had loaded: Runtime > Restart session, then run all cells again.")
        with open(_marker, "w") as f:
            f.write(COURSE_COMMIT)
    sys.path.insert(0, "/content/course")
    os.chdir("/content/course/notebooks")
try:
    import course_utils
except ModuleNotFoundError:
    raise ModuleNotFoundError("course_utils is not installed: " + (
        "Runtime > Restart session, then run this cell again" if "google.colab" in sys.modules else
        "run `pip install -e .` in the course repository (README.md, 'Quick start')")) from None'''


def github_address(remote: str) -> tuple[str, str]:
    """(owner, repo) of a GitHub remote URL (https or ssh); a :class:`ColabError` otherwise
    (Colab opens notebooks from GitHub)."""
    match = _GITHUB.match(remote.strip())
    if not match:
        raise ColabError(f"the git remote {remote.strip()!r} is not a GitHub repository; Colab opens "
                         f"notebooks from GitHub (push the course there and add it as 'origin').")
    return match["owner"], match["repo"]


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise ColabError(f"git is not available here ({exc})") from None
    if done.returncode != 0:
        raise ColabError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout.strip()


def remote_address(root: Path, remote: str = "origin") -> tuple[str, str, str]:
    """(owner, repo, branch) from ``git remote get-url <remote>`` and the current branch."""
    try:
        url = _git(root, "remote", "get-url", remote)
    except ColabError as err:
        raise ColabError(
            f"this checkout has no git remote {remote!r} ({err}), so there is no address to write. "
            f"Push the course to GitHub first, e.g.: git remote add {remote} "
            f"https://github.com/<you>/<course>.git && git push -u {remote} main") from None
    owner, repo = github_address(url)
    try:
        branch = _git(root, "symbolic-ref", "--short", "HEAD")
    except ColabError:  # a detached HEAD: the usual default branch
        branch = "main"
    return owner, repo, branch or "main"


#: What the setup cell installs: the commit it pins must hold these as they are here.
INSTALLED = ("course_utils", "pyproject.toml", "LICENSE")


def pinned_commit(root: Path) -> str:
    """The commit the setup cells pin (``HEAD``). Refused while what the cell installs has
    uncommitted changes: the commit would not hold them."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty = _git(root, "status", "--porcelain", "--", *INSTALLED)
    if dirty:
        raise ColabError(f"the setup cells pin the commit {commit[:10]} (HEAD), but these files differ from it: "
                         f"{', '.join(line.split(maxsplit=1)[-1] for line in dirty.splitlines())}. Commit them first, then run "
                         f"--colab again.")
    return commit


def unpushed(root: Path) -> str | None:
    """A warning when the pinned commit is on no remote-tracking branch (students could not fetch it)."""
    try:
        if _git(root, "branch", "-r", "--contains", "HEAD"):
            return None
    except ColabError:
        pass
    return ("the pinned commit (HEAD) is not on any branch of the remote yet: push it (git push) "
            "before students open the notebooks.")


def badge(owner: str, repo: str, branch: str, notebook_path: str) -> str:
    """Markdown for an "Open in Colab" badge of one notebook (path within the repository)."""
    url = f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{notebook_path}"
    return f"[![Open In Colab]({BADGE_IMAGE})]({url})"


def find_setup_cell(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(SETUP_MARK):
            return i
    return None


def write_colab(root: Path, remote: str = "origin") -> list[Path]:
    """Write the address into every notebook's setup cell, a badge into its title cell and a
    badge list into README.md; return the files changed."""
    owner, repo, branch = remote_address(root, remote)
    url = f"https://github.com/{owner}/{repo}"
    commit = pinned_commit(root)
    changed = []
    notebooks = find_notebooks(root / "notebooks")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        i = find_setup_cell(nb)
        cell = nbformat.v4.new_code_cell(setup_cell_source(url, commit))
        if i is None:
            nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
        else:
            nb.cells[i].source = cell.source
        title = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        line = f"{badge(owner, repo, branch, f'notebooks/{path.name}')} {BADGE_MARK}"
        if title is not None:
            lines = [l for l in title.source.splitlines() if BADGE_MARK not in l]
            title.source = "\n".join([lines[0], "", line, *lines[1:]] if lines else [line]).replace("\n\n\n", "\n\n")
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    readme = root / "README.md"
    if readme.exists():
        text = readme.read_text()
        block = "\n".join([README_START, *[f"| {p.stem} | {badge(owner, repo, branch, f'notebooks/{p.name}')} |"
                                            for p in notebooks], README_END])
        block = block.replace(README_START + "\n", README_START + "\n| notebook | open it on Colab |\n|---|---|\n")
        if README_START in text and README_END in text:
            new = text[:text.index(README_START)] + block + text[text.index(README_END) + len(README_END):]
        else:
            new = text.rstrip("\n") + "\n\n" + block + "\n"
        if new != text:
            write_atomic(readme, new)
            changed.append(readme)
    return changed
