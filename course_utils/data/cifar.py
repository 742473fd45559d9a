"""CIFAR-10 as uint8 tensors: torchvision's md5-verified archive (read without extracting), else an
image-folder export decoded once into a cache that is rebuilt, loudly, when its files change."""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.datasets import CIFAR10
from tqdm.auto import tqdm

from course_utils.data.download import CorruptDataError, DataMissingError, file_hash, try_download
from course_utils.data.folders import FIX_IT, NotAnImageError, fingerprint, list_split, open_rgb
from course_utils.data.loader import ImageData
from course_utils.data.standin import smoke_split
from course_utils.files import ReadOnlyError, remove_stale_temporaries, write_atomic
from course_utils.run import DataUse, note_data
from course_utils.settings import data_root, is_smoke, is_writable, writable_dir

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
#: The training split's statistics (the often copied std (0.2023, 0.1994, 0.2010) is not).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
ARCHIVE, ARCHIVE_MD5 = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"
BATCHES = "cifar-10-batches-py"   #: the folder torchvision extracts the archive to
URL = CIFAR10.url
FOLDER = "cifar10"   #: the image-folder export: <data root>/FOLDER/{train,test}/<class>/*.jpg|png
SMOKE_SIZES = {"train": 2000, "test": 250}
CACHE_VERSION = 2
_no_cache: set[str] = set()   # data roots whose cache could not be written anywhere (said once)


def cache_path(root: Path, split: str) -> Path | None:
    """``<root>/cifar10-<split>.pt``, in the per-user cache when ``root`` is read-only; None (said
    once) when that is read-only too."""
    try:
        folder = root if is_writable(root) else writable_dir(root, "CIFAR-10's decoded-image caches")
    except ReadOnlyError as exc:
        if str(root) not in _no_cache:
            _no_cache.add(str(root))
            print(f"note: {exc} Without a cache the CIFAR-10 images are decoded each time.",
                  file=sys.stderr, flush=True)
        return None
    return folder / f"{FOLDER}-{split}.pt"


