from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import course_utils.lessons.checkpoint as ckpt
from course_utils.lessons.checkpoint import CheckpointError, extend_history, load_checkpoint, save_checkpoint


def net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))


def test_round_trip_with_optimizer(tmp_path):
    model = net(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "c.pt", model, opt, epoch=3, history={"test_acc": [0.5]},
                           extra={"strategy": "frozen"})
    other = net(1)
    other_opt = torch.optim.SGD(other.parameters(), lr=0.5, momentum=0.9)
    state = load_checkpoint(path, other, other_opt)
    assert state["epoch"] == 3 and state["history"] == {"test_acc": [0.5]}
    assert state["extra"]["strategy"] == "frozen"
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_opt.param_groups[0]["lr"] == 0.1 and other_opt.state_dict()["state"]


def test_interrupted_write_keeps_previous(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", net(0), epoch=1)
    before = path.read_bytes()

    def dies_halfway(p, data):
        p.write_bytes(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr("course_utils.files._write_file", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, net(1), epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left
    assert load_checkpoint(path, net(2))["epoch"] == 1


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_checkpoint_is_named(tmp_path, damage):
    path = save_checkpoint(tmp_path / "c.pt", net(0))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        i = data.find(b"PK", 600)  # somewhere inside the stored state
        i = len(data) // 2 if i < 0 else i
        data[i - 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.pt is corrupt"):
        load_checkpoint(path, net(0))


def test_wrong_model_and_missing_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", net(0))
    with pytest.raises(CheckpointError, match="holds the weights of a Sequential model, and it was given a Linear"):
        load_checkpoint(path, nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="does not fit this Sequential model"):
        load_checkpoint(path, nn.Sequential(nn.Linear(4, 3)))
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt", net(0))


def test_extend_history_renumbers_epochs():
    merged = extend_history({"epoch": [1, 2], "test_acc": [0.5, 0.6]}, {"epoch": [1], "test_acc": [0.7]})
    assert merged == {"epoch": [1, 2, 3], "test_acc": [0.5, 0.6, 0.7]}


def test_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    """kill -9 during a save: its hidden temporary stays; the next save of the same
    checkpoint cleans it up (a live writer's file is kept)."""
    import os
    import subprocess
    import sys
    path = save_checkpoint(tmp_path / "c.pt", net(0), epoch=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".c.pt.{dead.pid}.abc123.tmp"          # what a killed writer leaves
    stale.write_bytes(b"x" * 10_000)
    live = tmp_path / f".c.pt.{os.getppid()}.def456.tmp"       # a writer that is still running
    live.write_bytes(b"y")
    other = tmp_path / ".other.pt.999999.x.tmp"                # another checkpoint's: not ours
    other.write_bytes(b"z")
    save_checkpoint(path, net(1), epoch=2)
    assert not stale.exists() and live.exists() and other.exists()
    assert load_checkpoint(path, net(2))["epoch"] == 2


def test_optimizer_of_another_kind_is_named(tmp_path):
    model = net(0)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 4)).sum().backward()
    sgd.step()
    path = save_checkpoint(tmp_path / "c.pt", model, sgd)
    with pytest.raises(CheckpointError, match="holds the state of a SGD optimizer, and it was given a Adam"):
        load_checkpoint(path, net(1), torch.optim.Adam(net(1).parameters()))


@pytest.mark.parametrize("where, history, extra, converted", [
    ("history", {"acc": [np.float64(0.5)]}, None, {"acc": [0.5]}),      # numpy scalars: converted
    ("extra", None, {"seed": np.int64(3), "lr": np.float32(0.5)}, {"seed": 3, "lr": 0.5}),
])
def test_numpy_scalars_are_stored_as_numbers_and_load_back(tmp_path, where, history, extra, converted):
    path = save_checkpoint(tmp_path / "c.pt", net(0), history=history, extra=extra)
    state = load_checkpoint(path, net(1))
    assert state[where] == converted and all(type(v) in (int, float, list) for v in state[where].values())


@pytest.mark.parametrize("extra, where, advice", [
    ({"folder": Path("x")}, r"extra\['folder'\] is a pathlib\.\w*Path", r"str\(path\)"),
    ({"mean": np.array([0.5])}, r"extra\['mean'\] is a numpy\.ndarray", r"torch\.from_numpy"),
    ({"runs": [{"when": slice(1, 2)}]}, r"extra\['runs'\]\[0\]\['when'\] is a builtins\.slice", "plain data"),
])
def test_what_cannot_be_loaded_safely_is_refused_at_save_time(tmp_path, extra, where, advice):
    """Before: saved without a word, then load_checkpoint failed with a raw UnpicklingError."""
    path = tmp_path / "c.pt"
    with pytest.raises(CheckpointError, match=f"{where}.*{advice}"):
        save_checkpoint(path, net(0), extra=extra)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_checkpoint_that_cannot_be_loaded_safely_is_a_checkpoint_error(tmp_path):
    """One written by an older course_utils (a numpy value inside): CheckpointError, never a raw
    UnpicklingError suggesting weights_only=False."""
    import hashlib
    import io
    buffer = io.BytesIO()
    torch.save({"model": net(0).state_dict(), "optimizer": None, "epoch": 1,
                "history": {"acc": [np.float64(0.5)]}, "extra": {}}, buffer)
    payload = buffer.getvalue()
    torch.save({"format": ckpt.FORMAT, "sha256": hashlib.sha256(payload).hexdigest(),
                "payload": payload}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="cannot be loaded safely") as info:
        load_checkpoint(tmp_path / "old.pt", net(1))
    assert "weights_only=False" not in str(info.value)
