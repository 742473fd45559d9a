"""Inputs too small (or the wrong size) for a model: which layer fails, and the smallest
square input that works, found on PyTorch's meta device (shapes without data)."""

from __future__ import annotations

import contextvars
import copy
from typing import Sequence

import torch
from torch import nn

from course_utils.lessons.arithmetic.formulas import (_AVGPOOL, _CONV, _MAXPOOL, _SAME_SHAPE, _first_tensor,
                                              _leaf_modules, _raw_window_output, _spatial_dims, _window,
                                              describe_layer, min_input_size, shape_str)

# ------------------------------------------------------- inputs too small for a model


class InputSizeError(ValueError):
    """An input too small (or of the wrong size) for a model: names the layer and the
    smallest square input that works."""

    def __init__(self, message: str, *, layer: str, smallest: tuple[int, ...] | None) -> None:
        super().__init__(message)
        self.layer, self.smallest = layer, smallest


class _LayerProblem(Exception):
    """Raised by the guard hooks inside a shape-only (meta device) forward pass."""

    def __init__(self, name: str, module: nn.Module, in_shape: tuple[int, ...], kind: str, detail: str):
        super().__init__(detail)
        self.name, self.module, self.in_shape, self.kind, self.detail = name, module, in_shape, kind, detail


_DIAGNOSING: contextvars.ContextVar[bool] = contextvars.ContextVar("course_utils_diagnosing", default=False)


