"""Notebook 03's reshaped-VGG recipe (after airbench), every ingredient a switch for :func:`ablation`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data.augment import random_translate_flip
from course_utils.data.loader import ImageData
from course_utils.estimate import Estimate, estimate_fit
from course_utils.models.cifar import FastVGG
from course_utils.optim import make_sgd
from course_utils.device import set_seed
from course_utils.training import History, ema_model, fit, right_per_image

#: What takes each ingredient out of the recipe.
INGREDIENTS = {
    "augmentation": {"augment": False},             # no shifts, no mirror images
    "batch norm": {"batchnorm": False},             # no batch norm (the convs get biases)
    "schedule": {"schedule": False},                # a constant learning rate at the peak
    "label smoothing": {"label_smoothing": 0.0},    # hard targets
    "whitening": {"whitening": False},              # a trainable, randomly initialised first layer
    "weight averaging": {"ema_decay": None},        # the trained weights, not their moving average
    "test-time augmentation": {"tta": None},        # each test image once, not 6 views averaged
}


@dataclass(frozen=True)
class FastRecipe:
    """How :func:`train_fast` trains a ``FastVGG`` (or the ``model_fn`` it is given)."""

    epochs: int = 10
    batch_size: int = 512
    lr: float = 0.75                  #: peak learning rate at batch 512 (scaled with the batch)
    momentum: float = 0.85
    weight_decay: float = 1.33e-3     #: PyTorch's coupled weight decay (per step: lr x this)
    bias_lr_factor: float = 64.0      #: batch-norm shifts learn this much faster
    label_smoothing: float = 0.2
    augment: bool = True
    batchnorm: bool = True
    schedule: bool = True
    whitening: bool = True
    ema_decay: float | None = 0.98    #: None: no weight averaging
    tta: str | None = "flip-translate"
    widths: tuple[int, ...] = (64, 256, 256)

    def without(self, ingredient: str) -> "FastRecipe":
        if ingredient not in INGREDIENTS:
            raise ValueError(f"unknown ingredient {ingredient!r}; choose one of {', '.join(INGREDIENTS)}")
        return replace(self, **INGREDIENTS[ingredient])


@dataclass
class FastRun:
    """A trained net: ``model`` (the weights' moving average, if any), ``raw_model`` (the trained weights)."""

    model: nn.Module
    raw_model: nn.Module
    history: History
    acc: float
    acc_tta: float
    train_seconds: float
    right_tta: torch.Tensor | None = field(default=None, repr=False)

    def right(self, test: ImageData, *, tta: str | None = None, raw: bool = False) -> torch.Tensor:
        """Per test image (bool, CPU, in order), whether ``model`` (or ``raw_model``) gets it right."""
        return right_per_image(self.raw_model if raw else self.model, test.loader(1000), amp=True, tta=tta)


#: ``model_fn(widths, batchnorm=...)``, with an ``init_whitening(images)`` method.
ModelFn = Callable[..., nn.Module]


def build_fast(train: ImageData, recipe: FastRecipe, device: torch.device | str, seed: int,
               model_fn: ModelFn = FastVGG) -> nn.Module:
    """The net of ``recipe``, whitened from 5,000 random training images (not the first: sorted by class)."""
    set_seed(seed)
    model = model_fn(recipe.widths, batchnorm=recipe.batchnorm)
    if recipe.whitening:
        sample, _ = next(iter(train.loader(5000, shuffle=True, seed=seed)))
        model.init_whitening(sample.cpu())
    return model.to(device)


def _setup(train: ImageData, recipe: FastRecipe, device: torch.device, seed: int, model_fn: ModelFn):
    model = build_fast(train, recipe, device, seed, model_fn)
    loader = train.loader(recipe.batch_size, shuffle=True, drop_last=True, seed=seed,
                          augment=random_translate_flip if recipe.augment else None)
    lr = recipe.lr * recipe.batch_size / 512
    shifts = [p for n, p in model.named_parameters() if p.requires_grad and "norm" in n]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and "norm" not in n]
    factor, decay = recipe.bias_lr_factor, recipe.weight_decay
    groups = [{"params": rest, "lr": lr, "weight_decay": decay}] + (
        [{"params": shifts, "lr": lr * factor, "weight_decay": decay / factor}] if shifts else [])
    optimizer = make_sgd(groups, lr=lr, momentum=recipe.momentum, nesterov=True)
    return model, loader, optimizer


