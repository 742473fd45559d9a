"""Inputs too small (or the wrong size) for a model: which layer fails, and the square input sizes
that work, found on PyTorch's meta device (shapes without data)."""

from __future__ import annotations

import contextvars
import copy
from typing import Callable, Sequence

import torch
from torch import nn

from course_utils.lessons.arithmetic.formulas import (_CONV, _POOL, SAME_SHAPE, describe_layer, first_tensor,
                                                      leaf_modules, min_input_size, shape_str, window,
                                                      window_output)

MAX_SIZE = 2048   # the largest square input searched


class InputSizeError(ValueError):
    """An input too small (or the wrong size) for a model; ``smallest``: None when no size helps."""

    def __init__(self, message: str, *, layer: str, smallest: tuple[int, ...] | None) -> None:
        super().__init__(message)
        self.layer, self.smallest = layer, smallest


class _LayerProblem(Exception):
    """A guard hook's finding: ``kind`` is ``"too_small"``, ``"features"`` or ``"channels"``."""

    def __init__(self, name: str, module: nn.Module, in_shape: tuple[int, ...], kind: str, detail: str):
        super().__init__(detail)
        self.name, self.module, self.in_shape, self.kind, self.detail = name, module, in_shape, kind, detail


_DIAGNOSING = contextvars.ContextVar("course_utils_diagnosing", default=False)   # no diagnosis inside one


def _guard(name: str):
    def check(module: nn.Module, args) -> None:
        x = first_tensor(args)
        shape = tuple(x.shape) if x is not None else None
        if shape is None:
            return
        if isinstance(module, nn.Linear) and shape[-1] != module.in_features:
            raise _LayerProblem(name, module, shape, "features",
                                f"expects {module.in_features:,} input features but gets {shape[-1]:,}")
        if isinstance(module, _CONV + _POOL):
            n = len(window(module)[0])
            if isinstance(module, _CONV) and shape[-n - 1] != module.in_channels:
                raise _LayerProblem(name, module, shape, "channels",
                                    f"expects {module.in_channels} input channels but gets {shape[-n - 1]}")
            out = window_output(module, shape[-n:])
            if min(out) < 1:
                ceil = bool(getattr(module, "ceil_mode", False))
                need = tuple(min_input_size(*w, ceil) for w in zip(*window(module)))
                channels = module.out_channels if isinstance(module, _CONV) else shape[-n - 1]
                raise _LayerProblem(name, module, shape, "too_small",
                                    f"gets a {shape_str(shape[1:])} map but needs at least {shape_str(need)}: "
                                    f"its output would be {shape_str((channels,) + out)}")
    return check


def _guarded_meta(model: nn.Module) -> nn.Module:
    """A meta-device copy of ``model`` whose conv, pool and linear layers check their input first."""
    memo: dict = {}
    for t in list(model.parameters()) + list(model.buffers()):
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    meta = copy.deepcopy(model, memo).eval()
    for name, m in leaf_modules(meta):
        if isinstance(m, SAME_SHAPE) and name:   # some are slow even on the meta device
            parent, _, child = name.rpartition(".")
            setattr(meta.get_submodule(parent), child, nn.Identity())
        else:
            m.register_forward_pre_hook(_guard(name))
    return meta


def _probe(meta: nn.Module, shape: tuple[int, ...]) -> Exception | None:
    """None if the guarded meta model runs on ``shape`` (batch included), else the problem."""
    token = _DIAGNOSING.set(True)
    try:
        with torch.no_grad():
            meta(torch.empty(shape, device="meta"))
    except Exception as problem:  # a _LayerProblem, the model's own check, or an unguarded operation
        return problem
    finally:
        _DIAGNOSING.reset(token)
    return None


def _first(works: Callable[[int], bool], lo: int, hi: int) -> int:
    """The smallest ``n`` in ``[lo, hi)`` for which ``works`` (monotone) holds, else ``hi``."""
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid + 1, hi)
    return lo


def smallest_square_input(meta: nn.Module, prefix: tuple[int, ...]) -> tuple[int, int] | None:
    """The smallest and largest ``n`` (``MAX_SIZE`` when all larger work) for which the guarded model
    runs on ``prefix + (n, n)``; None when none up to ``MAX_SIZE`` does."""
    def status(n: int) -> str:
        p = _probe(meta, prefix + (n, n))
        if p is None:
            return "ok"
        if isinstance(p, _LayerProblem) and (p.kind == "too_small" or (
                p.kind == "features" and p.in_shape[-1] < p.module.in_features)):
            return "small"
        return "other"

    big_enough = _first(lambda n: status(n) != "small", 1, MAX_SIZE + 1)
    first = next((n for n in range(big_enough, min(big_enough + 256, MAX_SIZE) + 1) if status(n) == "ok"), None)
    if first is None:
        return None
    return first, _first(lambda n: status(n) != "ok", first + 1, MAX_SIZE + 1) - 1


def input_size_error(model: nn.Module, input_shape: Sequence[int]) -> InputSizeError | None:
    """The :class:`InputSizeError` explaining why ``model`` cannot take ``input_shape`` (no batch
    dimension), or None if it can or a layer's size is not the reason."""
    if _DIAGNOSING.get():
        return None
    input_shape = tuple(int(s) for s in input_shape)
    meta = _guarded_meta(model)
    problem = _probe(meta, (1,) + input_shape)
    if not isinstance(problem, _LayerProblem):
        return None
    where = (f"{getattr(model, 'display_name', type(model).__name__)} cannot take a {shape_str(input_shape)} "
             f"input: layer {problem.name} ({type(problem.module).__name__} {describe_layer(problem.module)}) "
             f"{problem.detail}.")
    if problem.kind == "channels":
        return InputSizeError(where, layer=problem.name, smallest=None)
    found = smallest_square_input(meta, (1,) + input_shape[:-2]) if len(input_shape) >= 3 else None
    if found is None:
        return InputSizeError(f"{where} No square input up to {MAX_SIZE}x{MAX_SIZE} works.", layer=problem.name,
                              smallest=None)
    low, high = found
    smallest = input_shape[:-2] + (low, low)
    span = (" (and any larger)" if high >= MAX_SIZE else f" (square sizes {low} to {high} work)" if high > low else "")
    return InputSizeError(f"{where} The smallest input that works is {shape_str(smallest)}{span}.",
                          layer=problem.name, smallest=smallest)


def check_input(model: nn.Module, input_shape: Sequence[int]) -> None:
    """Raise :class:`InputSizeError` if ``input_shape`` (no batch dimension) does not fit ``model``."""
    err = input_size_error(model, input_shape)
    if err is not None:
        raise err
