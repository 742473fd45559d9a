"""The d2l hot dog data set: photos of hot dogs and of other food, in an image-folder layout
``<data root>/hotdog/{train,test}/{hotdog,not-hotdog}/*.jpg``.

Any folder in that layout is used as is; otherwise ``hotdog.zip`` is downloaded (sha1
verified, atomic write) and extracted. Every image is decoded once into a uint8 tensor. The
test split is resized and centre-cropped once; the training split gets a fresh random resized
crop and flip per image and per epoch, and each batch is normalised in one operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import Tensor
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2

from course_utils.data.download import download, extract_zip
from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.loader import TensorLoader, uint8_affine
from course_utils.data.standin import announce, make_standin
from course_utils.runtime import data_root, is_smoke

URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
ARCHIVE, FOLDER = "hotdog.zip", "hotdog"
CLASSES = ["hotdog", "not-hotdog"]
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_SIZE, RESIZE = 224, 256
#: Larger photos are shrunk on load so that their shorter side is this (saves memory and time).
MAX_SHORT_SIDE = 320
#: Split sizes used in smoke mode (``COURSE_SMOKE=1``).
SMOKE_SIZES = {"train": 32, "test": 16}


@dataclass
class ImageList:
    """One split as a list of uint8 images (3, H, W) of different sizes, with labels."""

    images: list[Tensor]
    labels: Tensor
    classes: list[str]
    name: str = ""
    standin: bool = False  #: True when the images are generated, not the real data set

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, n: int, seed: int = 0) -> "ImageList":
        """A random (fixed by ``seed``) subset of ``n`` images with both classes in equal parts."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        picked = []
        for c in range(len(self.classes)):
            idx = torch.nonzero(self.labels == c).flatten()
            take = n // len(self.classes) + (1 if c < n % len(self.classes) else 0)
            picked.append(idx[torch.randperm(len(idx), generator=g)[:take]])
        idx = torch.cat(picked).sort().values
        return ImageList([self.images[i] for i in idx.tolist()], self.labels[idx], self.classes,
                         self.name, self.standin)

    def examples(self, per_class: int = 8, size: int = 160) -> tuple[Tensor, list[str]]:
        """The first ``per_class`` images of each class, resized and centre-cropped to ``size``
        (uint8, N, 3, size, size), and their class names: for a picture."""
        prep = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
        pics, names = [], []
        for c, name in enumerate(self.classes):
            for i in torch.nonzero(self.labels == c).flatten()[:per_class].tolist():
                pics.append(prep(self.images[i]))
                names.append(name)
        return torch.stack(pics), names


# ------------------------------------------------------------------------ finding the data
def _has_layout(folder: Path) -> bool:
    return all((folder / s / c).is_dir() for s in SPLITS for c in CLASSES)


def _expected_layout(folder: Path) -> list[str]:
    return [f"{s}/{c}/*.jpg" for s in SPLITS for c in CLASSES]


def ensure_hotdog(root: Path | str | None = None, *, download_ok: bool = True,
                  timeout: float = 60.0) -> Path:
    """The folder ``<root>/hotdog`` with the data set, downloading and extracting
    ``hotdog.zip`` (sha1-verified) when it is not there yet. Raises :class:`DataMissingError`
    naming the folder layout and the archive when it is missing and cannot be downloaded."""
    root = Path(root) if root is not None else data_root()
    folder = root / FOLDER
    if _has_layout(folder):
        return folder
    archive = root / ARCHIVE
    try:
        if not download_ok and not archive.exists():
            raise DataMissingError("hot dog", root, [ARCHIVE])
        download(URL, archive, sha1=SHA1, timeout=timeout, dataset="The hot dog data set")
    except DataMissingError:
        raise DataMissingError(
            "The hot dog data set", folder, _expected_layout(folder),
            hint=f"or put {ARCHIVE} (sha1 {SHA1}, from {URL}) in {root}. Set COURSE_DATA to use "
                 f"another data root.") from None
    extract_zip(archive, root)
    if not _has_layout(folder):
        raise CorruptDataError(archive, f"it did not extract to the layout {FOLDER}/"
                                        f"{{train,test}}/{{hotdog,not-hotdog}}/")
    return folder


