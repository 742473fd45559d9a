"""MNIST through ``torchvision.datasets.MNIST`` (md5-verified), held as uint8 tensors."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
from torchvision.datasets import MNIST
from torchvision.datasets.utils import check_integrity

from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.loader import ImageData
from course_utils.data.standin import announce, make_standin
from course_utils.runtime import data_root, is_smoke

#: The four canonical archives and their md5s (the same that torchvision checks).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
MNIST_CLASSES = [str(d) for d in range(10)]
#: Split sizes used in smoke mode (``COURSE_SMOKE=1``).
SMOKE_SIZES = {"train": 4096, "test": 1024}


def check_archives(raw: Path) -> None:
    """Raise :class:`CorruptDataError` for any MNIST archive in ``raw`` whose md5 is wrong."""
    for name, md5 in MNIST_FILES.items():
        path = raw / name
        if path.exists() and not check_integrity(str(path), md5):
            raise CorruptDataError(path, "md5 does not match the published MNIST archive")


def _torchvision_mnist(root: Path, train: bool, download: bool) -> MNIST:
    raw = root / "MNIST" / "raw"
    check_archives(raw)
    log = io.StringIO()
    try:
        # torchvision prints each mirror it tries; keep that out of a student's notebook
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            return MNIST(str(root), train=train, download=download)
    except (RuntimeError, OSError, EOFError) as exc:
        missing = [f for f in MNIST_FILES if not (raw / f).exists()]
        if not missing:  # archives are there but something else broke: show it
            raise CorruptDataError(raw, f"could not extract or read: {exc}") from exc
        raise DataMissingError(
            "MNIST", raw, missing,
            hint="Get them from a machine with internet (torchvision.datasets.MNIST(download=True)) "
                 "or set COURSE_DATA to a data root that has MNIST/raw/.",
        ) from None


def load_mnist(
    train: bool = True,
    *,
    root: Path | str | None = None,
    device: torch.device | str = "cpu",
    download: bool = True,
    smoke: bool | None = None,
) -> ImageData:
    """One MNIST split as uint8 tensors (N, 1, 28, 28) on ``device``.

    Downloads when missing (torchvision verifies the md5s). In smoke mode the split is a
    fixed random subset, and a missing data set is replaced by a loudly announced stand-in;
    in full mode a missing data set raises :class:`DataMissingError`.
    """
    smoke = is_smoke() if smoke is None else smoke
    root = Path(root) if root is not None else data_root()
    split = "train" if train else "test"
    try:
        ds = _torchvision_mnist(root, train, download)
        data = ImageData(ds.data.unsqueeze(1).clone(), ds.targets.clone(), MNIST_CLASSES,
                         MNIST_MEAN, MNIST_STD, name=f"MNIST {split}")
    except DataMissingError as exc:
        if not smoke:
            raise
        announce("MNIST", f"no archives in {exc.folder}")
        data = make_standin("MNIST", SMOKE_SIZES[split], (1, 28, 28), MNIST_CLASSES,
                            MNIST_MEAN, MNIST_STD, seed=0 if train else 1)
    if smoke:
        data = data.subset(SMOKE_SIZES[split], seed=0 if train else 1)
    return data.to(device)
