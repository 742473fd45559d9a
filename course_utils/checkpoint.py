"""Checkpoints that survive interruptions: written atomically, verified when loaded.

A checkpoint is one ``torch.save`` file holding a checksum and the serialised state (model,
optimizer, epoch, history, anything extra). It is written to a temporary file in the same
folder, flushed to disk, then renamed over the old one, so an interrupted write leaves the
previous checkpoint as it was. Loading checks the checksum and that the state fits the model.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "course_utils.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or does not fit the model it is loaded into."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files that an interrupted save of ``path`` left behind (a process
    killed mid-write, e.g. ``kill -9`` or a Colab disconnect); return them. Files of a save
    still running in another live process are kept."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or _pid_alive(int(pid))):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(
    path: Path | str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    epoch: int = 0,
    history: dict | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model (and optimizer) state, ``epoch``, ``history`` and ``extra`` to ``path``
    atomically; return ``path``."""
    path = Path(path)
    state = {"model": model.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
             "epoch": int(epoch), "history": history or {}, "extra": extra or {}}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    outer = io.BytesIO()
    torch.save({"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(),
                "payload": payload}, outer)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_file(tmp, outer.getvalue())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path | str, map_location: torch.device | str = "cpu") -> dict:
    """The verified state stored at ``path`` (keys ``model``, ``optimizer``, ``epoch``,
    ``history``, ``extra``). Raises :class:`CheckpointError` when it is missing or damaged."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage, foreign pickle...
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated and cannot be read "
                              f"({type(exc).__name__}). Delete it, or train again.") from None
    if not isinstance(outer, dict) or outer.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a course_utils checkpoint (written by save_checkpoint)")
    payload = outer["payload"]
    if hashlib.sha256(payload).hexdigest() != outer["sha256"]:
        raise CheckpointError(f"checkpoint {path} is corrupt: its checksum does not match its "
                              f"contents. Delete it, or train again.")
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)


def load_checkpoint(
    path: Path | str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: torch.device | str | None = None,
) -> dict:
    """Load the checkpoint at ``path`` into ``model`` (and ``optimizer``); return the whole
    verified state. A state that does not fit the model raises :class:`CheckpointError`
    naming the mismatched parameters."""
    if map_location is None:
        map_location = next(model.parameters()).device
    state = read_checkpoint(path, map_location)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {exc}") from None
    if optimizer is not None:
        if state["optimizer"] is None:
            raise CheckpointError(f"checkpoint {path} holds no optimizer state to resume from")
        saved, given = state.get("optimizer_class"), type(optimizer).__name__
        if saved is not None and saved != given:
            raise CheckpointError(f"checkpoint {path} holds the state of a {saved} optimizer, and "
                                  f"it was given a {given}: build the same optimizer as the run "
                                  f"that saved it (or resume without its optimizer state).")
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path}'s optimizer state does not fit this "
                                  f"{given} optimizer ({type(exc).__name__}: {exc}): it was saved "
                                  f"from another optimizer or other parameter groups.") from None
    return state


def extend_history(before: dict, after: dict) -> dict:
    """One history from a run and its resumed continuation (epochs renumbered to follow on)."""
    done = len(before.get("epoch", []))
    merged = {k: list(v) for k, v in before.items()}
    for key, values in after.items():
        values = [e + done for e in values] if key == "epoch" else list(values)
        merged[key] = merged.get(key, []) + values
    return merged
