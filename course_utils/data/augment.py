"""Batch augmentations for :class:`~course_utils.data.loader.TensorLoader` (``augment=``):
whole batches on their own device, a fresh random choice per image and per batch."""

from __future__ import annotations

import torch
from torch import Tensor


def random_crop_flip(x: Tensor, generator: torch.Generator | None = None, *, padding: int = 4,
                     flip: bool = True, padding_mode: str = "constant") -> Tensor:
    """Random crop with ``padding`` pixels on each side, and a random horizontal flip, for
    the whole (N, C, H, W) batch by one gather: a fresh choice per image.

    Like torchvision's ``RandomCrop(size, padding, padding_mode=...)`` +
    ``RandomHorizontalFlip()`` per image, with one difference in what the padding is: the
    loader applies this to *normalised* batches, so ``padding_mode="constant"`` pads with
    zeros of the normalised image, which is the data set's **mean colour** (grey), where
    torchvision, used on images before ``Normalize``, pads **black** (0). ``"reflect"``
    mirrors the border, the same either way. ``generator`` must live on ``x``'s device.
    """
    n, c, h, w = x.shape
    dev = x.device
    p = padding
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode=padding_mode) if p else x
    dy = torch.randint(0, 2 * p + 1, (n, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n, 1), device=dev, generator=generator)
    rows = dy + torch.arange(h, device=dev)                     # (n, h)
    cols = dx + torch.arange(w, device=dev)                     # (n, w)
    if flip:
        mirror = torch.rand(n, 1, device=dev, generator=generator) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    # flat index into each padded image plane: row * padded_width + col
    index = (rows[:, :, None] * (w + 2 * p) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


def random_flip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2."""
    mirror = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator) < 0.5
    return torch.where(mirror, x.flip(3), x)


def random_translate_flip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Shift by up to 2 pixels (reflect-padded) and mirror half the images: the light
    augmentation that suits short training runs (airbench's)."""
    return random_crop_flip(x, generator, padding=2, padding_mode="reflect")
