import random

import numpy as np
import pytest
import torch

from course_utils import runtime


def test_get_device_prefers_given_then_env(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")


def test_get_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_device() == torch.device("cuda")


def test_set_seed_repeats_python_numpy_torch():
    def draw():
        runtime.set_seed(123)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()
    runtime.set_seed(124)
    assert torch.rand(1).item() != draw()[2]


@pytest.mark.parametrize("value,smoke", [("1", True), ("true", True), ("0", False), ("", False)])
def test_smoke_switch(monkeypatch, value, smoke):
    monkeypatch.setenv("COURSE_SMOKE", value)
    assert runtime.is_smoke() is smoke
    assert runtime.mode() == ("smoke" if smoke else "full")
    assert runtime.pick(10, 1) == (1 if smoke else 10)


def test_data_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert runtime.data_root() == tmp_path.resolve()
    monkeypatch.delenv("COURSE_DATA")
    assert runtime.data_root() == runtime.REPO_ROOT / "data"


def test_timer_accumulates():
    t = runtime.Timer()
    with t:
        pass
    t.start()
    assert t.stop() >= 0 and len(t.times) == 2
    with pytest.raises(RuntimeError):
        t.stop()


def test_mixed_precision_only_where_it_pays(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    assert runtime.mixed_precision_dtype("cpu") is None
    assert runtime.mixed_precision_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert runtime.mixed_precision_dtype("cpu") == torch.bfloat16
    assert runtime.mixed_precision_dtype("mps") is None


def test_cpu_bf16_flag_is_read_from_cpuinfo(tmp_path, monkeypatch):
    runtime.cpu_has_native_bf16.cache_clear()
    real_path = runtime.Path
    for flags, expected in [("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True),
                            ("fpu amx_bf16 amx_tile", True)]:
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(runtime, "Path", lambda p, info=info: info if p == "/proc/cpuinfo" else real_path(p))
        runtime.cpu_has_native_bf16.cache_clear()
        assert runtime.cpu_has_native_bf16() is expected
    runtime.cpu_has_native_bf16.cache_clear()
