import os
import random

import numpy as np
import pytest
import torch

from course_utils import device as dev, settings
from course_utils.settings import SettingError
from course_utils.training import Placement


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine with one CUDA GPU of the compute capability the test sets."""
    cc = {"value": (7, 5)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: cc["value"])
    return cc


def test_get_device_prefers_given_then_env(monkeypatch, no_gpu):
    assert dev.get_device("cpu") == torch.device("cpu")
    assert dev.get_device("CPU ") == torch.device("cpu")   # case and spaces forgiven
    monkeypatch.setenv("COURSE_DEVICE", "CPU")
    assert dev.get_device() == torch.device("cpu")          # in the variable too
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")


def test_get_device_falls_back_to_cpu(monkeypatch, no_gpu):
    assert dev.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert dev.get_device() == torch.device("cuda")


@pytest.mark.parametrize("value, message", [
    ("garbage", r"'garbage' is not a device; choose one of cpu, cuda, mps .*Available here: cpu\."),
    ("cuda", r"'cuda', but this machine has no CUDA GPU .*Available here: cpu\."),
    ("cuda:1", r"'cuda:1', but this machine has no CUDA GPU"),
    ("mps", r"'mps', but Apple's MPS is not available here\. Available here: cpu\."),
    ("xla", r"'xla' is not a device"),
])
def test_bad_device_settings_name_the_choices(monkeypatch, no_gpu, value, message):
    with pytest.raises(SettingError, match=message):
        dev.get_device(value)
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(SettingError, match="COURSE_DEVICE=" + message):
        dev.get_device()


def test_cuda_index_beyond_the_gpus_is_refused(fake_cuda):
    assert dev.get_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SettingError, match="has 1 CUDA GPU"):
        dev.get_device("cuda:1")


def test_set_seed_repeats_python_numpy_torch():
    def draw():
        dev.set_seed(123)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()
    dev.set_seed(124)
    assert torch.rand(1).item() != draw()[2]


@pytest.mark.parametrize("value,smoke", [("1", True), ("true", True), ("YES", True), ("on", True),
                                         ("0", False), ("", False), ("false", False), (" off ", False)])
def test_smoke_switch(monkeypatch, value, smoke):
    monkeypatch.setenv("COURSE_SMOKE", value)
    assert settings.is_smoke() is smoke
    assert settings.mode() == ("smoke" if smoke else "full")
    assert settings.pick(10, 1) == (1 if smoke else 10)


@pytest.mark.parametrize("value", ["2", "y", "smoke", "-1"])
def test_unrecognised_smoke_value_is_an_error_not_full_mode(monkeypatch, value):
    monkeypatch.setenv("COURSE_SMOKE", value)
    with pytest.raises(SettingError, match=f"COURSE_SMOKE='{value}' is neither on nor off"):
        settings.is_smoke()


def test_timer_accumulates():
    t = dev.Timer()
    with t:
        pass
    t.start()
    assert t.stop() >= 0 and len(t.times) == 2
    with pytest.raises(RuntimeError):
        t.stop()


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16),    # T4: no bf16 in cuDNN
                                               ((7, 0), torch.float16),    # V100
                                               ((8, 0), torch.bfloat16),   # A100
                                               ((8, 6), torch.bfloat16),   # RTX 30xx
                                               ((9, 0), torch.bfloat16)])  # H100
def test_cuda_precision_by_compute_capability(fake_cuda, monkeypatch, capability, dtype):
    fake_cuda["value"] = capability
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # a T4 says so too
    assert dev.mixed_precision_dtype("cuda") == dtype
    where = Placement(torch.device("cpu"), dev.mixed_precision_dtype("cuda"), torch.contiguous_format)
    assert (where.scaler() is not None) is (dtype == torch.float16)


def test_cpu_and_mps_precision(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert dev.mixed_precision_dtype("cpu") is None
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert dev.mixed_precision_dtype("cpu") == torch.bfloat16
    assert dev.mixed_precision_dtype("mps") is None
    assert all(Placement(torch.device("cpu"), d, torch.contiguous_format).scaler() is None
               for d in (torch.bfloat16, None))


@pytest.mark.parametrize("capability, amp, layout", [
    ((7, 5), False, torch.contiguous_format),   # T4 in float32: no gain
    ((7, 5), True, torch.channels_last),        # T4 in float16: tensor cores
    ((6, 1), True, torch.contiguous_format),    # Pascal: no tensor cores
    ((8, 0), False, torch.channels_last),       # A100: TF32 tensor cores
    ((9, 0), True, torch.channels_last),
])
def test_memory_format_on_cuda(fake_cuda, capability, amp, layout):
    fake_cuda["value"] = capability
    assert dev.preferred_memory_format("cuda", amp) == layout


def test_memory_format_on_cpu_and_mps():
    assert dev.preferred_memory_format("cpu") == torch.channels_last
    assert dev.preferred_memory_format("mps", amp=True) == torch.contiguous_format


def test_cpu_bf16_flag_is_read_from_cpuinfo(tmp_path, monkeypatch):
    dev.cpu_has_native_bf16.cache_clear()
    real_path = dev.Path
    for flags, expected in [("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True),
                            ("fpu amx_bf16 amx_tile", True)]:
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(dev, "Path", lambda p, info=info: info if p == "/proc/cpuinfo" else real_path(p))
        dev.cpu_has_native_bf16.cache_clear()
        assert dev.cpu_has_native_bf16() is expected
    dev.cpu_has_native_bf16.cache_clear()


def test_describe_names_mode_device_and_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    line = dev.describe("cpu")
    assert line.startswith("mode: smoke | device: cpu") and f"data root: {tmp_path}" in line


def test_parallel_test_workers_use_one_thread_each():
    """conftest.py sets one thread per pytest-xdist worker before torch starts (two workers with
    two threads each on two cores run several times slower); a plugin that imports torch
    earlier would undo it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("not a pytest-xdist worker")
    assert torch.get_num_threads() == 1
