"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from course_utils.runtime import REPO_ROOT, data_root

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Keep figures and results written by unit tests out of the repository."""
    out = tmp_path_factory.mktemp("outputs")
    monkeypatch.setenv("COURSE_FIGURES", str(out / "figures"))
    monkeypatch.setenv("COURSE_RESULTS", str(out / "results"))
