"""Notebook 05's fine-tuning: the schedule, the from-scratch recipe, the table over seeds, the forecast."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

from course_utils.optim import make_adam, make_sgd
from course_utils.settings import is_smoke
from course_utils.stats import mean_std


def cosine_decay(optimizer: torch.optim.Optimizer, total_steps: int,
                 warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Every group's learning rate times a half cosine from 1 down to 0.1 over ``total_steps`` (stepped
    per batch), after ``warmup`` steps rising linearly from 0.1."""
    def factor(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        t = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def rows_by_strategy(acc: dict[str, list[float]], n_test: int) -> Iterable[dict]:
    """Each strategy's mean, spread and range of test accuracy over the seeds, and the range in photos."""
    for strategy, values in acc.items():
        mean, std = mean_std(values)
        yield {"strategy": strategy, "mean": mean, "std": std, "min": min(values), "max": max(values),
               "spread in photos": round((max(values) - min(values)) * n_test)}


def scratch_run(model, train, test, *, mean, std, device, seed: int = 0, batch_size: int = 32,
                optimizer: str = "adam", lr: float = 3e-4, epochs: int = 24, image_size: int = 112,
                crop_scale: float = 0.5):
    """``(model, optimizer, train_loader, test_loader)`` to train ``model`` from scratch on random crops of
    ``image_size``; ``epochs`` is the caller's to use."""
    from torchvision.transforms import v2

    from course_utils.data.photos import AugmentedLoader, make_loaders

    model.image_size = image_size
    for layer in model.head.modules():   # a zero head: the first loss is exactly ln(classes)
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.zeros_(layer.weight)
    for layer in model.modules():   # EfficientNet's own 0.01 is too slow for a few dozen steps
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.momentum = 0.1
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (make_adam(params, lr=lr, weight_decay=0.0) if optimizer == "adam"
           else make_sgd(params, lr=lr, momentum=0.9, weight_decay=0.0))
    _, test_loader = make_loaders(train, test, batch_size, mean=mean, std=std, test_batch_size=64,
                                  device=device, seed=seed, size=image_size,
                                  resize=round(image_size * 256 / 224))
    crop = v2.RandomResizedCrop(image_size, scale=(crop_scale, 1.0), antialias=True)
    train_loader = AugmentedLoader(train, batch_size, mean=mean, std=std, seed=seed, device=device,
                                   transform=v2.Compose([crop, v2.RandomHorizontalFlip()]))
    return model, opt, train_loader, test_loader


def estimate_strategies(make_run: Callable, strategies, train_loader, epochs: int, seeds: int, *,
                        backbone: str, lr: dict, scratch: dict, train, test, mean, std, num_classes: int = 2,
                        device="cpu"):
    """One forecast for every strategy's runs (and the scratch run) from a few measured steps of each;
    ``make_run(strategy, backbone, lr=..., num_classes=..., device=...)`` is the notebook's."""
    from course_utils.estimate import Estimate, estimate_fit

    measure_steps = 1 if is_smoke() else 2
    runs = []
    for strategy in strategies:
        model, opt = make_run(strategy, backbone, lr=lr[strategy], num_classes=num_classes, device=device)
        runs.append(estimate_fit(model, train_loader, opt, epochs, amp=True, measure_steps=measure_steps))
    settings = dict(scratch)
    scratch_epochs = settings.pop("epochs")
    model, _ = make_run("scratch", backbone, lr=settings["lr"], num_classes=num_classes, device=device)
    model, opt, loader, _ = scratch_run(model, train, test, mean=mean, std=std, device=device, **settings)
    runs.append(estimate_fit(model, loader, opt, scratch_epochs, measure_steps=measure_steps))
    seconds, steps = sum(e.seconds * seeds for e in runs), sum(e.steps * seeds for e in runs)
    return Estimate("all the strategies' runs", seconds, seconds / max(steps, 1), steps, 0.0,
                    sum(e.measured_steps for e in runs), str(device), "EPOCHS or SEEDS")
