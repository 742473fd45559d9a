"""What the benchmarks share: the seed course's data sets, read the plain per-image way."""

from __future__ import annotations

from torchvision import datasets

from course_utils.data.cifar import ARCHIVE, BATCHES, FOLDER
from course_utils.runtime import data_root


def cifar_datasets(transform) -> tuple:
    """CIFAR-10 (train, test) with a per-image ``transform``: torchvision's ``CIFAR10`` when
    its batches are in the data root, else ``ImageFolder`` over the image-folder export."""
    root = data_root()
    if (root / BATCHES).is_dir() or (root / ARCHIVE).exists():
        return (datasets.CIFAR10(root, train=True, transform=transform),
                datasets.CIFAR10(root, train=False, transform=transform))
    return (datasets.ImageFolder(root / FOLDER / "train", transform=transform),
            datasets.ImageFolder(root / FOLDER / "test", transform=transform))
