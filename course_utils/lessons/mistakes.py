"""The seed code's test-time mistakes (training mode, random crops, another size), image by image."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from course_utils.data.loader import TensorLoader
from course_utils.data.photos import AugmentedLoader, ImageList, fixed_images, test_transform, train_transform
from course_utils.training import place, right_per_image  # noqa: F401 (the notebooks import it from here)


@torch.no_grad()
def right_in_train_mode(model: nn.Module, loader: TensorLoader, *, amp: bool = False, shuffle: bool = True,
                        seed: int = 0) -> Tensor:
    """Per image of ``loader`` (in its order), whether a copy of the model with every module in training
    mode (a frozen body's too) gets it right, served in a random order (``shuffle``) or as stored."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        module.training = True
    where = place(twin, amp=amp)
    n = len(loader.labels)
    order = (torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle
             else torch.arange(n)).to(loader.images.device)
    served = TensorLoader(loader.images[order], loader.labels[order], loader.batch_size, mean=loader.mean,
                          std=loader.std, transform=loader.transform)
    right = []
    with where.autocast():
        for x, y in served:
            right.append((twin(where.batch(x)).argmax(1) == y.to(where.device)).cpu())
    out = torch.empty(n, dtype=torch.bool)
    out[order.cpu()] = torch.cat(right)
    return out


def random_crop_right(model: nn.Module, test: ImageList, *, mean, std, repeats: int = 5,
                      batch_size: int = 64, seed: int = 0) -> Tensor:
    """Right or wrong (repeats, photos) when the test photos get the training transform ``repeats`` times."""
    device = next(model.parameters()).device
    right = []
    for r in range(repeats):
        torch.manual_seed(seed + r)
        loader = AugmentedLoader(test, batch_size, mean=mean, std=std, shuffle=False, device=device,
                                 transform=train_transform(getattr(model, "image_size", 224)))
        right.append(right_per_image(model, loader))
    return torch.stack(right)


def right_at_size(model, test: ImageList, size: int, resize: int, *, mean, std,
                  batch_size: int = 64) -> Tensor:
    """Per photo, whether the model gets it right resized to ``resize``, centre-cropped to ``size``."""
    device = next(model.parameters()).device
    loader = TensorLoader(fixed_images(test, size, resize, test_transform(size, resize)), test.labels,
                          batch_size, mean=mean, std=std, device=device)
    trained_at, model.image_size = model.image_size, size
    try:
        return right_per_image(model, loader)
    finally:
        model.image_size = trained_at