def estimate_fast(train: ImageData, recipe: FastRecipe = FastRecipe(), *, device, seed: int = 0,
                  runs: int = 1, name: str = "FastVGG", shorten: str = "",
                  model_fn: ModelFn = FastVGG) -> Estimate:
    """How long ``runs`` trainings with ``recipe`` take, measured on a few steps of a throwaway net."""
    model, loader, optimizer = _setup(train, recipe, torch.device(device), seed, model_fn)
    est = estimate_fit(model, loader, optimizer, recipe.epochs, amp=True, name=name, shorten=shorten)
    est.seconds, est.steps = est.seconds * runs, est.steps * runs
    return est


def train_fast(train: ImageData, test: ImageData, recipe: FastRecipe = FastRecipe(), *,
               device: torch.device | str, seed: int = 0, monitor: ImageData | None = None,
               progress: bool = True, desc: str = "FastVGG", plain: bool = True,
               model_fn: ModelFn = FastVGG) -> FastRun:
    """Train a ``model_fn`` net with ``recipe``, testing on ``monitor`` every epoch and on ``test`` at the end
    (with ``plain=False`` only with the recipe's test-time augmentation)."""
    model, loader, optimizer = _setup(train, recipe, torch.device(device), seed, model_fn)
    scheduler = None
    if recipe.schedule:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=recipe.epochs * len(loader), pct_start=0.2, anneal_strategy="linear", div_factor=5.0,
            final_div_factor=1e4, three_phase=False, cycle_momentum=False)
    ema = ema_model(model, recipe.ema_decay) if recipe.ema_decay else None
    monitor_loader = monitor.loader(1000) if monitor is not None else None
    history = fit(model, loader, optimizer, recipe.epochs, test_loader=monitor_loader, scheduler=scheduler,
                  scheduler_interval="batch", ema=ema, amp=True, progress=progress, desc=desc,
                  loss_fn=partial(F.cross_entropy, label_smoothing=recipe.label_smoothing))
    final = ema.module if ema is not None else model
    run = FastRun(final, model, history, 0.0, 0.0, sum(history["seconds"]))
    run.right_tta = run.right(test, tta=recipe.tta)
    run.acc_tta = run.right_tta.float().mean().item()
    run.acc = run.right(test).float().mean().item() if recipe.tta and plain else run.acc_tta
    return run


@dataclass
class Ablation:
    """Per run (full recipe or an ingredient): accuracy per seed, seconds, per test image the share right."""

    acc: dict[str, list[float]]
    seconds: dict[str, float]
    right: dict[str, torch.Tensor]

    def mean(self, run: str) -> float:
        return sum(self.acc[run]) / len(self.acc[run])


#: The ingredients that need no extra training: read off the full recipe's run.
READ_OFF = ("weight averaging", "test-time augmentation")


def ablation(train: ImageData, test: ImageData, recipe: FastRecipe, ingredients, *, device,
             seeds: Sequence[int] = (0,), model_fn: ModelFn = FastVGG) -> Ablation:
    """Train the full ``recipe`` and the recipe without each of ``ingredients`` once per seed (tested with
    its test-time augmentation); the :data:`READ_OFF` ingredients are read off the full run."""
    acc: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    right: dict[str, list[torch.Tensor]] = {}

    def add(name: str, accuracy: float, train_seconds: float, per_image: torch.Tensor | None = None) -> None:
        acc.setdefault(name, []).append(accuracy)
        seconds[name] = seconds.get(name, 0.0) + train_seconds
        if per_image is not None:
            right.setdefault(name, []).append(per_image)

    for seed in seeds:
        full = train_fast(train, test, recipe, device=device, seed=seed, progress=False, desc="full recipe",
                          plain=False, model_fn=model_fn)
        add("full recipe", full.acc_tta, full.train_seconds, full.right_tta)
        for ingredient in ingredients:
            if ingredient in READ_OFF:
                r = (full.right(test) if ingredient == "test-time augmentation"
                     else full.right(test, tta=recipe.tta, raw=True))
                add(ingredient, r.float().mean().item(), 0.0, r)
            else:
                run = train_fast(train, test, recipe.without(ingredient), device=device, seed=seed,
                                 progress=False, desc=f"without {ingredient}", plain=False, model_fn=model_fn)
                add(ingredient, run.acc_tta, run.train_seconds)
    return Ablation(acc, seconds, {k: torch.stack(v).float().mean(0) for k, v in right.items()})
