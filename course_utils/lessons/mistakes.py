"""Common mistakes of the seed code, each measured on a trained model, image by image, so
that each can be compared with the right way by a paired test
(:func:`course_utils.stats.compare_paired`): testing in training mode, random crops at test
time, and test images of another size than the weights were trained on. (Feeding the wrong
normalisation is measured by training with it: see notebook 05; on CIFAR-10, notebook 03
measures the mistakes that do not depend on pretrained weights on 10,000 test images.)"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from course_utils.data.loader import TensorLoader
from course_utils.data.photos import AugmentedLoader, ImageList, fixed_images, test_transform, train_transform
from course_utils.training import place, right_per_image  # right_per_image: the notebooks import it from here too


@torch.no_grad()
def right_in_train_mode(model: nn.Module, loader: TensorLoader, *, amp: bool = False, shuffle: bool = True,
                        seed: int = 0) -> Tensor:
    """Per image of ``loader`` (in its order), whether the model gets it right when left in
    training mode (no ``model.eval()``): **every** batch norm normalises with the test batch's
    own statistics, so the answer for one image depends on the others in its batch (and on
    the batch size), and dropout stays on.

    ``shuffle``: serve the images in a random order (fixed by ``seed``), as a test set in
    random order would be; a folder-sorted test set (one class after another) otherwise gives
    batches of a single class, a far larger effect (``shuffle=False`` measures that).
    Every module is put in training mode, also the parts a
    :class:`~course_utils.models.heads.TransferNet` keeps in eval mode while it trains (its
    frozen body): the mistake is the missing ``eval()``, whatever the model's own ``train()``
    does. Measured on a copy, so the model's running statistics are not touched."""
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
    """When the test photos get the training transform (a random resized crop and flip)
    instead of a fixed centre crop, measured ``repeats`` times: a bool tensor (repeats,
    photos), right or wrong. ``.float().mean(1)`` is each measurement's accuracy (it changes
    from one to the next), ``.float().mean(0)`` each photo's share of right answers."""
    device = next(model.parameters()).device
    right = []
    for r in range(repeats):
        torch.manual_seed(seed + r)
        loader = AugmentedLoader(test, batch_size, mean=mean, std=std, shuffle=False, device=device,
                                 transform=train_transform(getattr(model, "image_size", 224)))
        right.append(right_per_image(model, loader))
    return torch.stack(right)


def right_at_size(model, test: ImageList, size: int, resize: int, *, mean, std, batch_size: int = 64) -> Tensor:
    """Per photo, whether the model gets it right when the photos are resized to ``resize``
    and centre-cropped to ``size`` (the weights were trained at ``model.image_size``; the
    backbones pool globally, so they run at any size)."""
    device = next(model.parameters()).device
    loader = TensorLoader(fixed_images(test, size, resize, test_transform(size, resize)), test.labels,
                          batch_size, mean=mean, std=std, device=device)
    trained_at, model.image_size = model.image_size, size
    try:
        return right_per_image(model, loader)
    finally:
        model.image_size = trained_at
