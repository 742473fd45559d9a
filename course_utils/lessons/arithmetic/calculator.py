"""One conv or pool layer worked out by the formulas and checked against a real PyTorch layer:
the function behind notebook 04's layer calculator."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.lessons.arithmetic.formulas import conv_macs, conv_output_size, conv_params, shape_str

KINDS = ("conv", "maxpool")


@dataclass
class LayerResult:
    """What the calculator says about one layer. ``error`` is set (and the numbers are None)
    when the settings give no valid layer or no valid output."""

    layer: str
    input: str
    output: str | None = None
    params: int | None = None
    macs: int | None = None
    formula: str = ""
    checked: str = ""
    error: str | None = None

    def lines(self) -> list[str]:
        if self.error:
            return [f"{self.layer} on a {self.input} input", f"no valid output: {self.error}"]
        return [f"{self.layer} on a {self.input} input",
                f"output: {self.output}   ({self.formula})",
                f"parameters: {self.params:,}   multiply-accumulates: {self.macs:,}",
                self.checked]


def calculate_layer(kind: str = "conv", size: int = 224, in_channels: int = 3, out_channels: int = 64,
                    kernel: int = 11, stride: int = 4, padding: int = 2, dilation: int = 1,
                    groups: int = 1) -> LayerResult:
    """Output size, parameters and MACs of a square ``kind`` layer (``"conv"``: ``nn.Conv2d``
    with bias; ``"maxpool"``: ``nn.MaxPool2d``, channels unchanged) on a ``size`` x ``size``
    input, by the formulas, then checked against the real layer on PyTorch's meta device
    (shapes and parameter counts) and ``FlopCounterMode`` (MACs). Invalid settings give a
    result with ``error`` saying why, never an exception."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    conv = kind == "conv"
    out_ch = out_channels if conv else in_channels
    name = (f"Conv2d({in_channels}, {out_channels}, kernel {kernel}, stride {stride}, padding {padding}"
            + (f", dilation {dilation}" if dilation != 1 else "") + (f", groups {groups}" if groups != 1 else "") + ")"
            if conv else f"MaxPool2d(kernel {kernel}, stride {stride}, padding {padding}"
            + (f", dilation {dilation}" if dilation != 1 else "") + ")")
    result = LayerResult(name, shape_str((in_channels, size, size)))
    problems = []
    if min(size, in_channels, kernel, stride, dilation, groups) < 1 or (conv and out_channels < 1) or padding < 0:
        problems.append("every setting must be at least 1 (padding at least 0)")
    if conv and (in_channels % groups or out_channels % groups):
        problems.append(f"groups={groups} must divide both channel counts ({in_channels} in, {out_channels} out)")
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
    result.output = shape_str((out_ch, out, out))
    result.formula = (f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}")
    result.params = conv_params(in_channels, out_channels, kernel, groups) if conv else 0
    result.macs = conv_macs(in_channels, out_channels, kernel, out, groups) if conv else 0
    layer = (nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups, device="meta")
             if conv else nn.MaxPool2d(kernel, stride, padding, dilation))
    x = torch.empty(1, in_channels, size, size, device="meta")
    with FlopCounterMode(display=False) as counter:
        real = tuple(layer(x).shape[1:])
    real_params = sum(p.numel() for p in layer.parameters())
    real_macs = counter.get_total_flops() // 2
    agree = real == (out_ch, out, out) and real_params == result.params and (not conv or real_macs == result.macs)
    result.checked = (f"checked against a real nn.{type(layer).__name__}: output {shape_str(real)}, "
                      f"{real_params:,} parameters" + (f", {real_macs:,} MACs" if conv else "")
                      + (": the formulas agree." if agree else ": THE FORMULAS DISAGREE."))
    return result
