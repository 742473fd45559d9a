"""Optimizers with fused kernels where this torch and device have them; the same maths either way."""

from __future__ import annotations

from typing import Iterable

import torch


def _fused_or_plain(cls: type, params: Iterable, **kwargs) -> torch.optim.Optimizer:
    params = list(params)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)


def make_sgd(params: Iterable, lr: float, momentum: float = 0.0, **kwargs) -> torch.optim.SGD:
    """SGD, fused where available."""
    return _fused_or_plain(torch.optim.SGD, params, lr=lr, momentum=momentum, **kwargs)


def make_adam(params: Iterable, lr: float = 1e-3, **kwargs) -> torch.optim.Adam:
    """Adam, fused where available."""
    return _fused_or_plain(torch.optim.Adam, params, lr=lr, **kwargs)
