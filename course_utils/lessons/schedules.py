"""Learning-rate schedules computed without training, stepped per epoch or (wrongly, for some) per batch."""

from __future__ import annotations

import math

import torch
from torch.optim import lr_scheduler

#: The schedules notebook 03 compares: the seed's StepLR, cosine annealing and one-cycle.
SCHEDULES = ("step", "cosine", "one-cycle")


def lr_curve(kind: str, *, epochs: int = 30, steps_per_epoch: int = 391, interval: str = "epoch",
             lr: float = 0.1, step_size: int = 10, gamma: float = 0.1) -> list[float]:
    """The learning rate at every batch when a StepLR, CosineAnnealingLR (over the run) or OneCycleLR
    scheduler is stepped once per ``interval`` (``"epoch"`` or ``"batch"``)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if interval not in ("epoch", "batch"):
        raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    steps = epochs * (steps_per_epoch if interval == "batch" else 1)
    scheduler = (lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma) if kind == "step" else
                 lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps) if kind == "cosine" else
                 lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps))
    rates = []
    for epoch in range(epochs):
        for step in range(steps_per_epoch):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if interval == "batch" and not (kind == "one-cycle" and len(rates) >= steps):
                scheduler.step()
        if interval == "epoch" and not (kind == "one-cycle" and epoch == epochs - 1):
            scheduler.step()
    return rates


def decays(rates: list[float]) -> int:
    """How many times the learning rate drops by more than half between two steps."""
    return sum(1 for a, b in zip(rates, rates[1:]) if b < a / 2 and not math.isclose(a, b))
