"""Layer arithmetic: output sizes, parameters and multiply-accumulates of conv, pool and linear
layers, by formula, and a layer table for any model that checks every formula against a real
forward pass.

The output-size formula (PyTorch's, for ``Conv*d`` and ``*Pool*d``), per spatial dimension::

    out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1

(pools with ``ceil_mode=True`` round up instead, but never start a window in the right padding).
A conv layer has ``out_ch * (in_ch / groups) * kh * kw`` weights plus ``out_ch`` biases and
spends that many multiply-accumulates (MACs) *per output position*; a linear layer has
``in * out + out`` parameters and ``in * out`` MACs per input vector. FLOPs = 2 x MACs.

:func:`layer_table` runs a model once (batch of one, eval mode, no grad) with forward hooks on
its leaf layers and returns a :class:`LayerTable`; :func:`format_layer_table` prints it.
:func:`check_input` explains an input that is too small (or the wrong size) for a model,
naming the layer and the smallest square input that works.
"""

from __future__ import annotations

import contextvars
import copy
import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence, Union

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.results import format_table

IntOrPair = Union[int, Sequence[int]]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVGPOOL = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: Leaf layers whose output has the shape of their input.
_SAME_SHAPE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
               nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.Identity,
               nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
               nn.LocalResponseNorm, nn.LayerNorm, nn.GroupNorm, *_NORM)
#: Rows :func:`format_layer_table` hides by default: same shape, no parameters, no MACs.
QUIET_TYPES = ("ReLU", "ReLU6", "Dropout")


# --------------------------------------------------------------------------- formulas


def _tuple(v: IntOrPair, n: int) -> tuple[int, ...]:
    """An int or a sequence as an n-tuple (``None`` entries, as in adaptive pools, kept)."""
    if isinstance(v, (tuple, list)):
        return tuple(None if x is None else int(x) for x in v)
    return (None if v is None else int(v),) * n


def _raw_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     ceil_mode: bool) -> int:
    """The formula without validation: PyTorch's ``pooling_output_shape`` / conv shape rule."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start inside the right padding
    return out


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length along one dimension of a conv or pool layer (floor division, or ceiling
    with ``ceil_mode`` as pools allow). Raises ``ValueError`` when the input is too small to
    give even one output (the message says the smallest size that works).

    >>> conv_output_size(224, kernel=11, stride=4, padding=2)   # AlexNet's conv1
    55
    """
    for name, v, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                         ("padding", padding, 0), ("dilation", dilation, 1)):
        if int(v) != v or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    out = _raw_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    if out < 1:
        raise ValueError(
            f"an input of size {size} is too small for a window of {kernel} (dilation {dilation}, "
            f"padding {padding}): the output would have size {out}; the smallest input is "
            f"{min_input_size(kernel, stride, padding, dilation, ceil_mode)}")
    return out


def min_input_size(kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                   ceil_mode: bool = False) -> int:
    """The smallest input length for which a conv or pool layer gives at least one output."""
    size = 1
    while _raw_output_size(size, kernel, stride, padding, dilation, ceil_mode) < 1:
        size += 1
    return size


def same_padding(kernel: int, dilation: int = 1) -> int:
    """The padding that keeps the size under a stride-1 conv with an odd ``kernel``."""
    span = dilation * (kernel - 1)
    if span % 2:
        raise ValueError(f"no symmetric padding keeps the size for an even window of {span + 1}")
    return span // 2


