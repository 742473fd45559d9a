"""The layer table: a model run once with forward hooks on its leaf layers, every row's shape,
parameters and MACs checked against the formulas and PyTorch's ``FlopCounterMode``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.lessons.arithmetic.diagnosis import check_input
from course_utils.lessons.arithmetic.formulas import (QUIET_TYPES, FormulaMismatchError, _first_tensor,
                                              _leaf_modules, describe_layer, expected_output_shape,
                                              layer_macs, layer_params, shape_str)
from course_utils.results import format_table

# ------------------------------------------------------------------------- the table


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
