"""The course's models, and small helpers to inspect them."""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the ``with`` block, then back in its mode (``train()``)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
