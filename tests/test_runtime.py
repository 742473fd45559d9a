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