def conv_params(in_channels: int, out_channels: int, kernel: IntOrPair, groups: int = 1,
                bias: bool = True, dims: int = 2) -> int:
    """Weights ``out * (in / groups) * prod(kernel)`` plus ``out`` biases."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both channel counts "
                         f"({in_channels} in, {out_channels} out)")
    return out_channels * (in_channels // groups) * math.prod(_tuple(kernel, dims)) + (
        out_channels if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel: IntOrPair, out_size: IntOrPair,
              groups: int = 1, dims: int = 2) -> int:
    """Multiply-accumulates of a conv layer for one image: one weight per MAC, at every
    output position (``out_size`` is the output's spatial size, an int for a square map)."""
    per_position = out_channels * (in_channels // groups) * math.prod(_tuple(kernel, dims))
    return per_position * math.prod(_tuple(out_size, dims))


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """``in * out`` weights plus ``out`` biases."""
    return in_features * out_features + (out_features if bias else 0)


def linear_macs(in_features: int, out_features: int, positions: int = 1) -> int:
    """Multiply-accumulates of a linear layer applied to ``positions`` input vectors."""
    return in_features * out_features * positions


def stacked_receptive_field(n: int, kernel: int = 3) -> int:
    """Side of the input window seen by ``n`` stacked stride-1 ``kernel`` x ``kernel`` convs."""
    return n * (kernel - 1) + 1


# ------------------------------------------------------------- one layer, by its module


def _spatial_dims(module: nn.Module) -> int:
    name = type(module).__name__
    return 3 if name.endswith("3d") else 1 if name.endswith("1d") else 2


def _window(module: nn.Module) -> tuple[tuple[int, ...], ...] | None:
    """(kernel, stride, padding, dilation) per spatial dimension for conv and pool layers."""
    n = _spatial_dims(module)
    if isinstance(module, _CONV):
        pad = module.padding
        if isinstance(pad, str):  # 'valid' or 'same' (stride 1)
            k = _tuple(module.kernel_size, n)
            d = _tuple(module.dilation, n)
            pad = (0,) * n if pad == "valid" else tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        return (_tuple(module.kernel_size, n), _tuple(module.stride, n), _tuple(pad, n),
                _tuple(module.dilation, n))
    if isinstance(module, (_MAXPOOL + _AVGPOOL)):
        stride = module.stride if module.stride is not None else module.kernel_size
        dil = module.dilation if isinstance(module, _MAXPOOL) else 1
        return (_tuple(module.kernel_size, n), _tuple(stride, n), _tuple(module.padding, n),
                _tuple(dil, n))
    return None


def _raw_window_output(module: nn.Module, spatial: Sequence[int]) -> tuple[int, ...]:
    kernel, stride, padding, dilation = _window(module)
    ceil = bool(getattr(module, "ceil_mode", False))
    if isinstance(module, _CONV) and module.padding == "same":
        return tuple(spatial)
    return tuple(_raw_output_size(s, k, st, p, d, ceil)
                 for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation))


def describe_layer(module: nn.Module) -> str:
    """A short configuration string: ``11x11/4 p2`` (kernel/stride, padding), ``9216->4096``."""
    w = _window(module)
    if w is not None:
        kernel, stride, padding, dilation = w
        text = "x".join(map(str, kernel)) + ("/" + "x".join(map(str, sorted(set(stride))))
                                            if max(stride) > 1 else "")
        if max(padding):
            text += " p" + ",".join(map(str, sorted(set(padding))))
        if max(dilation) > 1:
            text += " d" + ",".join(map(str, sorted(set(dilation))))
        if isinstance(module, _CONV):
            text = f"{module.in_channels}->{module.out_channels} " + text
            if module.groups > 1:
                text += f" g{module.groups}"
        if getattr(module, "ceil_mode", False):
            text += " ceil"
        return text
    if isinstance(module, nn.Linear):
        return f"{module.in_features}->{module.out_features}"
    if isinstance(module, _ADAPTIVE):
        size = _tuple(module.output_size, _spatial_dims(module))
        return "to " + "x".join("any" if s is None else str(s) for s in size)
    return ""


def expected_output_shape(module: nn.Module, in_shape: Sequence[int]) -> tuple[int, ...] | None:
    """The output shape the layer's formula predicts for an input of ``in_shape`` (batch
    included), or ``None`` for a layer type without a formula here."""
    in_shape = tuple(in_shape)
    if isinstance(module, _CONV + _MAXPOOL + _AVGPOOL):
        n = _spatial_dims(module)
        channels = module.out_channels if isinstance(module, _CONV) else in_shape[-n - 1]
        return in_shape[:-n - 1] + (channels,) + _raw_window_output(module, in_shape[-n:])
    if isinstance(module, _ADAPTIVE):
        n = _spatial_dims(module)
        size = _tuple(module.output_size, n) if module.output_size is not None else (None,) * n
        return in_shape[:-n] + tuple(s if s is not None else i for s, i in zip(size, in_shape[-n:]))
    if isinstance(module, nn.Linear):
        return in_shape[:-1] + (module.out_features,)
    if isinstance(module, nn.Flatten):
        start = module.start_dim % len(in_shape)
        end = module.end_dim % len(in_shape)
        return in_shape[:start] + (math.prod(in_shape[start:end + 1]),) + in_shape[end + 1:]
    if isinstance(module, _SAME_SHAPE):
        return in_shape
    return None


def layer_params(module: nn.Module) -> int:
    """Parameters of one leaf layer by formula (conv, linear, batch norm), checked against
    the module's real tensors; other layers: the number of elements of their parameters."""
    actual = sum(p.numel() for p in module.parameters(recurse=False))
    if isinstance(module, _CONV):
        formula = conv_params(module.in_channels, module.out_channels, module.kernel_size,
                              module.groups, module.bias is not None, _spatial_dims(module))
    elif isinstance(module, nn.Linear):
        formula = linear_params(module.in_features, module.out_features, module.bias is not None)
    elif isinstance(module, _NORM):
        formula = 2 * module.num_features if module.affine else 0
    else:
        return actual
    if formula != actual:
        raise FormulaMismatchError(f"{type(module).__name__}: the formula gives {formula:,} "
                                   f"parameters but the layer holds {actual:,}")
    return formula


def layer_macs(module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one call of a conv or linear layer (shapes with the batch
    dimension; counted for the whole batch). Other layers count 0: their work (a max, an
    add, a scale per element) is small next to the weighted layers and not a MAC."""
    if isinstance(module, _CONV):
        n = _spatial_dims(module)
        batch = math.prod(out_shape[:-n - 1])
        return batch * conv_macs(module.in_channels, module.out_channels, module.kernel_size,
                                 tuple(out_shape[-n:]), module.groups, n)
    if isinstance(module, nn.Linear):
        return linear_macs(module.in_features, module.out_features, math.prod(out_shape[:-1]))
    return 0


# ------------------------------------------------------------------------- the table


class FormulaMismatchError(AssertionError):
    """A formula disagrees with the real forward pass (or with FlopCounterMode)."""


@dataclass
class LayerRow:
    """One call of one leaf layer. Shapes exclude the batch dimension; ``params`` counts the
    layer's parameters on its first call only (0 when the same module runs again); ``macs``
    is per image."""

    name: str
    type: str
    config: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    checked: bool  #: the output shape was compared with the formula (and agreed)
    label: str = ""  #: conv1, pool1, ..., fc6 (numbered across weighted layers, as in AlexNet)


@dataclass
class LayerTable:
    """The layer table of one model for one input shape (see :func:`layer_table`)."""

    model: str
    input_shape: tuple[int, ...]
    rows: list[LayerRow]
    total_params: int
    total_macs: int
    flops_counted: int  #: FlopCounterMode's total for the same forward pass
    flops_by_layer: dict[str, int] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def row(self, key: str) -> LayerRow:
        """The first row whose label (``conv5``) or name (``features.10``) is ``key``."""
        for r in self.rows:
            if key in (r.label, r.name):
                return r
        raise KeyError(f"no layer labelled or named {key!r} in the table of {self.model}")

    def weighted(self) -> list[LayerRow]:
        """The rows that hold parameters (conv, linear, norm layers), in order."""
        return [r for r in self.rows if r.params]

    def share_by_type(self) -> dict[str, dict[str, float]]:
        """Fraction of all parameters and of all MACs in each layer type (Conv2d, Linear...)."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            d = out.setdefault(r.type, {"params": 0, "macs": 0})
            d["params"] += r.params
            d["macs"] += r.macs
        return {t: {"params": d["params"] / max(self.total_params, 1),
                    "macs": d["macs"] / max(self.total_macs, 1)}
                for t, d in out.items() if d["params"] or d["macs"]}


def shape_str(shape: Sequence[int]) -> str:
    """``(64, 55, 55)`` -> ``64x55x55``."""
    return "x".join(map(str, shape))


def _label_rows(rows: list[LayerRow]) -> None:
    """conv1, pool1, conv2, ..., fc6, fc7: conv and linear layers numbered in order of their
    first call, pools and norms after the conv before them (AlexNet's naming)."""
    n, weighted = 0, {}
    for r in rows:
        if r.type.startswith("Conv") or r.type == "Linear":
            if r.name not in weighted:
                n += 1
                weighted[r.name] = f"{'conv' if r.type.startswith('Conv') else 'fc'}{n}"
            r.label = weighted[r.name]
        elif "AdaptiveAvgPool" in r.type:
            r.label = "avgpool"
        elif "Pool" in r.type:
            r.label = f"pool{n}"
        elif "Norm" in r.type:
            r.label = f"norm{n}"
        elif r.type == "Flatten":
            r.label = "flatten"


def _leaf_modules(model: nn.Module) -> Iterable[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


def _first_tensor(x) -> Tensor | None:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            if isinstance(item, Tensor):
                return item
    return None


def layer_table(model: nn.Module, input_shape: Sequence[int], *, check_flops: bool = True) -> LayerTable:
    """Run ``model`` on one random input of ``input_shape`` (no batch dimension, e.g.
    ``(3, 224, 224)``) in eval mode and tabulate each leaf layer call: name, type, output
    shape, parameters and MACs, with totals.

    Every output shape is checked against the layer's formula, parameter counts against the
    layer's tensors and (``check_flops``) conv and linear MACs against
    ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs = 2 x MACs); a disagreement raises
    :class:`FormulaMismatchError`. An input too small (or the wrong size) for the model raises
    :class:`InputSizeError` before anything runs.
    """
    input_shape = tuple(int(s) for s in input_shape)
    check_input(model, input_shape)
    calls: list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]] = []

    def hook(name: str):
        def record(module: nn.Module, args, output) -> None:
            x, y = _first_tensor(args), _first_tensor(output)
            if x is not None and y is not None:
                calls.append((name, module, tuple(x.shape), tuple(y.shape)))
        return record

    leaves = _leaf_modules(model)
    handles = [m.register_forward_hook(hook(name)) for name, m in leaves]
    param = next(iter(model.parameters()), None)
    x = torch.randn(1, *input_shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None and param.is_floating_point() else None)
    modes = {m: m.training for m in model.modules()}
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(x)
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
                f"{shape_str(expected[1:])} for a {shape_str(in_shape[1:])} input, the forward "
                f"pass gave {shape_str(out_shape[1:])}")
        rows.append(LayerRow(
            name=name, type=type(module).__name__, config=describe_layer(module),
            input_shape=in_shape[1:], output_shape=out_shape[1:],
            params=layer_params(module) if name not in seen else 0,
            macs=layer_macs(module, in_shape, out_shape), checked=expected is not None))
        seen.add(name)
    _label_rows(rows)

    named = {name for name, _ in leaves}
    outside = sum(p.numel() for p in model.parameters()) - sum(r.params for r in rows)
    if outside:  # parameters held by a non-leaf module itself, or by a layer that never ran
        rows.append(LayerRow("(parameters outside the leaf layers that ran)", "", "", (), (),
                             outside, 0, False))

    flops_by_layer: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        if key == "Global" or "." not in key:
            continue
        name = key.split(".", 1)[1]
        if name in named:
            flops_by_layer[name] = int(sum(ops.values()))
    if check_flops:
        macs_by_layer: dict[str, int] = {}
        for r in rows:
            if r.type.startswith("Conv") or r.type == "Linear":
                macs_by_layer[r.name] = macs_by_layer.get(r.name, 0) + r.macs
        for name, macs in macs_by_layer.items():
            if flops_by_layer.get(name, 0) != 2 * macs:
                raise FormulaMismatchError(
                    f"{name}: the formula gives {macs:,} MACs ({2 * macs:,} FLOPs) but "
                    f"FlopCounterMode counted {flops_by_layer.get(name, 0):,} FLOPs")
    return LayerTable(model=getattr(model, "display_name", type(model).__name__), input_shape=input_shape, rows=rows,
                      total_params=sum(r.params for r in rows), total_macs=sum(r.macs for r in rows),
                      flops_counted=int(counter.get_total_flops()), flops_by_layer=flops_by_layer)


