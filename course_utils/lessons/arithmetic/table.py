"""The formulas checked against PyTorch: input sizes explained, the layer table, the calculator."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.lessons.arithmetic.formulas import (
    _CONV, _POOL, FormulaMismatchError, _groups_error, conv_macs, conv_output_size, conv_params,
    describe_layer, expected_output_shape, first_tensor, layer_macs, layer_params, leaf_modules,
    min_input_size, shape_str, window)
from course_utils.results import format_table

MAX_SIZE = 2048   # the largest square input searched
_QUIET = ("ReLU", "ReLU6", "Dropout")   # same shape, no parameters, no MACs: not in the printed table


class InputSizeError(ValueError):
    """An input too small (or the wrong size) for a model: which layer, and which sizes work."""


class _LayerProblem(Exception):
    """A guard hook's finding; ``kind``: ``"small"`` (a larger input may fit), ``"big"`` or ``"channels"``."""

    def __init__(self, name: str, module: nn.Module, kind: str, detail: str):
        super().__init__(detail)
        self.name, self.module, self.kind = name, module, kind


def _guard(name: str):
    def check(module: nn.Module, args) -> None:
        x = first_tensor(args)
        if x is None:
            return
        shape = tuple(x.shape)
        if isinstance(module, nn.Linear) and shape[-1] != module.in_features:
            raise _LayerProblem(name, module, "small" if shape[-1] < module.in_features else "big",
                                f"expects {module.in_features:,} input features but gets {shape[-1]:,}")
        if isinstance(module, _CONV + _POOL):
            n = len(window(module)[0])
            if isinstance(module, _CONV) and shape[-n - 1] != module.in_channels:
                raise _LayerProblem(name, module, "channels",
                                    f"expects {module.in_channels} input channels but gets {shape[-n - 1]}")
            out = expected_output_shape(module, shape)
            if min(out) < 1:
                ceil = bool(getattr(module, "ceil_mode", False))
                need = tuple(min_input_size(*w, ceil) for w in zip(*window(module)))
                raise _LayerProblem(name, module, "small", f"gets a {shape_str(shape[1:])} map but needs at "
                                    f"least {shape_str(need)}: its output would be {shape_str(out[1:])}")
    return check


def _guarded_meta(model: nn.Module) -> nn.Module:
    """A meta-device copy of ``model`` whose conv, pool and linear layers check their input first."""
    memo: dict = {}
    for t in list(model.parameters()) + list(model.buffers()):
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    meta = copy.deepcopy(model, memo).eval()
    for name, m in leaf_modules(meta):
        m.register_forward_pre_hook(_guard(name))
    return meta


def _probe(meta: nn.Module, shape: tuple[int, ...]) -> Exception | None:
    """None if the guarded meta model runs on ``shape`` (batch included), else the problem."""
    try:
        with torch.no_grad():
            meta(torch.empty(shape, device="meta"))
    except Exception as problem:  # a _LayerProblem, the model's own check, or an unguarded operation
        return problem
    return None


def _first(works: Callable[[int], bool], lo: int, hi: int) -> int:
    """The smallest ``n`` in ``[lo, hi)`` for which ``works`` (monotone) holds, else ``hi``."""
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid + 1, hi)
    return lo


def smallest_square_input(meta: nn.Module, prefix: tuple[int, ...]) -> tuple[int, int] | None:
    """The smallest and largest ``n`` (``MAX_SIZE``: and all larger) for ``prefix + (n, n)``, or None."""
    def status(n: int) -> str:
        p = _probe(meta, prefix + (n, n))
        return "ok" if p is None else "small" if isinstance(p, _LayerProblem) and p.kind == "small" else "bad"

    big_enough = _first(lambda n: status(n) != "small", 1, MAX_SIZE + 1)
    first = next((n for n in range(big_enough, min(big_enough + 256, MAX_SIZE) + 1) if status(n) == "ok"),
                 None)
    if first is None:
        return None
    return first, _first(lambda n: status(n) != "ok", first + 1, MAX_SIZE + 1) - 1