def _meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every tensor on the meta device (shapes only, no memory)."""
    memo: dict = {}
    for t in list(model.parameters()) + list(model.buffers()):
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(model, memo).eval()


def _guard(name: str):
    def check(module: nn.Module, args) -> None:
        x = _first_tensor(args)
        if x is None:
            return
        shape = tuple(x.shape)
        if isinstance(module, nn.Linear) and shape[-1] != module.in_features:
            raise _LayerProblem(name, module, shape, "features",
                                f"expects {module.in_features:,} input features but gets {shape[-1]:,}")
        if isinstance(module, _CONV + _MAXPOOL + _AVGPOOL):
            n = _spatial_dims(module)
            if isinstance(module, _CONV) and shape[-n - 1] != module.in_channels:
                raise _LayerProblem(name, module, shape, "channels",
                                    f"expects {module.in_channels} input channels but gets {shape[-n - 1]}")
            out = _raw_window_output(module, shape[-n:])
            if min(out) < 1:
                kernel, stride, padding, dilation = _window(module)
                ceil = bool(getattr(module, "ceil_mode", False))
                need = tuple(min_input_size(*a, ceil) for a in zip(kernel, stride, padding, dilation))
                channels = module.out_channels if isinstance(module, _CONV) else shape[-n - 1]
                raise _LayerProblem(
                    name, module, shape, "too_small",
                    f"gets a {shape_str(shape[1:])} map but needs at least {shape_str(need)}: "
                    f"its output would be {shape_str((channels,) + out)}")
    return check


def _probe(meta: nn.Module, shape: tuple[int, ...]) -> _LayerProblem | Exception | None:
    """Run the guarded meta model on ``shape`` (batch included): None if it works."""
    token = _DIAGNOSING.set(True)
    try:
        with torch.no_grad():
            meta(torch.empty(shape, device="meta"))
    except _LayerProblem as problem:
        return problem
    except Exception as err:  # the model's own check, or an unguarded operation
        return err
    finally:
        _DIAGNOSING.reset(token)
    return None


def _guarded_meta(model: nn.Module) -> nn.Module:
    """A meta copy of ``model`` whose conv, pool and linear layers check their input first;
    layers that keep the shape become ``nn.Identity`` (some, like the local response norm,
    are slow even on the meta device)."""
    meta = _meta_copy(model)
    for name, m in _leaf_modules(meta):
        if isinstance(m, _SAME_SHAPE) and name:
            parent, _, child = name.rpartition(".")
            setattr(meta.get_submodule(parent) if parent else meta, child, nn.Identity())
        else:
            m.register_forward_pre_hook(_guard(name))
    return meta


def smallest_square_input(model: nn.Module, input_shape: Sequence[int], max_size: int = 2048,
                          _meta: nn.Module | None = None) -> tuple[int, int] | None:
    """The range ``(smallest, largest)`` of square sizes ``n`` for which ``model`` runs on an
    input of ``input_shape[:-2] + (n, n)``, searched on the meta device (no compute). The
    largest is ``max_size`` when every size from the smallest up works (an adaptive pool),
    ``None`` when no size up to ``max_size`` works."""
    meta = _meta if _meta is not None else _guarded_meta(model)
    prefix = (1,) + tuple(input_shape[:-2])

    def status(n: int) -> str:
        p = _probe(meta, prefix + (n, n))
        if p is None:
            return "ok"
        if isinstance(p, _LayerProblem) and p.kind == "too_small":
            return "small"
        if isinstance(p, _LayerProblem) and p.kind == "features":
            return "small" if p.in_shape[-1] < p.module.in_features else "large"
        return "other"

    # Conv and pool outputs, and so the width of a flatten, grow with the input: search for
    # the first size that is not too small, then for the last that still runs.
    hi = 1
    while status(hi) == "small":
        if hi >= max_size:
            return None
        hi = min(hi * 2, max_size)
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:
        mid = (lo + hi) // 2
        if status(mid) == "small":
            lo = mid + 1
        else:
            hi = mid
    first = hi
    if status(first) != "ok":  # not a size problem: look a little further, one size at a time
        first = next((n for n in range(first + 1, min(first + 256, max_size) + 1)
                      if status(n) == "ok"), None)
        if first is None:
            return None
    step, good = 1, first
    while good < max_size and status(min(good + step, max_size)) == "ok":
        good, step = min(good + step, max_size), step * 2
    bad = min(good + step, max_size)
    if good == max_size:
        return first, max_size
    while bad - good > 1:
        mid = (good + bad) // 2
        if status(mid) == "ok":
            good = mid
        else:
            bad = mid
    return first, good


def input_size_error(model: nn.Module, input_shape: Sequence[int]) -> InputSizeError | None:
    """The :class:`InputSizeError` that explains why ``model`` cannot take an input of
    ``input_shape`` (no batch dimension), or ``None`` if it can (or if the reason is not a
    layer's size: the model's own check, say). Runs on the meta device: no compute."""
    if _DIAGNOSING.get():
        return None
    input_shape = tuple(int(s) for s in input_shape)
    meta = _guarded_meta(model)
    problem = _probe(meta, (1,) + input_shape)
    if not isinstance(problem, _LayerProblem):
        return None
    where = (f"{getattr(model, 'display_name', type(model).__name__)} cannot take a {shape_str(input_shape)} input: layer "
             f"{problem.name} ({type(problem.module).__name__} {describe_layer(problem.module)}) "
             f"{problem.detail}.")
    if problem.kind == "channels":
        return InputSizeError(where, layer=problem.name, smallest=None)
    found = smallest_square_input(model, input_shape, _meta=meta) if len(input_shape) >= 3 else None
    if found is None:
        return InputSizeError(where + " No square input up to 2048x2048 works.", layer=problem.name,
                              smallest=None)
    low, high = found
    smallest = tuple(input_shape[:-2]) + (low, low)
    span = f" (square sizes {low} to {high} work)" if high > low and high < 2048 else (
        " (and any larger)" if high >= 2048 else "")
    return InputSizeError(where + f" The smallest input that works is {shape_str(smallest)}{span}.",
                          layer=problem.name, smallest=smallest)


def check_input(model: nn.Module, input_shape: Sequence[int]) -> None:
    """Raise :class:`InputSizeError` if an input of ``input_shape`` (no batch dimension) is too
    small, or the wrong size, for one of ``model``'s layers."""
    err = input_size_error(model, input_shape)
    if err is not None:
        raise err