def table_rows(table: LayerTable, *, labels: bool = True, hide: Sequence[str] = QUIET_TYPES,
               names: Sequence[str] | None = None, totals: bool = True) -> list[dict]:
    """The table as printable dicts (for :func:`course_utils.results.format_table`): rows of
    the types in ``hide`` are left out, ``names`` keeps only rows whose name starts with one of
    them, and ``totals`` adds the whole model's totals."""
    out = []
    for r in table.rows:
        if r.type in hide or (names is not None and not r.name.startswith(tuple(names))):
            continue
        row = {"layer": r.label} if labels else {}
        row.update({"name": r.name, "type": r.type, "config": r.config,
                    "output": shape_str(r.output_shape), "params": r.params, "MACs": r.macs})
        out.append(row)
    if totals:
        row = {"layer": "total"} if labels else {}
        row.update({"name": "" if labels else "total", "type": "", "config": "",
                    "output": "", "params": table.total_params, "MACs": table.total_macs})
        out.append(row)
    return out


def format_layer_table(table: LayerTable, *, labels: bool = True, hide: Sequence[str] = QUIET_TYPES,
                       names: Sequence[str] | None = None, totals: bool = True) -> str:
    """A printable layer table (see :func:`table_rows`), with a line saying what was checked."""
    text = format_table(table_rows(table, labels=labels, hide=hide, names=names, totals=totals))
    hidden = sorted({r.type for r in table.rows if r.type in hide})
    checked = sum(r.checked for r in table.rows)
    note = (f"input {shape_str(table.input_shape)}; {checked} of {len(table.rows)} output shapes "
            f"checked against their formula; conv and linear MACs agree with FlopCounterMode "
            f"(FLOPs = 2 x MACs)")
    if hidden:
        note += f"; {', '.join(hidden)} rows hidden (same shape, no parameters, no MACs)"
    return text + "\n" + note


