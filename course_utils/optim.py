"""Optimizers set up for speed: fused kernels where this torch and device have them."""

from __future__ import annotations

from typing import Iterable

import torch


def make_sgd(params: Iterable, lr: float, momentum: float = 0.0, **kwargs) -> torch.optim.SGD:
    """``torch.optim.SGD`` with the fused implementation (one kernel for all parameters) when
    the parameters' device supports it, else the default one. Same maths either way."""
    params = list(params)
    try:
        return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, **kwargs)
