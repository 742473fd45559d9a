"""Where a training step spends its time: a few steps under ``torch.profiler``, summed by operation."""

from __future__ import annotations

import contextlib
import copy
import os
import sys

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from course_utils.data.loader import ImageData
from course_utils.training import place, train_step


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what the profiler's C++ side prints on file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def step_profile(model: nn.Module, data: ImageData, batch_size: int, *, device, steps: int = 3,
                 top: int = 8) -> list[dict]:
    """The ``top`` operations of ``steps`` SGD steps of a copy of ``model``, with their share of the time."""
    twin = copy.deepcopy(model).train()
    where = place(twin, device, amp=True)
    optimizer = torch.optim.SGD([p for p in twin.parameters() if p.requires_grad], lr=1e-3)
    x, y = next(iter(data.loader(batch_size, shuffle=True, seed=0, device=where.device)))
    x, y = where.batch(x), y.to(where.device)

    train_step(twin, x, y, optimizer, where=where)   # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if where.device.type == "cuda" else [])
    with _quiet_native_stderr(), profile(activities=activities) as prof:
        for _ in range(steps):
            train_step(twin, x, y, optimizer, where=where)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    attr = "self_device_time_total" if where.device.type == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, attr) for e in events) or 1
    rows = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    return [{"operation": e.key.removeprefix("aten::"), "calls per step": e.count // steps,
             "ms per step": round(getattr(e, attr) / 1000 / steps, 1),
             "share": f"{getattr(e, attr) / total:.0%}"} for e in rows]
