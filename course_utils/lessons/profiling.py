"""Where a training step spends its time: a few steps under ``torch.profiler``, summed by
operation (convolution forward and backward, batch norm, activation, pooling, ...)."""

from __future__ import annotations

import contextlib
import copy
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from course_utils.data.loader import ImageData
from course_utils.device import preferred_memory_format
from course_utils.training import autocast_context


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what the profiler's C++ side prints on file descriptor 2 (start/stop lines,
    a failed GPU probe on machines without one)."""
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
    """The ``top`` operations of ``steps`` training steps of a copy of ``model`` (SGD, mixed
    precision as in :func:`course_utils.training.fit`), with their share of the time."""
    device = torch.device(device)
    twin = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD([p for p in twin.parameters() if p.requires_grad], lr=1e-3)
    x, y = next(iter(data.loader(batch_size, shuffle=True, seed=0,
                                 memory_format=preferred_memory_format(device, amp=True))))

    def step() -> None:
        with autocast_context(device, True):
            loss = F.cross_entropy(twin(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()   # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with _quiet_native_stderr(), profile(activities=activities) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, attr) for e in events) or 1
    rows = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    return [{"operation": e.key.removeprefix("aten::"), "calls per step": e.count // steps,
             "ms per step": round(getattr(e, attr) / 1000 / steps, 1),
             "share": f"{getattr(e, attr) / total:.0%}"} for e in rows]
