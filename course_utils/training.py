"""Training and evaluation loops that work for any classifier and any iterable of batches.

Where the model meets the batch, once per call of :func:`fit`, :func:`evaluate` or
:func:`predict` (:func:`place`): the device, the mixed precision
(:func:`course_utils.device.mixed_precision_dtype`: bfloat16, or float16 with a gradient
scaler on GPUs without bfloat16) and the memory layout (channels-last for a model with 2-D
convolutions where :func:`course_utils.device.preferred_memory_format` says it is faster);
the model is converted once, each batch as it arrives, so loaders and notebooks never name a
layout. Every training step is :func:`train_step`. Learning-rate schedulers are stepped per
batch or per epoch as asked; an averaged copy of the weights (EMA) can be kept along; and
evaluation can average several views of each test image (test-time augmentation).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from course_utils.models import eval_mode
from course_utils.device import mixed_precision_dtype, needs_grad_scaler, preferred_memory_format, synchronize

LossFn = Callable[[Tensor, Tensor], Tensor]
History = dict[str, list]
#: Schedulers whose ``total_steps`` make them per-batch by construction.
PER_BATCH = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)
#: Test-time augmentation: the views whose outputs are averaged.
TTA_KINDS = (None, "flip", "flip-translate")


@dataclass(frozen=True)
class Placement:
    """How a model meets its batches, decided once per call: the ``device``, the autocast
    ``dtype`` (None: float32) and the memory ``layout`` of the model and of 4-D batches."""

    device: torch.device
    dtype: torch.dtype | None
    layout: torch.memory_format

    def batch(self, x: Tensor) -> Tensor:
        """``x`` on the device, in the layout when it is a 4-D image batch."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.layout) if x.dim() == 4 else x

    def autocast(self):
        """``torch.autocast`` in :attr:`dtype`, or a no-op for float32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def place(model: nn.Module, device: torch.device | str | None = None, amp: bool = False) -> Placement:
    """Decide the :class:`Placement` for ``model`` (``device``: by default the model's own;
    ``amp``: use the device's mixed precision) and move and convert ``model`` to it, in place."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = mixed_precision_dtype(device) if amp else None
    convnet = any(isinstance(m, nn.Conv2d) for m in model.modules())
    layout = preferred_memory_format(device, amp) if convnet else torch.contiguous_format
    model.to(device, memory_format=layout)
    return Placement(device, dtype, layout)


def train_step(model: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: LossFn = F.cross_entropy, *, where: Placement,
               scaler: torch.amp.GradScaler | None = None) -> tuple[Tensor, Tensor, bool]:
    """One training step on the batch ``(x, y)`` (already placed by ``where.batch``): forward
    and loss under ``where``'s autocast, ``zero_grad``, backward, optimizer step (through the
    gradient ``scaler`` for float16). Returns the loss and the logits (detached) and whether the
    optimizer stepped (a scaler skips a step whose gradients overflowed, and lowers its scale)."""
    with where.autocast():
        logits = model(x)
        loss = loss_fn(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
        return loss.detach(), logits.detach(), True
    scale = scaler.get_scale()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), logits.detach(), scaler.get_scale() >= scale


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
    return [(0.25, x), (0.25, x.flip(3))] + [(0.125, v) for s in shifted for v in (s, s.flip(3))]


@torch.inference_mode()
def _outputs(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]], where: Placement,
             tta: str | None) -> list[tuple[Tensor, Tensor]]:
    """``(float logits, labels)`` per batch of ``loader``, in eval mode (then back), without
    gradients, the logits averaged over the TTA views when ``tta``."""
    out = []
    with eval_mode(model), where.autocast():
        for x, y in loader:
            x = where.batch(x)
            logits = (model(x).float() if tta is None else
                      sum(w * model(where.batch(v)).float() for w, v in tta_views(x, tta)))
            out.append((logits, y.to(where.device, non_blocking=True)))
    return out


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
    return _evaluate(model, loader, loss_fn, place(model, device, amp), tta)


def _evaluate(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]], loss_fn: LossFn,
              where: Placement, tta: str | None = None) -> dict[str, float]:
    outputs = _outputs(model, loader, where, tta)
    n = sum(y.shape[0] for _, y in outputs)
    if n == 0:
        raise ValueError("evaluate() got an empty loader")
    with torch.inference_mode():
        loss = sum(loss_fn(logits, y) * y.shape[0] for logits, y in outputs)
        correct = sum((logits.argmax(1) == y).sum() for logits, y in outputs)
    return {"loss": float(loss) / n, "acc": int(correct) / n, "n": n}


def predict(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str | None = None,
    amp: bool = False,
    tta: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, predicted classes, labels)`` of ``model`` over every batch of ``loader``, in
    loader order (model put in eval mode, then back); ``tta`` as in :func:`evaluate`."""
    outputs = _outputs(model, loader, place(model, device, amp), tta)
    if not outputs:
        raise ValueError("predict() got an empty loader")
    logits = torch.cat([o for o, _ in outputs])
    return logits, logits.argmax(1), torch.cat([y for _, y in outputs])


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
    where = place(model, device, amp)   # layout and precision: decided once, for every epoch
    if ema is not None:
        ema.module.to(where.device, memory_format=where.layout)
    interval = resolve_interval(scheduler, scheduler_interval) if scheduler is not None else None
    scaler = torch.amp.GradScaler(where.device.type) if needs_grad_scaler(where.dtype) else None
    history: History = {k: [] for k in (
        "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "eval_seconds",
        "lr", "skipped_steps", "step_loss", "step_acc")}
    if ema is not None:
        history.update(ema_test_loss=[], ema_test_acc=[])
    total = len(train_loader) if hasattr(train_loader, "__len__") else None
    for epoch in range(1, epochs + 1):
        model.train()
        synchronize(where.device)
        start = time.perf_counter()
        losses: list[Tensor] = []
        corrects: list[Tensor] = []
        sizes: list[int] = []
        skipped = 0
        bar = tqdm(train_loader, total=total, desc=f"{desc} {epoch}/{epochs}", disable=not progress,
                   leave=False, mininterval=0.5)
        for x, y in bar:
            y = y.to(where.device, non_blocking=True)
            loss, logits, stepped = train_step(model, where.batch(x), y, optimizer, loss_fn,
                                               where=where, scaler=scaler)
            skipped += not stepped
            if stepped:
                if ema is not None:
                    ema.update_parameters(model)
                if scheduler is not None and interval == "batch":
                    scheduler.step()
            losses.append(loss)
            corrects.append((logits.argmax(1) == y).sum())
            sizes.append(y.shape[0])
        synchronize(where.device)
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
            result = _evaluate(model, test_loader, loss_fn, where)
            history["test_loss"].append(result["loss"])
            history["test_acc"].append(result["acc"])
            if ema is not None:
                averaged = _evaluate(ema.module, test_loader, loss_fn, where)
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
