"""CIFAR-10 held as uint8 tensors: torchvision's md5-verified download first, else an
image-folder export (``<data root>/cifar10/{train,test}/<class>/*.jpg|png``) decoded once and
cached beside it as a tensor file."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.loader import ImageData
from course_utils.data.standin import announce, make_standin
from course_utils.runtime import data_root, is_smoke

#: torchvision's class order (also the folder export's).
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
#: Per-channel statistics of the canonical training split (0..1 units).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: torchvision's archive, its md5, and the folder it extracts to.
ARCHIVE, ARCHIVE_MD5, BATCHES = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"
#: The image-folder export: <data root>/FOLDER/{train,test}/<class>/*.jpg|png
FOLDER = "cifar10"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Split sizes used in smoke mode (``COURSE_SMOKE=1``).
SMOKE_SIZES = {"train": 2000, "test": 500}
CACHE_VERSION = 1


def cache_path(root: Path, split: str) -> Path:
    """Where the decoded image folder of ``split`` is cached: ``<root>/cifar10-<split>.pt``."""
    return root / f"{FOLDER}-{split}.pt"


# ---------------------------------------------------------------- torchvision's binary batches
def _torchvision_cifar(root: Path, train: bool, download: bool) -> CIFAR10 | None:
    """The canonical data through torchvision (md5-verified), or None when it is absent and
    cannot be downloaded."""
    archive = root / ARCHIVE
    if archive.exists() and not check_integrity(str(archive), ARCHIVE_MD5):
        raise CorruptDataError(archive, "md5 does not match the published CIFAR-10 archive")
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            return CIFAR10(str(root), train=train, download=download)
    except (RuntimeError, OSError, EOFError) as exc:
        if (root / BATCHES).exists() and archive.exists():
            raise CorruptDataError(root / BATCHES, f"could not extract or read: {exc}") from exc
        return None


def _from_torchvision(ds: CIFAR10) -> tuple[Tensor, Tensor]:
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(ds.targets, dtype=torch.long)


# ---------------------------------------------------------------- the image-folder export
def list_folder(folder: Path) -> tuple[list[Path], Tensor]:
    """Image files of one split folder (``<class>/*.jpg|png``) in class order, and their labels.

    Raises :class:`DataMissingError` when the folder or a class subfolder is missing or empty."""
    missing = [c for c in CIFAR10_CLASSES if not (folder / c).is_dir()]
    if missing:
        raise DataMissingError("CIFAR-10 (image folder)", folder, missing,
                               hint="(class folders, each holding that class's *.jpg or *.png images)")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(CIFAR10_CLASSES):
        found = sorted(e.name for e in os.scandir(folder / name)
                       if e.name.lower().endswith(IMAGE_SUFFIXES))
        if not found:
            raise DataMissingError("CIFAR-10 (image folder)", folder / name, ["*.jpg or *.png"],
                                   hint="The class folder is empty.")
        files += [folder / name / f for f in found]
        labels += [label] * len(found)
    return files, torch.tensor(labels, dtype=torch.long)


def _decode_one(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for unreadable files
        raise CorruptDataError(path, f"not a readable JPEG/PNG image: {exc}") from None
    if pixels.shape != (32, 32, 3):
        raise CorruptDataError(path, f"CIFAR-10 images are 32x32 RGB, this one is "
                                     f"{pixels.shape[1]}x{pixels.shape[0]}")
    return pixels


def decode_files(files: list[Path], workers: int | None = None) -> Tensor:
    """Decode images (with Pillow, in a thread pool) into one uint8 tensor (N, 3, 32, 32).
    A file that cannot be read is named in a :class:`CorruptDataError`."""
    out = np.empty((len(files), 32, 32, 3), dtype=np.uint8)

    def decode(i: int) -> None:
        out[i] = _decode_one(files[i])

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 2)) as pool:
        for _ in pool.map(decode, range(len(files)), chunksize=256):
            pass
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _load_cache(path: Path, folder_labels: Tensor) -> tuple[Tensor, Tensor] | None:
    """The cached split, or None (with a loud note) when it is unreadable or out of date."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = blob["images"], blob["labels"]
        ok = (blob.get("version") == CACHE_VERSION and blob.get("classes") == CIFAR10_CLASSES
              and images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
              and labels.shape == (images.shape[0],) and int(labels.min()) >= 0 and int(labels.max()) <= 9)
        problem = "unexpected contents"
        if ok and images.shape[0] != len(folder_labels):
            ok, problem = False, f"holds {images.shape[0]} images, the folder has {len(folder_labels)}"
        elif ok and not torch.equal(labels, folder_labels):
            ok, problem = False, "its labels differ from the folder's"
    except Exception as exc:  # any unreadable file: truncated, not a torch file, wrong keys
        ok, problem = False, f"unreadable: {type(exc).__name__}: {exc}"
    if ok:
        return images, labels
    print(f"!!! CIFAR-10 cache {path} is invalid ({problem}); rebuilding it from the image "
          f"folder. !!!", file=sys.stderr, flush=True)
    return None


def _save_cache(path: Path, images: Tensor, labels: Tensor) -> None:
    """Write atomically (temporary file, then rename); a read-only data root only skips it."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        torch.save({"version": CACHE_VERSION, "classes": CIFAR10_CLASSES,
                    "images": images, "labels": labels}, tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        print(f"note: could not write the CIFAR-10 cache {path} ({exc}); the images will be "
              f"decoded again next time.", file=sys.stderr)


def load_folder(root: Path, split: str, *, cache: bool = True, subset: int | None = None,
                seed: int = 0) -> tuple[Tensor, Tensor]:
    """One split of the image-folder export as (images uint8 (N,3,32,32), labels).

    With ``subset`` only that many files (a fixed random choice) are decoded and nothing is
    cached, unless a full cache exists already; otherwise the full split comes from the
    cache ``<root>/cifar10-<split>.pt``, built on first use."""
    files, labels = list_folder(root / FOLDER / split)
    path = cache_path(root, split)
    cached = _load_cache(path, labels) if cache and path.exists() else None
    if cached is not None:
        return cached
    if subset is not None and subset < len(files):
        idx = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:subset]
        idx = idx.sort().values
        return decode_files([files[i] for i in idx.tolist()]), labels[idx]
    images = decode_files(files)
    if cache:
        _save_cache(path, images, labels)
    return images, labels


# ---------------------------------------------------------------- the entry point
def load_cifar10(
    train: bool = True,
    *,
    root: Path | str | None = None,
    device: torch.device | str = "cpu",
    download: bool = True,
    smoke: bool | None = None,
) -> ImageData:
    """One CIFAR-10 split as uint8 tensors (N, 3, 32, 32) on ``device``.

    Order of sources: torchvision's ``CIFAR10`` (downloaded when missing and ``download``;
    md5-verified), else the image-folder export ``<root>/cifar10/{train,test}/<class>/``
    (decoded once, then cached as ``<root>/cifar10-<split>.pt``). In smoke mode the split is a
    fixed random subset, and when nothing is there a loudly announced stand-in; in full mode
    missing data raises :class:`DataMissingError`.
    """
    smoke = is_smoke() if smoke is None else smoke
    root = Path(root) if root is not None else data_root()
    split = "train" if train else "test"
    seed = 0 if train else 1
    ds = _torchvision_cifar(root, train, download)
    standin = False
    if ds is not None:
        images, labels = _from_torchvision(ds)
        name = f"CIFAR-10 {split}"
    else:
        try:
            images, labels = load_folder(root, split, subset=SMOKE_SIZES[split] if smoke else None,
                                         seed=seed)
            name = f"CIFAR-10 {split} (image folder)"
        except DataMissingError as exc:
            if not (root / FOLDER).exists():  # nothing at all: name the archive first
                folder, files = root, [ARCHIVE]
                hint = (f"That is torchvision's archive (md5 {ARCHIVE_MD5}; "
                        f"torchvision.datasets.CIFAR10(root, download=True) fetches it on a machine "
                        f"with internet). Or put an image-folder export in "
                        f"{root / FOLDER}/{{train,test}}/<class>/*.jpg|png with the class folders "
                        f"{', '.join(CIFAR10_CLASSES)}. Or set COURSE_DATA to a data root that has one.")
            else:
                folder, files = exc.folder, exc.files
                hint = (f"(class folders of the image-folder export, each holding its *.jpg or *.png "
                        f"images; or put torchvision's {ARCHIVE} in {root} instead)")
            if not smoke:
                raise DataMissingError("CIFAR-10", folder, files, hint=hint) from None
            announce("CIFAR-10", f"no {root / ARCHIVE} and no complete {root / FOLDER / split}")
            images, labels, standin = None, None, True
    if standin:
        data = make_standin("CIFAR-10", SMOKE_SIZES[split], (3, 32, 32), CIFAR10_CLASSES,
                            CIFAR10_MEAN, CIFAR10_STD, seed=seed)
    else:
        data = ImageData(images, labels, list(CIFAR10_CLASSES), CIFAR10_MEAN, CIFAR10_STD, name=name)
    if smoke:
        data = data.subset(SMOKE_SIZES[split], seed=seed)
    return data.to(device)
