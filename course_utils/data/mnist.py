"""MNIST, Fashion-MNIST and KMNIST as uint8 tensors, read straight from torchvision's md5-checked
archives (``<data root>/<name>/raw/*.gz``, or the files it extracted), downloaded when absent."""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets

from course_utils.data.download import CorruptDataError, DataMissingError, DownloadError, download, file_hash
from course_utils.data.loader import ImageData
from course_utils.data.standin import smoke_split
from course_utils.files import remove
from course_utils.run import DataUse, note_data
from course_utils.settings import data_root, is_writable


@dataclass(frozen=True)
class GrayscaleSet:
    """One of torchvision's MNIST-format data sets: its archives, statistics and class names."""

    name: str                      #: torchvision's class name, also the folder under the data root
    tv_class: type                 #: the torchvision dataset class (its archives and mirrors)
    mean: tuple[float, ...]        #: per-channel mean of the training split (0..1 units)
    std: tuple[float, ...]
    classes: tuple[str, ...]       #: short class names, for the image grids

    @property
    def files(self) -> dict[str, str]:
        """Archive name -> md5, as torchvision checks them."""
        return dict(self.tv_class.resources)


#: The data sets the MNIST notebooks can use (``DATASET``), with their training splits' statistics.
DATASETS: dict[str, GrayscaleSet] = {
    "MNIST": GrayscaleSet("MNIST", datasets.MNIST, (0.1307,), (0.3081,), tuple(str(d) for d in range(10))),
    "FashionMNIST": GrayscaleSet("FashionMNIST", datasets.FashionMNIST, (0.2860,), (0.3530,),
                                 ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal",
                                  "shirt", "sneaker", "bag", "boot")),
    "KMNIST": GrayscaleSet("KMNIST", datasets.KMNIST, (0.1918,), (0.3483,), tuple(datasets.KMNIST.classes)),
}
COURSE_DATASET = "MNIST"   #: the data set the course's committed numbers are about
MNIST_FILES = DATASETS["MNIST"].files
MNIST_MEAN, MNIST_STD = DATASETS["MNIST"].mean, DATASETS["MNIST"].std
SMOKE_SIZES = {"train": 4096, "test": 1024}


def read_idx(path: Path) -> torch.Tensor:
    """The uint8 array in an IDX file (gzipped when ``.gz``); :class:`CorruptDataError` if bad."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptDataError(path, f"cannot be decompressed: {exc}") from None
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 4:
        raise CorruptDataError(path, "not an IDX file of bytes (wrong header)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(data[3])]
    offset = 4 + 4 * len(dims)
    if len(data) != offset + math.prod(dims):
        raise CorruptDataError(path, f"the header promises {math.prod(dims):,} values, the file "
                                     f"holds {max(len(data) - offset, 0):,}")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).view(*dims)


def _download(spec: GrayscaleSet, raw: Path, timeout: float = 30.0) -> None:
    """Every archive into ``raw`` from the first mirror that gives it; else nothing is kept and a
    :class:`DataMissingError` names each mirror's failure."""
    files = list(spec.files)
    hint = (f"Get them on a machine with internet (torchvision.datasets.{spec.name}(root, "
            f"download=True)), or set COURSE_DATA to a data root that has {spec.name}/raw/.")
    if not is_writable(raw):
        raise DataMissingError(spec.name, raw, files, hint=hint, absent=True,
                               why="is not in the data root, which is read-only, so it cannot be "
                                   "downloaded into it")
    before = set(raw.iterdir()) if raw.is_dir() else set()
    try:
        for name, md5 in spec.files.items():
            failures = []
            for mirror in spec.tv_class.mirrors:
                try:
                    download(f"{mirror}{name}", raw / name, md5=md5, timeout=timeout, dataset=spec.name)
                    break
                except (DataMissingError, DownloadError) as exc:   # this mirror failed: try the next
                    failures.append(f"  {mirror}{name}: {getattr(exc, 'cause', exc)}")
            else:
                raise DataMissingError(spec.name, raw, files, absent=True,
                                       why="is not in the data root and could not be downloaded",
                                       hint="\n".join(["Every mirror failed:", *failures, hint])) from None
    except BaseException:
        # a kept archive would make the next run see the set "only partly there", not download it
        for path in (set(raw.iterdir()) if raw.is_dir() else set()) - before:
            remove(path)
        raise


