"""Where the course runs: the device and what runs fast on it (mixed precision, memory layout),
seeding and a timer. ``COURSE_DEVICE`` is read by :mod:`course_utils.settings`."""

from __future__ import annotations

import functools
import random
import time
from pathlib import Path

import numpy as np
import torch

from course_utils import settings
from course_utils.settings import SettingError

#: Device names :func:`get_device` accepts (with an optional ``:index`` for cuda).
DEVICE_CHOICES = ("cpu", "cuda", "mps")


# ------------------------------------------------------------------------------ the device
def available_devices() -> list[str]:
    """The devices this machine can run on, best first (``cuda:0`` ... , ``mps``, ``cpu``)."""
    found = []
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cuda"]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def check_device(value: str, source: str = "device") -> torch.device:
    """``value`` (e.g. ``"cpu"``, ``"CUDA"``, ``"cuda:1"``) as a device that exists here, or a
    :class:`SettingError` naming the choices and what this machine has."""
    name = value.strip().lower()
    have = ", ".join(available_devices())
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in DEVICE_CHOICES:
        raise SettingError(f"{source}={value!r} is not a device; choose one of "
                           f"{', '.join(DEVICE_CHOICES)} (cuda:N for the N-th GPU). "
                           f"Available here: {have}.")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingError(f"{source}={value!r}, but this machine has no CUDA GPU that torch "
                               f"can use (torch {torch.__version__}). Available here: {have}.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SettingError(f"{source}={value!r}, but this machine has "
                               f"{torch.cuda.device_count()} CUDA GPU(s). Available here: {have}.")
    if device.type == "mps" and "mps" not in available_devices():
        raise SettingError(f"{source}={value!r}, but Apple's MPS is not available here. "
                           f"Available here: {have}.")
    return device


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``prefer``, else ``COURSE_DEVICE``, else the best available
    (cuda, then mps, then cpu). A device that does not exist here raises
    :class:`~course_utils.settings.SettingError` with the choices."""
    if isinstance(prefer, torch.device):
        return check_device(str(prefer))
    if prefer:
        return check_device(prefer)
    env = settings.device_setting()
    if env:
        return check_device(env, "COURSE_DEVICE")
    return torch.device(available_devices()[0].split(":")[0])


# ----------------------------------------------------------------- what is fast on the device
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


def cuda_capability(device: torch.device | str) -> tuple[int, int]:
    """The CUDA device's compute capability, e.g. (7, 5) for a T4, (9, 0) for an H100."""
    return tuple(torch.cuda.get_device_capability(torch.device(device)))  # type: ignore[return-value]


def mixed_precision_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype that is correct and faster on ``device``, or None for float32.

    * CUDA from compute capability 8.0 (A100, RTX 30xx, H100): bfloat16, natively;
    * CUDA below 8.0 (T4, V100): float16 with a gradient scaler (cuDNN has no bfloat16
      convolutions there; ``torch.cuda.is_bf16_supported()`` says True because it counts
      emulation, so it is not asked);
    * Apple's MPS: None (float32): the safe choice until measured otherwise;
    * CPU: bfloat16 with native bfloat16 instructions (:func:`cpu_has_native_bf16`), else None.

    A float16 result needs a :class:`torch.amp.GradScaler` (:func:`needs_grad_scaler`).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if cuda_capability(device) >= (8, 0) else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """float16 gradients underflow without loss scaling; bfloat16 has float32's range."""
    return dtype == torch.float16


def preferred_memory_format(device: torch.device | str, amp: bool = False) -> torch.memory_format:
    """The memory layout in which convolutions run fastest on ``device``.

    channels-last on CPUs (oneDNN's native layout) and on CUDA tensor cores (compute
    capability 7.0 and up, when ``amp`` runs them in 16 bits, or 8.0 and up where float32
    uses TF32 too); the default contiguous layout on older GPUs in float32 (a T4 gains
    nothing) and on Apple's MPS (its convolution backward pass is much slower channels-last,
    and has had wrong-result bugs there)."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.channels_last
    if device.type == "cuda":
        cc = cuda_capability(device)
        if cc >= (8, 0) or (cc >= (7, 0) and amp and mixed_precision_dtype(device) is not None):
            return torch.channels_last
    return torch.contiguous_format


def prepare_model(model: torch.nn.Module, device: torch.device | str,
                  amp: bool = False) -> torch.nn.Module:
    """``model`` moved to ``device`` in :func:`preferred_memory_format` (for convnets)."""
    return model.to(torch.device(device), memory_format=preferred_memory_format(device, amp))


# --------------------------------------------------------------------------------- seeding
def set_seed(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe(device: torch.device | str, data_root: Path | str | None = None) -> str:
    """The line a notebook prints first: mode, device (with its mixed precision and memory
    layout) and the data root (``data_root`` when the notebook sets its own)."""
    dtype = mixed_precision_dtype(device)
    amp = str(dtype).replace("torch.", "") if dtype is not None else "float32"
    layout = "channels-last" if preferred_memory_format(device, True) == torch.channels_last else "contiguous"
    root = (settings.describe_data_root() if data_root is None or Path(data_root) == settings.data_root()
            else f"data root: {data_root} (set in this notebook)")
    return f"mode: {settings.mode()} | device: {device} (mixed precision: {amp}, layout: {layout}) | {root}"


# ------------------------------------------------------------------------------ the clock
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