def input_size_error(model: nn.Module, input_shape: Sequence[int]) -> InputSizeError | None:
    """Why ``model`` cannot take ``input_shape`` (no batch dimension), or None if it can or size is not it."""
    if any(p.is_meta for p in model.parameters()):   # the diagnosis's own copy: no diagnosis inside one
        return None
    input_shape = tuple(int(s) for s in input_shape)
    meta = _guarded_meta(model)
    problem = _probe(meta, (1,) + input_shape)
    if not isinstance(problem, _LayerProblem):
        return None
    layer = f"{type(problem.module).__name__} {describe_layer(problem.module)}"
    where = (f"{getattr(model, 'display_name', type(model).__name__)} cannot take a {shape_str(input_shape)} "
             f"input: layer {problem.name} ({layer}) {problem}.")
    if problem.kind == "channels":
        return InputSizeError(where)
    found = smallest_square_input(meta, (1,) + input_shape[:-2]) if len(input_shape) >= 3 else None
    if found is None:
        return InputSizeError(f"{where} No square input up to {MAX_SIZE}x{MAX_SIZE} works.")
    low, high = found
    smallest = input_shape[:-2] + (low, low)
    span = (" (and any larger)" if high >= MAX_SIZE else
            f" (square sizes {low} to {high} work)" if high > low else "")
    return InputSizeError(f"{where} The smallest input that works is {shape_str(smallest)}{span}.")


@dataclass
class LayerRow:
    """One call of one leaf layer: shapes without the batch, ``params`` on its first call only, ``macs``
    per image, ``checked``: a formula gave the shape; ``label``: conv1, pool1, ..., fc6."""

    name: str
    type: str
    config: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    checked: bool
    label: str = ""


@dataclass
class LayerTable:
    """The layer table of one model for one input shape (see :func:`layer_table`)."""

    model: str
    input_shape: tuple[int, ...]
    rows: list[LayerRow]
    total_params: int
    total_macs: int

    def row(self, key: str) -> LayerRow:
        """The first row labelled (``conv5``) or named (``features.10``) ``key``."""
        found = next((r for r in self.rows if key in (r.label, r.name)), None)
        if found is None:
            raise KeyError(f"no layer labelled or named {key!r} in the table of {self.model}")
        return found

    def weighted(self) -> list[LayerRow]:
        return [r for r in self.rows if r.params]

    def share_by_type(self) -> dict[str, dict[str, float]]:
        """Fraction of all parameters and of all MACs in each layer type (Conv2d, Linear...)."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            d = out.setdefault(r.type, {"params": 0, "macs": 0})
            d["params"] += r.params / max(self.total_params, 1)
            d["macs"] += r.macs / max(self.total_macs, 1)
        return {t: d for t, d in out.items() if d["params"] or d["macs"]}


def _label(rows: list[LayerRow]) -> None:
    """AlexNet's names: conv and linear layers numbered by first call, pools and norms after the last."""
    n, weighted = 0, {}
    for r in rows:
        if r.type.startswith("Conv") or r.type == "Linear":
            if r.name not in weighted:
                n += 1
                weighted[r.name] = f"{'conv' if r.type.startswith('Conv') else 'fc'}{n}"
            r.label = weighted[r.name]
        else:
            r.label = ("avgpool" if "AdaptiveAvgPool" in r.type else f"pool{n}" if "Pool" in r.type
                       else f"norm{n}" if "Norm" in r.type else "flatten" if r.type == "Flatten" else "")