def _decode(path: Path, max_short_side: int | None) -> Tensor:
    try:
        with Image.open(path) as pic:
            img = v2.functional.pil_to_tensor(pic.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptDataError(path, f"cannot decode the image: {exc}") from None
    if max_short_side is not None and min(img.shape[1:]) > max_short_side:
        img = v2.functional.resize(img, max_short_side, antialias=True)
    return img


def read_split(folder: Path, split: str, max_short_side: int | None = MAX_SHORT_SIDE) -> ImageList:
    """Decode every image of ``folder/split/<class>/`` once into a uint8 tensor."""
    images, labels = [], []
    for c, name in enumerate(CLASSES):
        files = sorted(p for p in (folder / split / name).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        images += [_decode(p, max_short_side) for p in files]
        labels += [c] * len(files)
    if not images:
        raise DataMissingError("The hot dog data set", folder / split,
                               [f"{c}/*.jpg" for c in CLASSES], hint="The class folders are empty.")
    return ImageList(images, torch.tensor(labels), list(CLASSES), name=f"hot dog {split}")


def load_hotdog(
    split: str = "train",
    *,
    root: Path | str | None = None,
    download_ok: bool = True,
    smoke: bool | None = None,
) -> ImageList:
    """One split (``"train"`` or ``"test"``) of the hot dog data set.

    In smoke mode the split is a small fixed subset, and a missing data set is replaced by a
    loudly announced stand-in; in full mode a missing data set raises :class:`DataMissingError`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    smoke = is_smoke() if smoke is None else smoke
    try:
        data = read_split(ensure_hotdog(root, download_ok=download_ok), split)
    except DataMissingError as exc:
        if not smoke:
            raise
        announce("the hot dog set", f"nothing usable in {exc.folder}")
        fake = make_standin("hot dog", SMOKE_SIZES[split], (3, RESIZE, RESIZE), CLASSES,
                            (0.5,) * 3, (0.5,) * 3, seed=0 if split == "train" else 1)
        data = ImageList(list(fake.images), fake.labels, list(CLASSES), fake.name, standin=True)
    if smoke:
        data = data.subset(SMOKE_SIZES[split], seed=0 if split == "train" else 1)
    return data


# ------------------------------------------------------------------------- transforms, loaders
def train_transform(size: int = IMAGE_SIZE) -> v2.Compose:
    """Random resized crop to ``size`` and a random horizontal flip, on one uint8 image."""
    return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])


def test_transform(size: int = IMAGE_SIZE, resize: int = RESIZE) -> v2.Compose:
    """Resize the shorter side to ``resize`` and take the central ``size`` square."""
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size)])


class AugmentedLoader:
    """Serve ``(images, labels)`` batches from an :class:`ImageList`, drawing a fresh random
    crop and flip per image (``transform`` works on uint8, on the CPU); each batch is then
    stacked, moved and normalised as a whole."""

    def __init__(self, data: ImageList, batch_size: int, *, mean: Sequence[float],
                 std: Sequence[float], transform: v2.Transform | None = None, shuffle: bool = True,
                 drop_last: bool = False, channels_last: bool = False, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.transform = transform if transform is not None else train_transform()
        self.shuffle, self.drop_last, self.channels_last = shuffle, drop_last, channels_last
        self.device = torch.device(device)
        self.mean, self.std = tuple(mean), tuple(std)
        self._scale, self._shift = uint8_affine(self.mean, self.std, self.device)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = torch.stack([self.transform(self.data.images[i]) for i in idx.tolist()])
            x = torch.addcmul(self._shift, batch.to(self.device, non_blocking=True).float(),
                              self._scale)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.data.labels[idx].to(self.device)


def fixed_images(data: ImageList, size: int = IMAGE_SIZE, resize: int = RESIZE) -> Tensor:
    """The test-time view of every image (resize, centre crop), once, as one uint8 tensor."""
    transform = test_transform(size, resize)
    return torch.stack([transform(img) for img in data.images])


def make_loaders(
    train: ImageList,
    test: ImageList,
    batch_size: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    test_batch_size: int | None = None,
    device: torch.device | str = "cpu",
    channels_last: bool = True,
    seed: int = 0,
) -> tuple[AugmentedLoader, TensorLoader]:
    """The training loader (random crops and flips, shuffled) and the test loader (resize 256,
    centre crop 224 done once, kept as uint8 on ``device``), both normalised with ``mean``/``std``
    (take them from the backbone's weights)."""
    train_loader = AugmentedLoader(train, batch_size, mean=mean, std=std, shuffle=True,
                                   channels_last=channels_last, seed=seed, device=device)
    test_loader = TensorLoader(fixed_images(test), test.labels, test_batch_size or batch_size,
                               mean=mean, std=std, channels_last=channels_last, device=device)
    return train_loader, test_loader
