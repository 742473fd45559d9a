"""Photo folders of any size for transfer learning: ``<folder>/{train,test}/<class>/<photo>``.

Every photo is decoded once into a uint8 tensor (3, H, W) and kept in a list (the sizes
differ). The test split is resized and centre-cropped once; the training split gets a fresh
random resized crop and flip per photo and per epoch, and each batch is stacked, moved and
normalised as a whole. Any folder in that layout works, with any class names (two or more)
and any common image type (see :mod:`course_utils.data.folders`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import Tensor
from torchvision.transforms import v2
from tqdm.auto import tqdm

from course_utils.data.folders import list_split, open_rgb
from course_utils.data.loader import TensorLoader, uint8_affine
from course_utils.data.provenance import DataUse, note
from course_utils.device import preferred_memory_format

SPLITS = ("train", "test")
IMAGE_SIZE, RESIZE = 224, 256
#: Larger photos are shrunk on load so that their shorter side is this (saves memory and time).
MAX_SHORT_SIDE = 320


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


def shrink(image: Tensor, max_short_side: int | None = MAX_SHORT_SIDE) -> Tensor:
    """``image`` with its shorter side reduced to ``max_short_side`` when it is longer."""
    if max_short_side is not None and min(image.shape[1:]) > max_short_side:
        return v2.functional.resize(image, max_short_side, antialias=True)
    return image


def read_split(folder: Path, split: str, classes: Sequence[str] | None = None, *,
               dataset: str = "The photo folder", max_short_side: int | None = MAX_SHORT_SIDE,
               course_data: bool = False) -> ImageList:
    """Decode every photo of ``folder/split/<class>/`` once. ``classes`` (the training split's)
    fixes the class order; without it the sorted class folders are the classes."""
    listing = list_split(folder / split, classes, dataset=dataset)
    # a bar when decoding takes more than a second (the hot dog set's 2,000 training photos do)
    images = [shrink(open_rgb(p), max_short_side)
              for p in tqdm(listing.files, desc=f"decoding {folder.name}/{split}", unit=" photos", delay=1)]
    note(DataUse(f"{dataset} {split}", str(folder / split), course_data=course_data))
    return ImageList(images, listing.labels, listing.classes, name=f"{folder.name} {split}")


def small_images_note(data: ImageList, size: int = IMAGE_SIZE) -> str | None:
    """A note when photos are much smaller than ``size`` (under half of it on the shorter side):
    they will be upscaled, which blurs them."""
    small = [min(img.shape[1:]) for img in data.images if min(img.shape[1:]) < size // 2]
    if not small:
        return None
    return (f"note: {len(small)} of {len(data)} {data.name} photos are smaller than {size // 2} px "
            f"on the shorter side (the smallest: {min(small)} px); they are upscaled to {size}x{size} "
            f"for the backbone, which blurs them.")


def load_photo_folder(folder: Path | str, split: str, *, classes: Sequence[str] | None = None,
                      image_size: int = IMAGE_SIZE, course_data: bool = False) -> ImageList:
    """One split of a photo folder a student points at. Nothing is downloaded and nothing is
    replaced: a missing, empty or unreadable part raises an error naming it. Photos much
    smaller than ``image_size`` get a printed note."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder).expanduser()
    if classes is None and split != "train":  # the test split must have the training split's classes
        from course_utils.data.folders import class_folders

        if (folder / "train").is_dir():
            classes = class_folders(folder / "train")
    data = read_split(folder, split, classes, dataset=f"The photo folder {folder}",
                      course_data=course_data)
    message = small_images_note(data, image_size)
    if message:
        print(message, file=sys.stderr, flush=True)
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
    stacked, moved and normalised as a whole, in ``memory_format`` (default: the device's
    :func:`~course_utils.device.preferred_memory_format`)."""

    def __init__(self, data: ImageList, batch_size: int, *, mean: Sequence[float],
                 std: Sequence[float], transform: v2.Transform | None = None, shuffle: bool = True,
                 drop_last: bool = False, memory_format: torch.memory_format | None = None,
                 seed: int = 0, device: torch.device | str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.transform = transform if transform is not None else train_transform()
        self.shuffle, self.drop_last = shuffle, drop_last
        self.device = torch.device(device)
        self.memory_format = (memory_format if memory_format is not None
                              else preferred_memory_format(self.device))
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
            yield x.contiguous(memory_format=self.memory_format), self.data.labels[idx].to(self.device)


def fixed_images(data: ImageList, size: int = IMAGE_SIZE, resize: int = RESIZE,
                 transform: v2.Transform | None = None) -> Tensor:
    """The test-time view of every image (resize, centre crop; or ``transform``), once, as one
    uint8 tensor."""
    transform = transform or test_transform(size, resize)
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
    memory_format: torch.memory_format | None = None,
    seed: int = 0,
    size: int = IMAGE_SIZE,
    resize: int = RESIZE,
) -> tuple[AugmentedLoader, TensorLoader]:
    """The training loader (random crops and flips to ``size``, shuffled) and the test loader
    (resize to ``resize``, centre crop ``size``, done once, kept as uint8 on ``device``), both
    normalised with ``mean``/``std`` (take them from the backbone's weights)."""
    train_loader = AugmentedLoader(train, batch_size, mean=mean, std=std, shuffle=True,
                                   transform=train_transform(size), memory_format=memory_format,
                                   seed=seed, device=device)
    test_loader = TensorLoader(fixed_images(test, size, resize), test.labels,
                               test_batch_size or batch_size, mean=mean, std=std,
                               memory_format=memory_format, device=device)
    return train_loader, test_loader
