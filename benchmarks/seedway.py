"""What the benchmarks share: the seed course's way, i.e. data sets read per image with
transforms, and the classic training and test loops."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

from course_utils.data.cifar import ARCHIVE, BATCHES, FOLDER
from course_utils.settings import data_root


def cifar_datasets(transform) -> tuple:
    """CIFAR-10 (train, test) with a per-image ``transform``: torchvision's ``CIFAR10`` when
    its batches are in the data root, else ``ImageFolder`` over the image-folder export."""
    root = data_root()
    if (root / BATCHES).is_dir() or (root / ARCHIVE).exists():
        return (datasets.CIFAR10(root, train=True, transform=transform),
                datasets.CIFAR10(root, train=False, transform=transform))
    return (datasets.ImageFolder(root / FOLDER / "train", transform=transform),
            datasets.ImageFolder(root / FOLDER / "test", transform=transform))


def train_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                device: torch.device) -> None:
    """One epoch of the classic tutorial loop: a batch to the device, zero_grad, forward,
    cross-entropy, backward, step."""
    model.train()
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data), target)
        loss.backward()
        optimizer.step()


def test_accuracy(model: nn.Module, loader: Iterable, device: torch.device) -> float:
    """The classic test loop: accuracy over ``loader`` under ``torch.no_grad``."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            correct += (model(data).argmax(1) == target).sum().item()
            total += target.shape[0]
    return correct / total
