"""Receptive fields, measured: the input window one output pixel depends on, and VGG's
argument for stacks of small convolutions."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from course_utils.lessons.arithmetic.formulas import _CONV, shape_str

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
