"""Training and evaluation loops; each call places the model once (:func:`place`)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from course_utils.models import eval_mode
from course_utils.device import mixed_precision_dtype, preferred_memory_format, synchronize

LossFn = Callable[[Tensor, Tensor], Tensor]
History = dict[str, list]
Batches = Iterable[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Placement:
    """The ``device``, autocast ``dtype`` (None: float32) and memory ``layout`` of one call."""

    device: torch.device
    dtype: torch.dtype | None
    layout: torch.memory_format

    def batch(self, x: Tensor) -> Tensor:
        """``x`` on the device, in the layout when it is a 4-D image batch."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.layout) if x.dim() == 4 else x

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for float16, whose small gradients underflow without one."""
        return torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None


def place(model: nn.Module, device: torch.device | str | None = None, amp: bool = False) -> Placement:
    """Decide the :class:`Placement` for ``model`` (by default on its own device) and convert it."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = mixed_precision_dtype(device) if amp else None
    convnet = any(isinstance(m, nn.Conv2d) for m in model.modules())
    layout = preferred_memory_format(device, amp) if convnet else torch.contiguous_format
    model.to(device, memory_format=layout)
    return Placement(device, dtype, layout)


def train_step(model: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: LossFn = F.cross_entropy, *, where: Placement,
               scaler: torch.amp.GradScaler | None = None) -> tuple[Tensor, Tensor, bool]:
    """One step on a placed batch: detached loss and logits, and whether the optimizer stepped."""
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


def tta_views(x: Tensor, kind: str) -> list[tuple[float, Tensor]]:
    """``(weight, view)`` pairs: the images, mirrored and (``"flip-translate"``) shifted one pixel."""
    if kind == "flip":
        return [(0.5, x), (0.5, x.flip(3))]
    if kind != "flip-translate":
        raise ValueError(f"tta must be one of None, 'flip', 'flip-translate', got {kind!r}")
    h, w = x.shape[2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[:, :, :h, :w], padded[:, :, 2:, 2:]]
    return [(0.25, x), (0.25, x.flip(3))] + [(0.125, v) for s in shifted for v in (s, s.flip(3))]


@torch.inference_mode()
def _outputs(model: nn.Module, loader: Batches, where: Placement,
             tta: str | None) -> list[tuple[Tensor, Tensor]]:
    """``(float logits, labels)`` per batch, in eval mode (then back), averaged over the TTA views."""
    out = []
    with eval_mode(model), where.autocast():
        for x, y in loader:
            x = where.batch(x)
            logits = (model(x).float() if tta is None else
                      sum(w * model(where.batch(v)).float() for w, v in tta_views(x, tta)))
            out.append((logits, y.to(where.device, non_blocking=True)))
    return out


