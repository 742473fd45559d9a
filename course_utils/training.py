"""Training and evaluation loops that work for any classifier and any iterable of batches.

Mixed precision follows :func:`course_utils.device.mixed_precision_dtype` (bfloat16, or
float16 with a gradient scaler on GPUs without bfloat16); learning-rate schedulers are stepped
per batch or per epoch as asked; an averaged copy of the weights (EMA) can be kept along; and
evaluation can average several views of each test image (test-time augmentation).
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from course_utils.device import mixed_precision_dtype, needs_grad_scaler, synchronize

LossFn = Callable[[Tensor, Tensor], Tensor]
History = dict[str, list]
#: Schedulers whose ``total_steps`` make them per-batch by construction.
PER_BATCH = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)
#: Test-time augmentation: the views whose outputs are averaged.
TTA_KINDS = (None, "flip", "flip-translate")


def autocast_context(device: torch.device, amp: bool):
    """``torch.autocast`` in the device's mixed precision when ``amp``, else a no-op."""
    dtype = mixed_precision_dtype(device) if amp else None
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


def tta_views(x: Tensor, kind: str | None) -> list[tuple[float, Tensor]]:
    """``(weight, view)`` pairs of a batch for test-time augmentation; the weights sum to 1.

    ``None``: the images; ``"flip"``: the images and their mirror images; ``"flip-translate"``:
    those two at half weight, plus both shifted one pixel up-left and one pixel down-right
    (reflect-padded), mirrored and not, at an eighth each."""
    if kind not in TTA_KINDS:
        raise ValueError(f"tta must be one of {TTA_KINDS}, got {kind!r}")
    if kind is None:
        return [(1.0, x)]
    mirror = [(0.5, x), (0.5, x.flip(3))]
    if kind == "flip":
        return mirror
    h, w = x.shape[2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[:, :, :h, :w], padded[:, :, 2:, 2:]]
    return ([(0.25, x), (0.25, x.flip(3))]
            + [(0.125, v.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
                memory_format=torch.channels_last) else v.contiguous()) for s in shifted
               for v in (s, s.flip(3))])


