"""Training and evaluation loops that work for any classifier and any iterable of batches."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.runtime import mixed_precision_dtype, synchronize

LossFn = Callable[[Tensor, Tensor], Tensor]
History = dict[str, list]


def _autocast(device: torch.device, amp: bool):
    dtype = mixed_precision_dtype(device) if amp else None
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


def _forward(model: nn.Module, x: Tensor, tta_flip: bool) -> Tensor:
    """The model's outputs, or with ``tta_flip`` the mean of its outputs for the images and
    for their left-right mirror images (test-time augmentation)."""
    if not tta_flip:
        return model(x)
    return (model(x) + model(x.flip(3))) / 2


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    loss_fn: LossFn = F.cross_entropy,
    device: torch.device | str | None = None,
    amp: bool = False,
    tta_flip: bool = False,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` (model put in eval mode, then back).

    ``tta_flip`` averages each image's outputs with its mirror image's (test-time
    augmentation); ``amp`` as in :func:`fit`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    with _autocast(device, amp):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = _forward(model, x, tta_flip)
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
    tta_flip: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, predicted classes, labels)`` of ``model`` over every batch of ``loader``, in
    loader order (model put in eval mode, then back); ``tta_flip`` as in :func:`evaluate`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, labels = [], []
    with _autocast(device, amp):
        for x, y in loader:
            logits.append(_forward(model, x.to(device, non_blocking=True), tta_flip).float())
            labels.append(y.to(device, non_blocking=True))
    model.train(was_training)
    if not logits:
        raise ValueError("predict() got an empty loader")
    out = torch.cat(logits)
    return out, out.argmax(1), torch.cat(labels)


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class."""
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predictions.shape)} differ in shape")
    flat = labels.long().flatten() * num_classes + predictions.long().flatten()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).cpu()


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """Each class's accuracy (the diagonal over the row sums) from a confusion matrix."""
    return confusion.diag().float() / confusion.sum(1).clamp(min=1)


def fit(
    model: nn.Module,
    train_loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    *,
    loss_fn: LossFn = F.cross_entropy,
    test_loader: Iterable[tuple[Tensor, Tensor]] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train ``model`` for ``epochs`` and return its history.

    The history holds per-epoch lists (``epoch``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc``, ``seconds`` of training, ``eval_seconds``) and per-step lists (``step_loss``,
    ``step_acc``). ``scheduler`` is stepped after every batch (e.g. ``OneCycleLR``). ``amp``
    uses bfloat16 autocast where it pays (CUDA, and CPUs with native bfloat16 instructions:
    :func:`~course_utils.runtime.mixed_precision_dtype`) and is ignored elsewhere. Per-step
    numbers stay on the device until the epoch ends, so the loop never waits for the GPU.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    history: History = {k: [] for k in (
        "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "eval_seconds",
        "step_loss", "step_acc")}
    total = len(train_loader) if hasattr(train_loader, "__len__") else None
    for epoch in range(1, epochs + 1):
        model.train()
        synchronize(device)
        start = time.perf_counter()
        losses: list[Tensor] = []
        corrects: list[Tensor] = []
        sizes: list[int] = []
        bar = tqdm(train_loader, total=total, desc=f"{desc} {epoch}/{epochs}", disable=not progress,
                   leave=False, mininterval=0.5)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
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
        if test_loader is not None:
            start = time.perf_counter()
            result = evaluate(model, test_loader, loss_fn, device, amp)
            history["eval_seconds"].append(time.perf_counter() - start)
            history["test_loss"].append(result["loss"])
            history["test_acc"].append(result["acc"])
        if progress:
            line = (f"{desc} epoch {epoch}/{epochs}: train loss {history['train_loss'][-1]:.4f} "
                    f"acc {history['train_acc'][-1]:.4f}")
            if test_loader is not None:
                line += f", test loss {history['test_loss'][-1]:.4f} acc {history['test_acc'][-1]:.4f}"
            bar.write(line + f" ({seconds:.1f} s)")
    return history
