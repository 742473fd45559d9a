"""Transfer-learning strategies for notebook 05: how much of a pretrained body trains, at which
learning rates, and how to repeat each over seeds.

* ``fine-tune``: every layer trains; the new head at ``head_lr_factor`` (10x) the body's rate;
* ``partial``: the lower half of the body's stages stays frozen (and in eval mode), the rest
  fine-tunes as above;
* ``frozen``: the whole body is frozen and kept in eval mode; only the head trains (feature
  extraction);
* ``scratch``: the same architecture from random weights, everything at one rate.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from course_utils.models.transfer import OFFLINE_BACKBONE, TransferNet, build
from course_utils.optim import make_adam, make_sgd
from course_utils.runtime import preferred_memory_format

STRATEGIES = ("fine-tune", "partial", "frozen", "scratch")


def param_groups(model: TransferNet, lr: float, head_lr_factor: float = 10.0) -> list[dict]:
    """Optimizer parameter groups: the body's trainable parameters at ``lr``, the head's at
    ``head_lr_factor * lr``. Frozen parameters are left out; empty groups are dropped."""
    body = [p for p in model.body.parameters() if p.requires_grad]
    head = [p for p in model.head.parameters() if p.requires_grad]
    groups = [{"params": body, "lr": lr, "name": "body"},
              {"params": head, "lr": lr * head_lr_factor, "name": "head"}]
    return [g for g in groups if g["params"]]


def make_run(
    strategy: str,
    backbone: str = OFFLINE_BACKBONE,
    *,
    lr: float,
    head_lr_factor: float = 10.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    optimizer: str = "sgd",
    device: torch.device | str = "cpu",
    memory_format: torch.memory_format | None = None,
) -> tuple[TransferNet, torch.optim.Optimizer]:
    """The model and optimizer of one strategy (see :data:`STRATEGIES`). ``lr`` is the body's
    learning rate and the head's is ``head_lr_factor * lr`` (``scratch``: everything at ``lr``).
    ``optimizer`` is ``"sgd"`` (with ``momentum``) or ``"adam"``. The model is moved to
    ``device`` in ``memory_format`` (default: the device's preferred layout)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    model = build(backbone, pretrained=strategy != "scratch")
    if strategy == "frozen":
        model.freeze_body()
    elif strategy == "partial":
        model.freeze_lower(0.5)
    factor = 1.0 if strategy == "scratch" else head_lr_factor
    model = model.to(device, memory_format=memory_format if memory_format is not None
                     else preferred_memory_format(device))
    groups = param_groups(model, lr, factor)
    if optimizer == "sgd":
        opt = make_sgd(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = make_adam(groups, lr=lr, weight_decay=weight_decay)
    return model, opt


def cosine_decay(optimizer: torch.optim.Optimizer, total_steps: int, final: float = 0.1,
                 warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Scale every group's learning rate along a half cosine from 1x down to ``final``x over
    ``total_steps`` (step it after every batch), after ``warmup`` steps of a linear rise from
    0.1x; the groups keep their ratio."""
    def factor(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        t = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable(model: torch.nn.Module) -> int:
    """Parameters that train."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def rows_by_strategy(acc: dict[str, list[float]], n_test: int) -> Iterable[dict]:
    """Table rows: each strategy's mean, spread and range of test accuracy over the seeds,
    and how many test photos the spread is."""
    for strategy, values in acc.items():
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        yield {"strategy": strategy, "mean": mean, "std": std, "min": min(values), "max": max(values),
               "spread in photos": round((max(values) - min(values)) * n_test)}
