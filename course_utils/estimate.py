"""How long will a training cell take on this device? Measured from its first batches."""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models import eval_mode
from course_utils.device import format_seconds, synchronize
from course_utils.settings import pick
from course_utils.training import Batches, LossFn, place, train_step


def fork_loader(loader):
    """A shallow copy of a course loader with copies of its random generators (the original's stay put)."""
    twin = copy.copy(loader)
    for name in ("generator", "aug_generator"):
        g = getattr(loader, name, None)
        if isinstance(g, torch.Generator):
            clone = torch.Generator(device=g.device)
            clone.set_state(g.get_state())
            setattr(twin, name, clone)
    return twin


@dataclass
class Estimate:
    """A measured forecast of a training run: ``seconds`` in all, training and testing."""

    name: str
    seconds: float
    step_seconds: float
    steps: int
    eval_seconds: float          #: one pass over the test loader
    measured_steps: int
    device: str
    shorten: str = ""            #: which parameter makes it shorter

    def describe(self) -> str:
        line = (f"{self.name}: about {format_seconds(self.seconds)} on {self.device} "
                f"({self.steps:,} steps of {self.step_seconds * 1000:.0f} ms, measured over "
                f"{self.measured_steps} batches, plus testing)")
        return line + (f"; to make it shorter, lower {self.shorten}" if self.shorten else "")


def estimate_fit(model: nn.Module, train_loader: Batches, optimizer: torch.optim.Optimizer, epochs: int, *,
                 test_loader: Batches | None = None, loss_fn: LossFn = F.cross_entropy, amp: bool = False,
                 device: torch.device | str | None = None, measure_steps: int | None = None,
                 name: str = "training", shorten: str = "") -> Estimate:
    """Time ``measure_steps`` training steps (4, smoke 1, after a warm-up step in full mode) and one test
    batch on copies of everything given, scaled to ``epochs`` epochs of :func:`~course_utils.training.fit`."""
    measure_steps = pick(4, 1) if measure_steps is None else measure_steps
    warmup_steps = pick(1, 0)
    twin, twin_opt = copy.deepcopy((model, optimizer))
    where = place(twin.train(), device, amp)
    n = warmup_steps + measure_steps   # round a short loader again, at most n times (an empty one)
    batches = itertools.chain.from_iterable(itertools.repeat(fork_loader(train_loader), n))
    scaler, times = where.scaler(), []
    synchronize(where.device)
    start = time.perf_counter()
    for i, (x, y) in zip(range(n), batches):
        train_step(twin, where.batch(x), y.to(where.device), twin_opt, loss_fn, where=where, scaler=scaler)
        synchronize(where.device)
        if i >= warmup_steps:
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
    if not times:
        raise ValueError("estimate_fit() got an empty loader")
    step = sorted(times)[len(times) // 2]  # the median: robust to one slow step
    eval_pass = 0.0
    if test_loader is not None:
        n_batches = len(test_loader) if hasattr(test_loader, "__len__") else 1
        x = where.batch(next(iter(fork_loader(test_loader)))[0])
        with torch.inference_mode(), eval_mode(twin), where.autocast():
            twin(x)  # warm-up
            synchronize(where.device)
            start = time.perf_counter()
            twin(x)
            synchronize(where.device)
        eval_pass = (time.perf_counter() - start) * n_batches
    steps = (len(train_loader) if hasattr(train_loader, "__len__") else measure_steps) * epochs
    return Estimate(name, step * steps + eval_pass * epochs, step, steps, eval_pass, len(times),
                    str(where.device), shorten)
