"""Photo folders (``<folder>/{train,test}/<class>/<photo>``) decoded once into uint8 (3, H, W): test
photos resized and centre-cropped once, training photos a fresh random crop and flip per epoch."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import Tensor
from torchvision.transforms import v2
from tqdm.auto import tqdm

from course_utils.data.folders import entries, list_split, open_rgb
from course_utils.data.loader import TensorLoader, uint8_affine
from course_utils.run import DataUse, note_data

SPLITS = ("train", "test")
IMAGE_SIZE, RESIZE = 224, 256
MAX_SHORT_SIDE = 320   #: larger photos are shrunk on load to this shorter side


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
        """A random (fixed by ``seed``) subset of ``n`` images, the classes in equal parts."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        picked = []
        for c in range(len(self.classes)):
            idx = torch.nonzero(self.labels == c).flatten()
            take = n // len(self.classes) + (1 if c < n % len(self.classes) else 0)
            picked.append(idx[torch.randperm(len(idx), generator=g)[:take]])
        idx = torch.cat(picked).sort().values
        return replace(self, images=[self.images[i] for i in idx.tolist()], labels=self.labels[idx])

    def examples(self, per_class: int = 8, size: int = 160) -> tuple[Tensor, list[str]]:
        """The first ``per_class`` images of each class, centre-cropped to ``size``, and their names."""
        prep = test_transform(size, size)
        idx = [i for c in range(len(self.classes))
               for i in torch.nonzero(self.labels == c).flatten()[:per_class].tolist()]
        return torch.stack([prep(self.images[i]) for i in idx]), [self.classes[self.labels[i]] for i in idx]


def read_split(folder: Path, split: str, classes: Sequence[str] | None = None, *,
               dataset: str = "The photo folder", course_data: bool = False, name: str = "") -> ImageList:
    """Decode every photo of ``folder/split/<class>/`` once; ``classes`` fixes the class order."""
    classes, files, labels = list_split(folder / split, classes, dataset=dataset)
    images = []
    for path in tqdm(files, desc=f"decoding {folder.name}/{split}", unit=" photos", delay=1):
        image = open_rgb(path)
        if min(image.shape[1:]) > MAX_SHORT_SIDE:
            image = v2.functional.resize(image, MAX_SHORT_SIDE, antialias=True)
        images.append(image)
    note_data(DataUse(f"{dataset} {split}", str(folder / split), course_data=course_data))
    return ImageList(images, labels, classes, name=name or f"{folder.name} {split}")


def small_images_note(data: ImageList, size: int = IMAGE_SIZE) -> str | None:
    """A note when photos are under half of ``size`` on the shorter side (upscaling blurs them)."""
    small = [min(img.shape[1:]) for img in data.images if min(img.shape[1:]) < size // 2]
    if not small:
        return None
    return (f"note: {len(small)} of {len(data)} {data.name} photos are smaller than {size // 2} px "
            f"on the shorter side (the smallest: {min(small)} px); they are upscaled to {size}x{size} "
            f"for the backbone, which blurs them.")


def load_photo_folder(folder: Path | str, split: str) -> ImageList:
    """One split of a student's photo folder, never replaced by a download; small photos get a note."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder).expanduser()
    train = folder / "train"   # the test split must have the training split's classes
    classes = entries(train)[1] if split != "train" and train.is_dir() else None
    data = read_split(folder, split, classes, dataset=f"The photo folder {folder}")
    if message := small_images_note(data):
        print(message, file=sys.stderr, flush=True)
    return data


def train_transform(size: int = IMAGE_SIZE) -> v2.Compose:
    """Random resized crop to ``size`` and a random horizontal flip, on one uint8 image."""
    return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])


def test_transform(size: int = IMAGE_SIZE, resize: int = RESIZE) -> v2.Compose:
    """Resize the shorter side to ``resize`` and take the central ``size`` square."""
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size)])


class AugmentedLoader:
    """``(images, labels)`` batches of an :class:`ImageList`: a fresh ``transform`` (default: random
    crop and flip) per uint8 image on the CPU, then each batch moved and normalised whole."""

    def __init__(self, data: ImageList, batch_size: int, *, mean: Sequence[float], std: Sequence[float],
                 transform: v2.Transform | None = None, shuffle: bool = True, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.transform = transform if transform is not None else train_transform()
        self.device = torch.device(device)
        self._scale, self._shift = uint8_affine(mean, std, self.device)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = torch.stack([self.transform(self.data.images[i]) for i in idx.tolist()])
            x = torch.addcmul(self._shift, batch.to(self.device, non_blocking=True).float(), self._scale)
            yield x, self.data.labels[idx].to(self.device)


def fixed_images(data: ImageList, size: int = IMAGE_SIZE, resize: int = RESIZE,
                 transform: v2.Transform | None = None) -> Tensor:
    """The test-time view of every image (resize, centre crop; or ``transform``) as one uint8 tensor."""
    transform = transform or test_transform(size, resize)
    return torch.stack([transform(img) for img in data.images])


def make_loaders(train: ImageList, test: ImageList, batch_size: int, *, mean: Sequence[float],
                 std: Sequence[float], test_batch_size: int | None = None, device: torch.device | str = "cpu",
                 seed: int = 0, size: int = IMAGE_SIZE,
                 resize: int = RESIZE) -> tuple[AugmentedLoader, TensorLoader]:
    """The training loader (random crops and flips to ``size``, shuffled) and the test loader (resized
    to ``resize`` and centre-cropped once), normalised with the backbone's ``mean``/``std``."""
    train_loader = AugmentedLoader(train, batch_size, mean=mean, std=std, shuffle=True,
                                   transform=train_transform(size), seed=seed, device=device)
    test_loader = TensorLoader(fixed_images(test, size, resize), test.labels,
                               test_batch_size or batch_size, mean=mean, std=std, device=device)
    return train_loader, test_loader
