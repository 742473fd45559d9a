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
from course_utils.device import preferred_memory_format
from course_utils.settings import pick

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
    num_classes: int = 2,
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
    model = build(backbone, pretrained=strategy != "scratch", num_classes=num_classes)
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


def scratch_run(train, test, backbone: str = OFFLINE_BACKBONE, *, mean, std, device, seed: int = 0,
                batch_size: int = 32, optimizer: str = "adam", lr: float = 3e-4, epochs: int = 24,
                image_size: int = 112, crop_scale: float = 0.5, bn_momentum: float = 0.1,
                weight_decay: float = 0.0, zero_head: bool = True, num_classes: int = 2):
    """The from-scratch run's model, optimizer and loaders: the backbone with random weights,
    batch norm whose running averages follow at ``bn_momentum`` (EfficientNet's own 0.01 is too
    slow for a few dozen steps), trained at ``image_size`` pixels on random crops of at least
    ``crop_scale`` of each photo, tested on the centre crop; with ``zero_head`` the head starts
    at zero, so the first loss is exactly ln(classes) (random features times a random head
    start it higher). Returns ``(model, optimizer, train_loader, test_loader)``."""
    from torchvision.transforms import v2

    from course_utils.data.photos import AugmentedLoader, make_loaders

    model = build(backbone, pretrained=False, num_classes=num_classes)
    model.image_size = image_size
    if zero_head:
        for layer in model.head.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.zeros_(layer.weight)
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.momentum = bn_momentum
    model = model.to(device, memory_format=preferred_memory_format(device))
    groups = param_groups(model, lr, 1.0)
    opt = (make_adam(groups, lr=lr, weight_decay=weight_decay) if optimizer == "adam"
           else make_sgd(groups, lr=lr, momentum=0.9, weight_decay=weight_decay))
    train_loader, test_loader = make_loaders(train, test, batch_size, mean=mean, std=std, test_batch_size=64,
                                             device=device, seed=seed, size=image_size,
                                             resize=round(image_size * 256 / 224))
    train_loader = AugmentedLoader(train, batch_size, mean=mean, std=std, seed=seed, device=device,
                                   transform=v2.Compose([v2.RandomResizedCrop(image_size, scale=(crop_scale, 1.0),
                                                                              antialias=True),
                                                         v2.RandomHorizontalFlip()]))
    return model, opt, train_loader, test_loader


def estimate_strategies(strategies, train_loader, epochs: int, seeds: int, *, backbone: str, lr: dict,
                        scratch: dict | None = None, train=None, test=None, mean=None, std=None,
                        num_classes: int = 2, device="cpu"):
    """One measured forecast for training every strategy once per seed (and the scratch run),
    from a few steps of each (see :func:`course_utils.estimate.estimate_fit`)."""
    from course_utils.estimate import Estimate, estimate_fit

    total = Estimate("all the strategies' runs", 0.0, 0.0, 0, 0.0, 0, str(device), "EPOCHS or SEEDS")
    for strategy in strategies:
        model, opt = make_run(strategy, backbone, lr=lr[strategy], num_classes=num_classes, device=device)
        est = estimate_fit(model, train_loader, opt, epochs, amp=True, measure_steps=pick(2, 1))
        total.seconds += est.seconds * seeds
        total.steps += est.steps * seeds
        total.measured_steps += est.measured_steps
    if scratch is not None:
        settings = dict(scratch)
        scratch_epochs = settings.pop("epochs")
        model, opt, loader, _ = scratch_run(train, test, backbone, mean=mean, std=std, device=device,
                                            num_classes=num_classes, **settings)
        est = estimate_fit(model, loader, opt, scratch_epochs, measure_steps=pick(2, 1))
        total.seconds += est.seconds * seeds
        total.steps += est.steps * seeds
        total.measured_steps += est.measured_steps
    total.step_seconds = total.seconds / max(total.steps, 1)
    return total
