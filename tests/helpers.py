"""Small synthetic data sets shared by the unit tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import torch

from course_utils.data.loader import ImageData


def striped_digits(n: int = 192, seed: int = 0) -> ImageData:
    """``n`` noisy 28x28 one-channel images whose class (0-9) is a bright row at height
    2 + 2 * class: learnable in a few steps by an FC net or a CNN."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 60, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for c in range(10):
        images[labels == c, 0, 2 + 2 * c] += 150
    return ImageData(images, labels, [str(i) for i in range(10)], (0.15,), (0.3,))
