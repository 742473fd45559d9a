"""Augmentations of whole batches for ``TensorLoader(augment=...)``, a fresh choice per image."""

from __future__ import annotations

import torch
from torch import Tensor


def random_crop_flip(x: Tensor, generator: torch.Generator | None = None, *, padding: int = 4,
                     padding_mode: str = "constant") -> Tensor:
    """A random crop with ``padding`` and a random horizontal flip per image, by one gather (on
    normalised batches ``"constant"`` pads with the mean colour); ``generator`` on ``x``'s device."""
    n, c, h, w = x.shape
    dev = x.device
    p = padding
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode=padding_mode)
    dy = torch.randint(0, 2 * p + 1, (n, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n, 1), device=dev, generator=generator)
    rows = dy + torch.arange(h, device=dev)                     # (n, h)
    cols = dx + torch.arange(w, device=dev)                     # (n, w)
    mirror = torch.rand(n, 1, device=dev, generator=generator) < 0.5
    cols = torch.where(mirror, cols.flip(1), cols)
    # flat index into each padded image plane: row * padded_width + col
    index = (rows[:, :, None] * (w + 2 * p) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


def random_translate_flip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Shift by up to 2 pixels (reflect-padded) and mirror half the images (airbench's)."""
    return random_crop_flip(x, generator, padding=2, padding_mode="reflect")