def side_by_side(tables: dict[str, LayerTable], kinds: Sequence[str] = ("conv", "pool", "flatten", "fc"),
                 ) -> list[dict]:
    """One row per labelled layer (conv1, pool1, ..., fc8) and one column per model with its
    output shape, then parameters and MACs: several variants of a network compared."""
    order: list[str] = []
    for t in tables.values():
        for r in t.rows:
            if r.label and r.label.startswith(tuple(kinds)) and r.label not in order:
                order.append(r.label)
    rows = []
    for label in order:
        row = {"layer": label}
        for name, t in tables.items():
            try:
                row[name] = shape_str(t.row(label).output_shape)
            except KeyError:
                # a model that flattens with torch.flatten in forward has no Flatten row:
                # the first linear layer's input is the flattened map
                first_fc = next((r for r in t.rows if r.type == "Linear"), None)
                row[name] = (shape_str(first_fc.input_shape) if label == "flatten" and first_fc
                             else "-")
        rows.append(row)
    rows.append({"layer": "params", **{n: t.total_params for n, t in tables.items()}})
    rows.append({"layer": "MACs", **{n: t.total_macs for n, t in tables.items()}})
    return rows


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


# ----------------------------------------------------------------- small experiments


def measure_receptive_field(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """Height and width of the input window that the centre output pixel depends on, measured
    by autograd (gradient of that pixel with respect to the input) on a copy of ``model``
    whose conv weights are all positive, so that no ReLU hides a path. For stacks of convs and
    ReLUs (max-pools would route the gradient through one pixel per window)."""
    probe = copy.deepcopy(model).eval().float().cpu()
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, _CONV + (nn.Linear,)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    x = torch.ones(1, *input_shape, requires_grad=True)
    y = probe(x)
    h, w = y.shape[-2] // 2, y.shape[-1] // 2
    y[0, :, h, w].sum().backward()
    seen = x.grad[0].abs().sum(0) > 0
    rows, cols = seen.any(1).nonzero(), seen.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def compare_stacks(stack: nn.Module, single: nn.Module, input_shape: Sequence[int]) -> dict:
    """A stack of small convs against one big conv: measured receptive fields, weights (also
    as a multiple of C^2, C the stack's width) and non-linearities of each."""
    convs = [m for m in stack.modules() if isinstance(m, nn.Conv2d)]
    c2 = convs[0].out_channels ** 2
    pw, qw = sum(p.numel() for p in stack.parameters()), sum(p.numel() for p in single.parameters())
    rf_stack, rf_single = measure_receptive_field(stack, input_shape), measure_receptive_field(single, input_shape)
    return {
        "stack": f"{len(convs)} x {shape_str(convs[0].kernel_size)}",
        "sees": shape_str(rf_stack),
        "weights": pw,
        "weights/C^2": f"{pw / c2:g} C^2",
        "one conv": shape_str(next(m for m in single.modules() if isinstance(m, nn.Conv2d)).kernel_size),
        "it sees": shape_str(rf_single),
        "its weights": qw,
        "its weights/C^2": f"{qw / c2:g} C^2",
        "ReLUs: stack": sum(isinstance(m, nn.ReLU) for m in stack.modules()),
        "ReLUs: one": sum(isinstance(m, nn.ReLU) for m in single.modules()),
    }


# --------------------------------------------------------------------------- exercises

#: The notebook's exercises: question and answer, the answer computed by the formulas above.
EXERCISES: dict[int, tuple[str, object]] = {
    1: ("What padding keeps a 13x13 map at 13x13 under a 3x3 conv with stride 1?",
        same_padding(3)),
    2: ("What size does a 3x3 max-pool with stride 2 make of a 13x13 map?",
        conv_output_size(13, 3, 2)),
    3: ("What is the smallest square input for which an 11x11 conv with stride 4 and no "
        "padding gives 55x55?",
        next(n for n in range(1, 1000) if _raw_output_size(n, 11, 4, 0, 1, False) == 55)),
    4: ("How many parameters (weights and biases) has the 2012 paper's conv2: 96 -> 256 "
        "channels, 5x5, in two groups (one per GPU)?",
        conv_params(96, 256, 5, groups=2)),
    5: ("How many MACs does a 1x1 conv from 256 to 64 channels spend on a 56x56 map?",
        conv_macs(256, 64, 1, 56)),
}


def check_exercise(number: int, answer: object) -> str:
    """A verdict on an answer to exercise ``number`` (``...`` means not answered yet)."""
    question, expected = EXERCISES[number]
    if answer is Ellipsis or answer is None:
        return f"Exercise {number}: not answered yet; replace ... with your answer."
    if answer == expected:
        return f"Exercise {number}: correct ({expected:,})." if isinstance(expected, int) else \
            f"Exercise {number}: correct."
    return f"Exercise {number}: {answer!r} is not it; try the formula again."