def layer_table(model: nn.Module, input_shape: Sequence[int]) -> LayerTable:
    """Each leaf layer call of ``model`` (eval mode) on a random ``input_shape`` input (no batch); numbers
    off the formulas or FlopCounterMode raise FormulaMismatchError, a wrong input size InputSizeError."""
    input_shape = tuple(int(s) for s in input_shape)
    calls = []

    def hook(name: str):
        def record(module: nn.Module, args, output) -> None:
            x, y = first_tensor(args), first_tensor(output)
            if x is not None and y is not None:
                calls.append((name, module, tuple(x.shape), tuple(y.shape)))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in leaf_modules(model)]
    param = next(model.parameters(), None)
    x = torch.randn(1, *input_shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None and param.is_floating_point() else None)
    modes = {m: m.training for m in model.modules()}   # each module's own mode, restored after
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model.eval()(x)
    except RuntimeError as err:
        clear = input_size_error(model, input_shape)
        if clear is None:
            raise
        raise clear from err
    finally:
        for m, training in modes.items():
            m.training = training
        for h in handles:
            h.remove()

    rows, seen = [], set()
    for name, module, in_shape, out_shape in calls:
        expected = expected_output_shape(module, in_shape)
        if expected is not None and expected != out_shape:
            raise FormulaMismatchError(
                f"{name} ({type(module).__name__} {describe_layer(module)}): the formula gives "
                f"{shape_str(expected[1:])} for a {shape_str(in_shape[1:])} input, the forward pass gave "
                f"{shape_str(out_shape[1:])}")
        rows.append(LayerRow(name, type(module).__name__, describe_layer(module), in_shape[1:], out_shape[1:],
                             layer_params(module) if name not in seen else 0,
                             layer_macs(module, out_shape), expected is not None))
        seen.add(name)
    _label(rows)
    outside = sum(p.numel() for p in model.parameters()) - sum(r.params for r in rows)
    if outside:  # parameters held by a non-leaf module itself, or by a layer that never ran
        rows.append(LayerRow("(parameters outside the leaf layers that ran)", "", "", (), (), outside, 0,
                             False))

    flops = {key.partition(".")[2]: sum(ops.values()) for key, ops in counter.get_flop_counts().items()
             if "." in key}
    macs: dict[str, int] = {}
    for r in rows:
        if r.type.startswith("Conv") or r.type == "Linear":
            macs[r.name] = macs.get(r.name, 0) + r.macs
    for name, m in macs.items():
        if flops.get(name, 0) != 2 * m:
            raise FormulaMismatchError(f"{name}: the formula gives {m:,} MACs ({2 * m:,} FLOPs) but "
                                       f"FlopCounterMode counted {flops.get(name, 0):,} FLOPs")
    return LayerTable(getattr(model, "display_name", type(model).__name__), input_shape, rows,
                      sum(r.params for r in rows), sum(r.macs for r in rows))


def format_layer_table(table: LayerTable, *, labels: bool = True, names: Sequence[str] | None = None,
                       totals: bool = True) -> str:
    """The table as text without its ReLU and Dropout rows: ``names`` keeps only rows whose name starts
    with one of them, ``totals`` adds the model's; a last line says what was checked."""
    rows = [{**({"layer": r.label} if labels else {}), "name": r.name, "type": r.type, "config": r.config,
             "output": shape_str(r.output_shape), "params": r.params, "MACs": r.macs} for r in table.rows
            if r.type not in _QUIET and (names is None or r.name.startswith(tuple(names)))]
    if totals:
        rows.append({**({"layer": "total"} if labels else {}), "name": "" if labels else "total", "type": "",
                     "config": "", "output": "", "params": table.total_params, "MACs": table.total_macs})
    hidden = sorted({r.type for r in table.rows if r.type in _QUIET})
    checked = sum(r.checked for r in table.rows)
    note = (f"input {shape_str(table.input_shape)}; {checked} of {len(table.rows)} output shapes checked "
            f"against their formula; conv and linear MACs agree with FlopCounterMode "
            f"(FLOPs = 2 x MACs)" + (f"; {', '.join(hidden)} rows hidden (same shape, no parameters, no MACs)"
                                     if hidden else ""))
    return format_table(rows) + "\n" + note


def side_by_side(tables: dict[str, LayerTable]) -> list[dict]:
    """One row per conv, pool, flatten and fc layer with each model's output shape, then the totals."""
    kinds = ("conv", "pool", "flatten", "fc")
    order = list(dict.fromkeys(r.label for t in tables.values() for r in t.rows if r.label.startswith(kinds)))
    rows = []
    for label in order:
        row = {"layer": label}
        for name, t in tables.items():
            try:
                row[name] = shape_str(t.row(label).output_shape)
            except KeyError:  # no Flatten module (torch.flatten in forward): the first linear layer's input
                fc = next((r for r in t.rows if r.type == "Linear"), None)
                row[name] = shape_str(fc.input_shape) if label == "flatten" and fc else "-"
        rows.append(row)
    return rows + [{"layer": "params", **{n: t.total_params for n, t in tables.items()}},
                   {"layer": "MACs", **{n: t.total_macs for n, t in tables.items()}}]