def read_archives(spec: GrayscaleSet, root: Path, train: bool, download: bool) -> tuple[torch.Tensor, ...]:
    """(images uint8 (N, 1, 28, 28), labels) of one split; all archives absent: downloaded (when
    ``download``) or named, some absent: those named, a bad one: named."""
    raw = root / spec.name / "raw"
    found = {name: next((p for p in (raw / name, raw / name.removesuffix(".gz")) if p.is_file()), None)
             for name in spec.files}   # the archive, or the file torchvision extracted from it
    for name, path in found.items():   # a bad archive is named as bad, even beside missing ones
        if path is not None and path.suffix == ".gz" and file_hash(path, "md5") != spec.files[name]:
            raise CorruptDataError(path, f"md5 does not match the published {spec.name} archive",
                                   advice=f"Replace this one file with a good copy (md5 "
                                          f"{spec.files[name]}), or delete {raw} and run again "
                                          f"with internet to download all {len(found)} afresh.")
    missing = [name for name, path in found.items() if path is None]
    if len(missing) == len(found) and download:
        _download(spec, raw)
        found, missing = {name: raw / name for name in spec.files}, []
    if missing:
        partial = len(missing) < len(found)
        raise DataMissingError(
            spec.name, raw, missing, absent=not partial,
            why=("is only partly there" if partial else "is not in the data root"),
            hint=(f"The other {len(found) - len(missing)} file(s) are there; add the missing ones "
                  f"(each as published, md5-checked)." if partial else
                  f"Set COURSE_DATA to a data root that has {spec.name}/raw/, or allow the download."))
    prefix = "train" if train else "t10k"
    image_file = found[f"{prefix}-images-idx3-ubyte.gz"]
    images, labels = read_idx(image_file), read_idx(found[f"{prefix}-labels-idx1-ubyte.gz"])
    if images.dim() != 3 or images.shape[1:] != (28, 28) or labels.dim() != 1 or len(labels) != len(images):
        raise CorruptDataError(image_file, f"holds {tuple(images.shape)} images and "
                                           f"{tuple(labels.shape)} labels, not N x 28 x 28 and N")
    return images.unsqueeze(1), labels.long()


def load_mnist(train: bool = True, *, dataset: str = COURSE_DATASET, root: Path | str | None = None,
               device: torch.device | str = "cpu", download: bool = True,
               smoke: bool | None = None) -> ImageData:
    """One split of MNIST (or ``"FashionMNIST"``, ``"KMNIST"``) as uint8 (N, 1, 28, 28) on ``device``."""
    key = dataset.replace("-", "").replace("_", "").lower()
    spec = next((s for s in DATASETS.values() if s.name.lower() == key), None)
    if spec is None:
        raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root) if root is not None else data_root()
    split = "train" if train else "test"

    def read() -> ImageData:
        images, labels = read_archives(spec, root, train, download)
        note_data(DataUse(f"{spec.name} {split}", str(root / spec.name / "raw"),
                          course_data=spec.name == COURSE_DATASET))
        return ImageData(images, labels, list(spec.classes), spec.mean, spec.std, name=f"{spec.name} {split}")

    data = smoke_split(read, dataset=spec.name, split=split, smoke=smoke, sizes=SMOKE_SIZES,
                       standin=((1, 28, 28), list(spec.classes), spec.mean, spec.std),
                       reason=lambda exc: f"no archives in {exc.folder}")
    return data.to(device)