def evaluate(model: nn.Module, loader: Batches, loss_fn: LossFn = F.cross_entropy,
             device: torch.device | str | None = None, amp: bool = False,
             tta: str | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode (then back)."""
    return _evaluate(model, loader, loss_fn, place(model, device, amp), tta)


def _evaluate(model: nn.Module, loader: Batches, loss_fn: LossFn, where: Placement,
              tta: str | None = None) -> dict[str, float]:
    outputs = _outputs(model, loader, where, tta)
    n = sum(y.shape[0] for _, y in outputs)
    if n == 0:
        raise ValueError("evaluate() got an empty loader")
    with torch.inference_mode():
        loss = sum(loss_fn(logits, y) * y.shape[0] for logits, y in outputs)
        correct = sum((logits.argmax(1) == y).sum() for logits, y in outputs)
    return {"loss": float(loss) / n, "acc": int(correct) / n, "n": n}


def predict(model: nn.Module, loader: Batches, device: torch.device | str | None = None, amp: bool = False,
            tta: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, predicted classes, labels)`` over ``loader``, in its order, in eval mode (then back)."""
    outputs = _outputs(model, loader, place(model, device, amp), tta)
    if not outputs:
        raise ValueError("predict() got an empty loader")
    logits = torch.cat([o for o, _ in outputs])
    return logits, logits.argmax(1), torch.cat([y for _, y in outputs])


def right_per_image(model: nn.Module, loader: Batches, *, amp: bool = False,
                    tta: str | None = None) -> Tensor:
    """Per image of ``loader``, whether ``model`` gets it right: a bool tensor on the CPU."""
    _, guesses, labels = predict(model, loader, amp=amp, tta=tta)
    return (guesses == labels).cpu()


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class."""
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predictions.shape)} "
                         f"differ in shape")
    flat = labels.long().flatten() * num_classes + predictions.long().flatten()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).cpu()


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """Each class's accuracy (the diagonal over the row sums) from a confusion matrix."""
    return confusion.diag().float() / confusion.sum(1).clamp(min=1)


def ema_model(model: nn.Module, decay: float = 0.99) -> AveragedModel:
    """A moving average of ``model``'s weights and buffers, decay ``min(decay, (1 + n) / (10 + n))``."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must be between 0 and 1, got {decay}")

    @torch.no_grad()
    def average(averaged: list[Tensor], current: list[Tensor], n: Tensor | int) -> None:
        """Called once per device and dtype; integer buffers (batch counts) are copied."""
        d = min(decay, (1 + int(n)) / (10 + int(n)))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1.0 - d)
        else:
            for a, c in zip(averaged, current):
                a.copy_(c)
    return AveragedModel(model, multi_avg_fn=average, use_buffers=True)


def _interval(scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau,
              interval: str | None) -> str:
    """``"batch"`` or ``"epoch"``: as given; by default ``"batch"`` for schedules counted in steps
    (OneCycleLR, CyclicLR), ``"epoch"`` for ReduceLROnPlateau; any other must be told."""
    plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
    if interval is None and isinstance(scheduler, (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)):
        return "batch"
    if interval is None and plateau or interval == "epoch":
        return "epoch"
    if interval == "batch" and plateau:
        raise ValueError("ReduceLROnPlateau watches a per-epoch metric: use scheduler_interval='epoch'")
    if interval != "batch":
        raise ValueError(
            f"fit() does not know whether to step {type(scheduler).__name__} per batch or per epoch "
            f"(scheduler_interval={interval!r}): pass scheduler_interval='epoch' (e.g. the seed's "
            f"StepLR(step_size=10) = every 10 epochs) or 'batch' (a schedule counted in steps).")
    return interval


def fit(model: nn.Module, train_loader: Batches, optimizer: torch.optim.Optimizer, epochs: int = 1, *,
        loss_fn: LossFn = F.cross_entropy, test_loader: Batches | None = None,
        scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None = None,
        scheduler_interval: str | None = None,
        ema: AveragedModel | None = None, device: torch.device | str | None = None, amp: bool = False,
        progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` for ``epochs``; the history has per-epoch lists and per-step ``step_loss``/``step_acc``
    (kept on the device until the epoch ends, so the loop never waits for the GPU)."""
    where = place(model, device, amp)
    if ema is not None:
        ema.module.to(where.device, memory_format=where.layout)
    interval = _interval(scheduler, scheduler_interval) if scheduler is not None else None
    scaler = where.scaler()
    keys = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "eval_seconds", "lr",
            "skipped_steps", "step_loss", "step_acc"]
    keys += ["ema_test_loss", "ema_test_acc"] if ema is not None else []
    history: History = {k: [] for k in keys}
    for epoch in range(1, epochs + 1):
        model.train()
        synchronize(where.device)
        start = time.perf_counter()
        steps = []
        bar = tqdm(train_loader, desc=f"{desc} {epoch}/{epochs}", disable=not progress, leave=False,
                   mininterval=0.5)
        for x, y in bar:
            y = y.to(where.device, non_blocking=True)
            loss, logits, stepped = train_step(model, where.batch(x), y, optimizer, loss_fn,
                                               where=where, scaler=scaler)
            if stepped and ema is not None:
                ema.update_parameters(model)
            if stepped and interval == "batch":
                scheduler.step()
            steps.append((loss, (logits.argmax(1) == y).sum(), y.shape[0], stepped))
        synchronize(where.device)
        seconds = time.perf_counter() - start
        losses, corrects, sizes, stepped = zip(*steps)
        step_loss = torch.stack(losses).float().cpu()
        step_correct = torch.stack(corrects).cpu()
        size = torch.tensor(sizes)
        history["step_loss"] += step_loss.tolist()
        history["step_acc"] += (step_correct / size).tolist()
        row = {"epoch": epoch, "train_loss": float((step_loss * size).sum() / size.sum()),
               "train_acc": float(step_correct.sum() / size.sum()), "seconds": seconds,
               "skipped_steps": stepped.count(False)}
        line = f"{desc} epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
        if test_loader is not None:
            start = time.perf_counter()
            for prefix, net in [("", model)] + ([("ema_", ema.module)] if ema is not None else []):
                result = _evaluate(net, test_loader, loss_fn, where)
                row[f"{prefix}test_loss"], row[f"{prefix}test_acc"] = result["loss"], result["acc"]
            row["eval_seconds"] = time.perf_counter() - start
            line += f", test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}"
            line += f" (EMA {row['ema_test_acc']:.4f})" if ema is not None else ""
        if interval == "epoch" and isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(row["test_loss"] if test_loader is not None else row["train_loss"])
        elif interval == "epoch":
            scheduler.step()
        row["lr"] = optimizer.param_groups[0]["lr"]
        for key, value in row.items():
            history[key].append(value)
        if progress:
            bar.write(line + f" ({seconds:.1f} s)")
    return history