# ----------------------------------------------------------------- the layer calculator


@dataclass
class LayerResult:
    """What the calculator says about one layer; ``error`` (and no numbers) when there is no valid output."""

    layer: str
    input: str
    output: str | None = None
    params: int | None = None
    macs: int | None = None
    formula: str = ""
    checked: str = ""
    error: str | None = None

    def lines(self) -> list[str]:
        head = f"{self.layer} on a {self.input} input"
        if self.error:
            return [head, f"no valid output: {self.error}"]
        return [head, f"output: {self.output}   ({self.formula})",
                f"parameters: {self.params:,}   multiply-accumulates: {self.macs:,}", self.checked]


def calculate_layer(kind: str = "conv", size: int = 224, in_channels: int = 3, out_channels: int = 64,
                    kernel: int = 11, stride: int = 4, padding: int = 2, dilation: int = 1,
                    groups: int = 1) -> LayerResult:
    """Output, parameters and MACs of a square ``nn.Conv2d`` or ``nn.MaxPool2d`` by the formulas, checked
    against the real layer on the meta device; invalid settings give a result whose ``error`` says why."""
    if kind not in ("conv", "maxpool"):
        raise ValueError(f"kind must be 'conv' or 'maxpool', got {kind!r}")
    conv = kind == "conv"
    extra = (f", dilation {dilation}" if dilation != 1 else "") + (
        f", groups {groups}" if conv and groups != 1 else "")
    name = (f"Conv2d({in_channels}, {out_channels}, kernel {kernel}" if conv else
            f"MaxPool2d(kernel {kernel}") + f", stride {stride}, padding {padding}{extra})"
    result = LayerResult(name, shape_str((in_channels, size, size)))
    problems = []
    if min(size, in_channels, kernel, stride, dilation, groups) < 1 or padding < 0 or (
            conv and out_channels < 1):
        problems.append("every setting must be at least 1 (padding at least 0)")
    if conv and (in_channels % groups or out_channels % groups):
        problems.append(_groups_error(in_channels, out_channels, groups))
    if not conv and padding > kernel // 2:
        problems.append(f"a pool may pad at most half its window: padding {padding} > {kernel} // 2")
    span = dilation * (kernel - 1) + 1
    if not problems and size + 2 * padding < span:
        problems.append(f"the window spans {span} pixels (dilation x (kernel - 1) + 1) but the padded input "
                        f"has only {size + 2 * padding} (size + 2 x padding)")
    if problems:
        result.error = "; ".join(problems)
        return result
    out = conv_output_size(size, kernel, stride, padding, dilation)
    out_ch = out_channels if conv else in_channels
    result.output = shape_str((out_ch, out, out))
    result.formula = f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}"
    result.params = conv_params(in_channels, out_channels, kernel, groups) if conv else 0
    result.macs = conv_macs(in_channels, out_channels, kernel, out, groups) if conv else 0
    layer = (nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups, device="meta")
             if conv else nn.MaxPool2d(kernel, stride, padding, dilation))
    with FlopCounterMode(display=False) as counter:
        real = tuple(layer(torch.empty(1, in_channels, size, size, device="meta")).shape[1:])
    real_params, real_macs = sum(p.numel() for p in layer.parameters()), counter.get_total_flops() // 2
    agree = (real == (out_ch, out, out) and real_params == result.params
             and (not conv or real_macs == result.macs))
    result.checked = (f"checked against a real nn.{type(layer).__name__}: output {shape_str(real)}, "
                      f"{real_params:,} parameters" + (f", {real_macs:,} MACs" if conv else "")
                      + (": the formulas agree." if agree else ": THE FORMULAS DISAGREE."))
    return result
