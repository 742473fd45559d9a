"""Optimizers set up for speed: fused kernels where this torch and device have them."""

from __future__ import annotations

from typing import Iterable, TypeVar

import torch

O = TypeVar("O", bound=torch.optim.Optimizer)


def fused_or_plain(cls: type[O], params: Iterable, **kwargs) -> O:
    """``cls(params, fused=True, **kwargs)`` when the parameters' device supports the fused
    implementation (one kernel for all parameters), else ``cls(params, **kwargs)``.
    Same maths either way."""
    params = list(params)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)


def make_sgd(params: Iterable, lr: float, momentum: float = 0.0, **kwargs) -> torch.optim.SGD:
    """SGD, fused where available."""
    return fused_or_plain(torch.optim.SGD, params, lr=lr, momentum=momentum, **kwargs)


def make_adam(params: Iterable, lr: float = 1e-3, **kwargs) -> torch.optim.Adam:
    """Adam, fused where available."""
    return fused_or_plain(torch.optim.Adam, params, lr=lr, **kwargs)
