"""Where the course runs: device choice, seeding, smoke mode, paths and a timer."""

from __future__ import annotations

import functools
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

#: The repository root (the folder holding ``course_utils/``).
REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: cuda, then mps, then cpu.

    ``prefer`` (or the ``COURSE_DEVICE`` environment variable) forces a device,
    e.g. ``"cpu"`` on a machine with a GPU.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU has bfloat16 dot-product instructions (x86 ``avx512_bf16`` or
    ``amx_bf16``): there, convolutions run faster in bfloat16 than in float32. Without them
    bfloat16 is emulated and slower. Read from ``/proc/cpuinfo``; False where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def mixed_precision_dtype(device: torch.device | str) -> torch.dtype | None:
    """``torch.bfloat16`` where mixed precision pays on ``device`` (CUDA, and CPUs with native
    bfloat16 instructions), else None."""
    device = torch.device(device)
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return None


def set_seed(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def is_smoke() -> bool:
    """True when ``COURSE_SMOKE`` asks for the shrunken, minutes-long test run."""
    return os.environ.get("COURSE_SMOKE", "").strip().lower() in _TRUE


def mode() -> str:
    """``"smoke"`` or ``"full"``."""
    return "smoke" if is_smoke() else "full"


def data_root() -> Path:
    """The data cache: ``COURSE_DATA`` if set, else the repository's ``data/``."""
    env = os.environ.get("COURSE_DATA")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def pick(full, smoke):
    """Return ``smoke`` in smoke mode and ``full`` otherwise (for a notebook's parameters cell)."""
    return smoke if is_smoke() else full


class Timer:
    """Wall-clock stopwatch that can be started and stopped many times (after d2l's ``Timer``)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start: float | None = None

    def start(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def stop(self) -> float:
        """Stop and return the seconds since ``start``."""
        if self._start is None:
            raise RuntimeError("Timer.stop() called before start()")
        self.times.append(time.perf_counter() - self._start)
        self._start = None
        return self.times[-1]

    def sum(self) -> float:
        return float(sum(self.times))

    def __enter__(self) -> "Timer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work so that timings are honest (no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
