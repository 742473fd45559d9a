"""Checkpoints: the state and its checksum in one ``torch.save`` file, written atomically, verified."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.files import write_atomic

FORMAT = "course_utils.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or does not fit the model it is loaded into."""


_PLAIN = (type(None), bool, int, float, complex, str, bytes)   # what weights_only=True loads, with:
_TORCH_VALUES = (torch.Tensor, torch.dtype, torch.device, torch.Size)


def _loadable(value: Any, where: str) -> Any:
    """``value`` with numpy scalars as Python numbers; :class:`CheckpointError` naming ``where`` for
    anything else that is not plain data (a ``Path``, an array, an object)."""
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in _PLAIN or isinstance(value, _TORCH_VALUES):
        return value
    if isinstance(value, dict):
        return {_loadable(k, f"{where} key {k!r}"): _loadable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_loadable(v, f"{where}[{i}]") for i, v in enumerate(value))
    hint = ("torch.from_numpy(array) or array.tolist()" if isinstance(value, np.ndarray) else
            "str(path)" if isinstance(value, os.PathLike) else "numbers, strings, lists, dicts or tensors")
    raise CheckpointError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which a "
                          f"checkpoint cannot hold so that it loads safely (torch.load with "
                          f"weights_only=True); store plain data instead: {hint}. Nothing was written.")


def save_checkpoint(path: Path | str, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                    epoch: int = 0, history: dict | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write model (and optimizer) state, ``epoch``, ``history`` and ``extra`` to ``path`` atomically."""
    path = Path(path)
    state = {"model": model.state_dict(), "model_class": type(model).__name__,
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
             "epoch": int(epoch), "history": _loadable(history or {}, "history"),
             "extra": _loadable(extra or {}, "extra")}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    outer = io.BytesIO()
    torch.save({"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, outer)
    write_atomic(path, outer.getbuffer(), what=f"the checkpoint {path.name}")
    return path


def _read(path: Path, map_location: torch.device) -> dict:
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
        raise CheckpointError(f"checkpoint {path} is corrupt: its checksum does not match its contents. "
                              f"Delete it, or train again.")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # e.g. a value only a full unpickler could rebuild
        raise CheckpointError(f"checkpoint {path} holds something that cannot be loaded safely "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). It was written by "
                              f"another program or an older course_utils; save it again with "
                              f"save_checkpoint.") from None


def load_checkpoint(path: Path | str, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load the verified checkpoint at ``path`` into ``model`` (and ``optimizer``); return its state."""
    state = _read(Path(path), next(model.parameters()).device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        saved, given = state.get("model_class"), type(model).__name__
        if saved is not None and saved != given:
            raise CheckpointError(f"checkpoint {path} holds the weights of a {saved} model, and it was "
                                  f"given a {given}: build the same model as the run that saved it. "
                                  f"({exc})") from None
        raise CheckpointError(f"checkpoint {path} does not fit this {given} model: {exc}") from None
    if optimizer is not None:
        if state["optimizer"] is None:
            raise CheckpointError(f"checkpoint {path} holds no optimizer state to resume from")
        saved, given = state.get("optimizer_class"), type(optimizer).__name__
        if saved is not None and saved != given:
            raise CheckpointError(f"checkpoint {path} holds the state of a {saved} optimizer, and it was "
                                  f"given a {given}: build the same optimizer as the run that saved it (or "
                                  f"resume without its optimizer state).")
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path}'s optimizer state does not fit this {given} optimizer "
                                  f"({type(exc).__name__}: {exc}): it was saved from another optimizer or "
                                  f"other parameter groups.") from None
    return state


def extend_history(before: dict, after: dict) -> dict:
    """One history from a run and its resumed continuation (epochs renumbered to follow on)."""
    done = len(before.get("epoch", []))
    merged = {k: list(v) for k, v in before.items()}
    for key, values in after.items():
        values = [e + done for e in values] if key == "epoch" else list(values)
        merged[key] = merged.get(key, []) + values
    return merged
