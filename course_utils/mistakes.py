"""Common transfer-learning mistakes of the seed code, each measured on a trained model:
testing in training mode, random crops at test time, and test images of another size than
the weights were trained on. (Feeding the wrong normalisation is measured by training with
it: see notebook 05.)"""

from __future__ import annotations

import copy
import statistics
from typing import Sequence

import torch
from torch import nn

from course_utils.data.loader import TensorLoader
from course_utils.data.photos import AugmentedLoader, ImageList, fixed_images, test_transform, train_transform
from course_utils.training import evaluate


@torch.no_grad()
def accuracy_in_train_mode(model: nn.Module, loader) -> float:
    """Test accuracy with the model left in training mode (no ``model.eval()``): batch norm
    normalises with each test batch's own statistics and dropout stays on. Measured on a
    copy, so the model's running statistics are not touched."""
    twin = copy.deepcopy(model)
    twin.train()
    device = next(twin.parameters()).device
    correct = n = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += int((twin(x).argmax(1) == y).sum())
        n += len(y)
    return correct / n


def random_crop_accuracies(model: nn.Module, test: ImageList, *, mean, std, repeats: int = 5,
                           batch_size: int = 64, seed: int = 0) -> list[float]:
    """Test accuracy when the test photos get the training transform (a random resized crop
    and flip) instead of a fixed centre crop, ``repeats`` times: it changes from run to run."""
    device = next(model.parameters()).device
    results = []
    for r in range(repeats):
        torch.manual_seed(seed + r)
        loader = AugmentedLoader(test, batch_size, mean=mean, std=std, shuffle=False, device=device,
                                 transform=train_transform(getattr(model, "image_size", 224)))
        results.append(evaluate(model, loader)["acc"])
    return results


def accuracy_at_size(model, test: ImageList, size: int, resize: int, *, mean, std,
                     batch_size: int = 64) -> float:
    """Test accuracy when the photos are resized to ``resize`` and centre-cropped to ``size``
    (the weights were trained at ``model.image_size``)."""
    device = next(model.parameters()).device
    loader = TensorLoader(fixed_images(test, size, resize, test_transform(size, resize)), test.labels,
                          batch_size, mean=mean, std=std, device=device)
    with model.accepting(size):
        return evaluate(model, loader)["acc"]


def spread(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, std, min, max)."""
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0,
            min(values), max(values))