def _forward(model: nn.Module, x: Tensor, tta: str | None) -> Tensor:
    """The model's outputs, or the weighted mean of its outputs over the TTA views."""
    views = tta_views(x, tta)
    if len(views) == 1:
        return model(x)
    return sum(w * model(v).float() for w, v in views)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    loss_fn: LossFn = F.cross_entropy,
    device: torch.device | str | None = None,
    amp: bool = False,
    tta: str | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` (model put in eval mode, then back).

    ``tta`` averages each image's outputs over several views (:func:`tta_views`); ``amp`` as
    in :func:`fit`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    with autocast_context(device, amp):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = _forward(model, x, tta)
            loss_sum += loss_fn(logits.float(), y) * y.shape[0]
            correct += (logits.argmax(1) == y).sum()
            n += y.shape[0]
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got an empty loader")
    return {"loss": loss_sum.item() / n, "acc": correct.item() / n, "n": n}


@torch.inference_mode()
def predict(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str | None = None,
    amp: bool = False,
    tta: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, predicted classes, labels)`` of ``model`` over every batch of ``loader``, in
    loader order (model put in eval mode, then back); ``tta`` as in :func:`evaluate`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, labels = [], []
    with autocast_context(device, amp):
        for x, y in loader:
            logits.append(_forward(model, x.to(device, non_blocking=True), tta).float())
            labels.append(y.to(device, non_blocking=True))
    model.train(was_training)
    if not logits:
        raise ValueError("predict() got an empty loader")
    out = torch.cat(logits)
    return out, out.argmax(1), torch.cat(labels)


def right_per_image(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]], *, amp: bool = False,
                    tta: str | None = None) -> Tensor:
    """Per image of ``loader`` (in its order), whether ``model`` in eval mode gets it right: a
    bool tensor on the CPU, for paired comparisons (:func:`course_utils.stats.compare_paired`)."""
    _, guesses, labels = predict(model, loader, amp=amp, tta=tta)
    return (guesses == labels).cpu()


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class."""
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predictions.shape)} differ in shape")
    flat = labels.long().flatten() * num_classes + predictions.long().flatten()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).cpu()


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """Each class's accuracy (the diagonal over the row sums) from a confusion matrix."""
    return confusion.diag().float() / confusion.sum(1).clamp(min=1)


def ema_model(model: nn.Module, decay: float = 0.99, warmup: bool = True) -> AveragedModel:
    """An exponential moving average of ``model``'s weights and batch-norm statistics
    (torch's :class:`~torch.optim.swa_utils.AveragedModel`): after each step,
    ``average = d * average + (1 - d) * weights``. With ``warmup`` the decay grows as
    ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so that a short run's average is
    not dominated by the random initial weights. Pass it to :func:`fit` as ``ema``."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must be between 0 and 1, got {decay}")
    if not warmup:
        return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    @torch.no_grad()
    def average(averaged: list[Tensor], current: list[Tensor], n: Tensor | int) -> None:
        n = int(n)
        d = min(decay, (1 + n) / (10 + n))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - d)
        for a, c in zip(averaged, current):
            if not a.is_floating_point():
                a.copy_(c)
    return AveragedModel(model, multi_avg_fn=average, use_buffers=True)


def resolve_interval(scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau,
                       interval: str | None) -> str:
    """``"batch"`` or ``"epoch"``: ``interval`` when given; ``"batch"`` for schedulers built from
    a step count (OneCycleLR, CyclicLR); for any other a ValueError, because a StepLR(step_size=10)
    means 10 epochs in most code and 10 batches if stepped per batch."""
    if interval is not None:
        if interval not in ("batch", "epoch"):
            raise ValueError(f"scheduler_interval must be 'batch' or 'epoch', got {interval!r}")
        if interval == "batch" and isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            raise ValueError("ReduceLROnPlateau watches a per-epoch metric: use scheduler_interval='epoch'")
        return interval
    if isinstance(scheduler, PER_BATCH):
        return "batch"
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        return "epoch"
    raise ValueError(
        f"fit() does not know whether to step {type(scheduler).__name__} after every batch or "
        f"after every epoch: pass scheduler_interval='epoch' (e.g. the seed's StepLR(step_size=10) "
        f"= every 10 epochs) or scheduler_interval='batch' (a schedule counted in steps).")


def fit(
    model: nn.Module,
    train_loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    *,
    loss_fn: LossFn = F.cross_entropy,
    test_loader: Iterable[tuple[Tensor, Tensor]] | None = None,
    scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None = None,
    scheduler_interval: str | None = None,
    ema: AveragedModel | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train ``model`` for ``epochs`` and return its history.

    The history holds per-epoch lists (``epoch``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc``, ``seconds`` of training, ``eval_seconds``, ``lr`` at the epoch's end,
    ``skipped_steps`` by the gradient scaler, and with ``ema`` ``ema_test_loss``/``ema_test_acc``)
    and per-step lists (``step_loss``, ``step_acc``).

    ``scheduler`` is stepped after every batch or every epoch (``scheduler_interval``; see
    :func:`resolve_interval` for the default). ``ema`` (from :func:`ema_model`) is updated
    after every optimizer step. ``amp`` uses the device's mixed precision
    (:func:`~course_utils.device.mixed_precision_dtype`) and, for float16, a gradient scaler
    that skips steps whose gradients overflow. Per-step numbers stay on the device until the
    epoch ends, so the loop never waits for the GPU (except to read the scaler's verdict).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    interval = resolve_interval(scheduler, scheduler_interval) if scheduler is not None else None
    dtype = mixed_precision_dtype(device) if amp else None
    scaler = torch.amp.GradScaler(device.type) if needs_grad_scaler(dtype) else None
    history: History = {k: [] for k in (
        "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "eval_seconds",
        "lr", "skipped_steps", "step_loss", "step_acc")}
    if ema is not None:
        history.update(ema_test_loss=[], ema_test_acc=[])
    total = len(train_loader) if hasattr(train_loader, "__len__") else None
    for epoch in range(1, epochs + 1):
        model.train()
        synchronize(device)
        start = time.perf_counter()
        losses: list[Tensor] = []
        corrects: list[Tensor] = []
        sizes: list[int] = []
        skipped = 0
        bar = tqdm(train_loader, total=total, desc=f"{desc} {epoch}/{epochs}", disable=not progress,
                   leave=False, mininterval=0.5)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast_context(device, amp):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            stepped = True
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scale = scaler.get_scale()
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                stepped = scaler.get_scale() >= scale  # a lower scale: inf/nan found, step skipped
                skipped += not stepped
            if stepped:
                if ema is not None:
                    ema.update_parameters(model)
                if scheduler is not None and interval == "batch":
                    scheduler.step()
            losses.append(loss.detach())
            corrects.append((logits.detach().argmax(1) == y).sum())
            sizes.append(y.shape[0])
        synchronize(device)
        seconds = time.perf_counter() - start
        step_loss = torch.stack(losses).float().cpu()
        step_correct = torch.stack(corrects).cpu()
        size = torch.tensor(sizes)
        history["epoch"].append(epoch)
        history["step_loss"] += step_loss.tolist()
        history["step_acc"] += (step_correct / size).tolist()
        history["train_loss"].append(float((step_loss * size).sum() / size.sum()))
        history["train_acc"].append(float(step_correct.sum() / size.sum()))
        history["seconds"].append(seconds)
        history["skipped_steps"].append(skipped)
        if test_loader is not None:
            start = time.perf_counter()
            result = evaluate(model, test_loader, loss_fn, device, amp)
            history["test_loss"].append(result["loss"])
            history["test_acc"].append(result["acc"])
            if ema is not None:
                averaged = evaluate(ema.module, test_loader, loss_fn, device, amp)
                history["ema_test_loss"].append(averaged["loss"])
                history["ema_test_acc"].append(averaged["acc"])
            history["eval_seconds"].append(time.perf_counter() - start)
        if scheduler is not None and interval == "epoch":
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(history["test_loss"][-1] if test_loader is not None else history["train_loss"][-1])
            else:
                scheduler.step()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        if progress:
            line = (f"{desc} epoch {epoch}/{epochs}: train loss {history['train_loss'][-1]:.4f} "
                    f"acc {history['train_acc'][-1]:.4f}")
            if test_loader is not None:
                line += f", test loss {history['test_loss'][-1]:.4f} acc {history['test_acc'][-1]:.4f}"
            if ema is not None and test_loader is not None:
                line += f" (EMA {history['ema_test_acc'][-1]:.4f})"
            bar.write(line + f" ({seconds:.1f} s)")
    return history