def _from_torchvision(root: Path, train: bool) -> tuple[Tensor, Tensor]:
    """The canonical data: torchvision's extracted batches when complete, else the ``.tar.gz``."""
    archive = root / ARCHIVE
    if (root / BATCHES).is_dir():
        try:
            ds = CIFAR10(str(root), train=train, download=False)  # checks each batch's md5
            return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)
        except RuntimeError:
            if not archive.exists():
                raise CorruptDataError(root / BATCHES, "its batch files fail torchvision's md5 check",
                                       advice=f"Put {ARCHIVE} (md5 {ARCHIVE_MD5}) in {root}; it is "
                                              f"read instead.") from None
    if file_hash(archive, "md5") != ARCHIVE_MD5:
        raise CorruptDataError(archive, "md5 does not match the published CIFAR-10 archive")
    arrays, labels = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]:
                entry = pickle.load(tar.extractfile(f"{BATCHES}/{name}"), encoding="latin1")   # numpy arrays
                arrays.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels += list(entry["labels"])
    except (tarfile.TarError, OSError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        raise CorruptDataError(archive, f"cannot be read: {exc}") from None
    return torch.from_numpy(np.concatenate(arrays)), torch.tensor(labels, dtype=torch.long)


def decode_files(files: list[Path]) -> Tensor:
    """Decode 32x32 images (in a thread pool) into one uint8 tensor (N, 3, 32, 32), naming a bad one."""
    out = np.empty((len(files), 32, 32, 3), dtype=np.uint8)

    def decode(i: int) -> None:
        pixels = open_rgb(files[i])
        if tuple(pixels.shape) != (3, 32, 32):
            raise NotAnImageError(files[i], f"CIFAR-10 images are 32x32 RGB, this one is "
                                            f"{pixels.shape[2]}x{pixels.shape[1]}", advice=FIX_IT)
        out[i] = pixels.permute(1, 2, 0).numpy()

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool, \
            tqdm(total=len(files), desc="decoding CIFAR-10 images", unit=" images", delay=1) as bar:
        for _ in pool.map(decode, range(len(files)), chunksize=256):
            bar.update()
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _load_cache(path: Path, n: int, source: str) -> tuple[Tensor, Tensor] | None:
    """The cached split, or None (said loudly) when it is unreadable or built from other files."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = blob["images"], blob["labels"]
        if not (blob.get("version") == CACHE_VERSION and blob.get("classes") == CIFAR10_CLASSES
                and images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
                and labels.shape == (images.shape[0],)):
            problem = "unexpected contents"
        elif blob.get("source") == source:
            return images, labels
        else:
            problem = (f"built from other files: it holds {images.shape[0]} images, the folder has {n}"
                       if images.shape[0] != n else
                       "built from other files: an image was added, removed, moved or replaced since")
    except Exception as exc:  # any unreadable file: truncated, not a torch file, wrong keys
        problem = f"unreadable: {type(exc).__name__}: {exc}"
    print(f"!!! CIFAR-10 cache {path} is invalid ({problem}); rebuilding it from the image "
          f"folder. !!!", file=sys.stderr, flush=True)
    return None


def load_folder(root: Path, split: str, *, cache: bool = True, subset: int | None = None,
                seed: int = 0) -> tuple[Tensor, Tensor]:
    """One split of the image-folder export, (images, labels): from an up-to-date cache, else
    ``subset`` files (a fixed random choice) decoded, else all decoded and cached."""
    folder = root / FOLDER / split
    _, files, labels = list_split(folder, CIFAR10_CLASSES, dataset="CIFAR-10 (image folder)")
    source = fingerprint(files, folder)
    path = cache_path(root, split) if cache else None
    if path is not None:
        remove_stale_temporaries(path)   # what a killed cache write left
        if path.exists() and (cached := _load_cache(path, len(labels), source)) is not None:
            return cached
    if subset is not None and subset < len(files):
        idx = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:subset].sort().values
        return decode_files([files[i] for i in idx.tolist()]), labels[idx]
    images = decode_files(files)
    if path is not None:
        buffer = io.BytesIO()   # serialised first: a full disk is then an OSError that says so
        torch.save({"version": CACHE_VERSION, "classes": CIFAR10_CLASSES, "source": source,
                    "images": images, "labels": labels}, buffer)
        try:
            write_atomic(path, buffer.getbuffer(), what=f"the CIFAR-10 cache {path.name}")
        except OSError as exc:   # only means decoding again
            print(f"note: the CIFAR-10 cache was not written: {exc} The images will be decoded "
                  f"again next time.", file=sys.stderr)
    return images, labels


def load_cifar10(train: bool = True, *, root: Path | str | None = None, device: torch.device | str = "cpu",
                 download: bool = True, smoke: bool | None = None) -> ImageData:
    """One CIFAR-10 split as uint8 tensors (N, 3, 32, 32) on ``device``: torchvision's archive (or
    its extracted batches), else the image-folder export, else the archive downloaded."""
    smoke = is_smoke() if smoke is None else smoke
    root = Path(root) if root is not None else data_root()
    split = "train" if train else "test"

    def read() -> ImageData:
        has_archive = (root / ARCHIVE).exists() or (root / BATCHES).is_dir()
        cause = None
        if not has_archive and not (root / FOLDER).exists() and download:
            cause = try_download(URL, root / ARCHIVE, dataset="CIFAR-10", md5=ARCHIVE_MD5)
            has_archive = cause is None
        if has_archive:
            images, labels = _from_torchvision(root, train)
            name, source = f"CIFAR-10 {split}", str(root / ARCHIVE)
        elif (root / FOLDER).exists():
            images, labels = load_folder(root, split, subset=SMOKE_SIZES[split] if smoke else None,
                                         seed=0 if train else 1)
            name, source = f"CIFAR-10 {split} (image folder)", str(root / FOLDER / split)
        else:
            raise DataMissingError(
                "CIFAR-10", root, [ARCHIVE], absent=True, cause=cause,
                why="is not in the data root" + (f" and could not be downloaded: {cause}" if cause else ""),
                hint=(f"That is torchvision's archive (md5 {ARCHIVE_MD5}, from {URL}; torchvision.datasets."
                      f"CIFAR10(root, download=True) fetches it on a machine with internet). Or put an "
                      f"image-folder export in {root / FOLDER}/{{train,test}}/<class>/*.jpg|png with the "
                      f"class folders {', '.join(CIFAR10_CLASSES)}. Or set COURSE_DATA to a data root "
                      f"that has one."))
        note_data(DataUse(name, source))
        return ImageData(images, labels, list(CIFAR10_CLASSES), CIFAR10_MEAN, CIFAR10_STD, name=name)

    data = smoke_split(read, dataset="CIFAR-10", split=split, smoke=smoke, sizes=SMOKE_SIZES,
                       standin=((3, 32, 32), CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD),
                       reason=lambda exc: f"no {root / ARCHIVE} and no {root / FOLDER}/"
                                          + (f"; the download failed: {exc.cause}" if exc.cause else ""))
    return data.to(device)
