"""Where the course runs: the device and what runs fast on it, seeding and a timer."""

from __future__ import annotations

import functools
import random
import time
from pathlib import Path

import numpy as np
import torch

from course_utils import settings
from course_utils.settings import SettingError


def _available() -> list[str]:
    """This machine's devices, best first (``cuda:0`` ... , ``mps``, ``cpu``)."""
    found = []
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cuda"]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def check_device(value: str, source: str = "device") -> torch.device:
    """``value`` (e.g. ``"CUDA"``, ``"cuda:1"``) as a device that exists here, or a clear SettingError."""
    try:
        device = torch.device(value.strip().lower())
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        problem = " is not a device; choose one of cpu, cuda, mps (cuda:N for the N-th GPU)"
    elif device.type == "cuda" and not torch.cuda.is_available():
        problem = f", but this machine has no CUDA GPU that torch can use (torch {torch.__version__})"
    elif device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        problem = f", but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
    elif device.type == "mps" and "mps" not in _available():
        problem = ", but Apple's MPS is not available here"
    else:
        return device
    raise SettingError(f"{source}={value!r}{problem}. Available here: {', '.join(_available())}.")


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """``prefer``, else ``COURSE_DEVICE``, else the best available (cuda, mps, cpu), checked."""
    if prefer:
        return check_device(str(prefer))
    env = settings.given("COURSE_DEVICE")
    if env:
        return check_device(env, "COURSE_DEVICE")
    return torch.device(_available()[0].split(":")[0])


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether ``/proc/cpuinfo`` lists bfloat16 instructions (without, bfloat16 is slow)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.partition(":")[2] for line in text.splitlines() if line.startswith("flags")), "")
    return bool(set(flags.split()) & {"avx512_bf16", "amx_bf16"})


def mixed_precision_dtype(device: torch.device | str) -> torch.dtype | None:
    """The faster correct autocast dtype on ``device`` (None: float32): bfloat16 on CUDA 8.0+ and
    CPUs with native bfloat16; float16 below 8.0 (T4: cuDNN has no bfloat16 convolutions)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def preferred_memory_format(device: torch.device | str, amp: bool = False) -> torch.memory_format:
    """channels-last on CPUs and CUDA tensor cores (7.0+ in 16 bits, 8.0+ with TF32), else contiguous."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.channels_last
    if device.type == "cuda":
        cc = torch.cuda.get_device_capability(device)
        if cc >= (8, 0) or (cc >= (7, 0) and amp and mixed_precision_dtype(device) is not None):
            return torch.channels_last
    return torch.contiguous_format


def set_seed(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe(device: torch.device | str, data_root: Path | str | None = None) -> str:
    """The line a notebook prints first: mode, device (mixed precision, layout) and data root."""
    amp = str(mixed_precision_dtype(device) or torch.float32).replace("torch.", "")
    layout = "channels-last" if preferred_memory_format(device, True) == torch.channels_last else "contiguous"
    root = (settings.describe_data_root() if data_root is None or Path(data_root) == settings.data_root()
            else f"data root: {data_root} (set in this notebook)")
    return f"mode: {settings.mode()} | device: {device} (mixed precision: {amp}, layout: {layout}) | {root}"


def format_seconds(seconds: float | None) -> str:
    """``13.2 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Timer:
    """Wall-clock stopwatch started and stopped many times, each lap in ``times`` (after d2l's)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start: float | None = None

    def start(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def stop(self) -> float:
        if self._start is None:
            raise RuntimeError("Timer.stop() called before start()")
        self.times.append(time.perf_counter() - self._start)
        self._start = None
        return self.times[-1]

    def sum(self) -> float:
        return float(sum(self.times))

    __enter__ = start

    def __exit__(self, *exc) -> None:
        self.stop()


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work so that timings are honest (no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
