"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from course_utils.settings import PACKAGE_PARENT, data_root

SHARED_DATA = PACKAGE_PARENT.parent / "shared" / "data"


def find_mnist_raw() -> Path | None:
    """A folder with the four real MNIST archives: the data root's, or ``../shared/data``'s."""
    for folder in (data_root() / "MNIST" / "raw", SHARED_DATA / "MNIST" / "raw"):
        if (folder / "train-images-idx3-ubyte.gz").exists():
            return folder
    return None


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A fresh data root holding copies of the real MNIST archives (skips when none exist)."""
    raw = find_mnist_raw()
    if raw is None:
        pytest.skip("real MNIST archives not available (no data root copy and no ../shared)")
    dest = tmp_path / "MNIST" / "raw"
    dest.mkdir(parents=True)
    for f in raw.glob("*.gz"):
        shutil.copy(f, dest / f.name)
    return tmp_path


@pytest.fixture
def read_only(tmp_path_factory):
    """``make(folder) -> folder'``: a read-only view of ``folder``. As root (where permissions
    do not stop writes) it is a read-only bind mount; otherwise the folder made unwritable.
    Skips when neither is possible."""
    mounts: list[Path] = []
    changed: list[Path] = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o555)
                    changed.append(p)
            return folder
        view = tmp_path_factory.mktemp("read-only-view")
        try:
            subprocess.run(["mount", "--bind", str(folder), str(view)], check=True, capture_output=True)
            mounts.append(view)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"cannot make a read-only folder here ({exc})")
        return view

    yield make
    for view in reversed(mounts):
        subprocess.run(["umount", str(view)], capture_output=True)
    for p in changed:
        p.chmod(0o755)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Keep figures, results, caches and checkpoints written by unit tests out of the
    repository and the user's cache; unit tests' own stand-ins are not notebook stand-ins."""
    out = tmp_path_factory.mktemp("outputs")
    monkeypatch.setenv("COURSE_FIGURES", str(out / "figures"))
    monkeypatch.setenv("COURSE_RESULTS", str(out / "results"))
    monkeypatch.setenv("COURSE_CACHE", str(out / "cache"))
    monkeypatch.delenv("COURSE_STANDIN_LOG", raising=False)


@pytest.fixture
def tiny_disk(tmp_path_factory):
    """``make(kib) -> folder``: a folder on a file system of only ``kib`` KiB (a tmpfs), to meet
    a full disk for real. Needs root (as CI runs); skips otherwise."""
    mounts: list[Path] = []

    def make(kib: int = 64) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tiny file system needs root")
        folder = tmp_path_factory.mktemp("tiny-disk")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"cannot mount a tmpfs here ({exc})")
        mounts.append(folder)
        return folder

    yield make
    for folder in reversed(mounts):
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.fixture
def serve():
    """``serve({"name": bytes or an HTTP status})``: a local HTTP server on 127.0.0.1 that sends
    each file (with its Content-Length) or answers with that status, 404 for other names;
    returns its base address. Stopped after the test."""
    import http.server
    import threading

    servers = []

    def start(files: dict[str, bytes | int]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path.rsplit("/", 1)[-1], 404)
                if isinstance(body, int):
                    self.send_error(body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
