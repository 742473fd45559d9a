"""Output sizes, parameters and multiply-accumulates (FLOPs = 2 x MACs) of layers by formula."""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_POOL = _MAXPOOL + (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: Leaf layers whose output has the shape of their input.
SAME_SHAPE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
              nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
              nn.Dropout3d, nn.AlphaDropout, nn.LocalResponseNorm, nn.LayerNorm, nn.GroupNorm, *_NORM)


class FormulaMismatchError(AssertionError):
    """A formula disagrees with the real forward pass (or with FlopCounterMode)."""


def _raw_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start inside the right padding
    return out


def min_input_size(kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                   ceil_mode: bool = False) -> int:
    """The smallest input length for which a conv or pool layer gives at least one output."""
    return next(n for n in range(1, dilation * kernel + 2)
                if _raw_output_size(n, kernel, stride, padding, dilation, ceil_mode) >= 1)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """``floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1``, one dimension of a
    conv or pool; ``ValueError`` naming the smallest size that works when there is no output."""
    for name, v, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                         ("padding", padding, 0), ("dilation", dilation, 1)):
        if int(v) != v or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    out = _raw_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    if out < 1:
        raise ValueError(f"an input of size {size} is too small for a window of {kernel} (dilation "
                         f"{dilation}, padding {padding}): the output would have size {out}; the smallest "
                         f"input is {min_input_size(kernel, stride, padding, dilation, ceil_mode)}")
    return out


def _groups_error(in_channels: int, out_channels: int, groups: int) -> str:
    return f"groups={groups} must divide both channel counts ({in_channels} in, {out_channels} out)"


def _tuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def conv_params(in_channels: int, out_channels: int, kernel, groups: int = 1, bias: bool = True) -> int:
    """Weights ``out * (in / groups) * prod(kernel)`` plus ``out`` biases (``kernel``: int or tuple)."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(_groups_error(in_channels, out_channels, groups))
    weights = out_channels * (in_channels // groups) * math.prod(_tuple(kernel, 2))
    return weights + (out_channels if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel, out_size, groups: int = 1) -> int:
    """MACs of a conv layer for one image: one per weight at every output position."""
    return conv_params(in_channels, out_channels, kernel, groups, bias=False) * math.prod(_tuple(out_size, 2))


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    return in_features * out_features + (out_features if bias else 0)


def shape_str(shape: Sequence[int]) -> str:
    """``(64, 55, 55)`` -> ``64x55x55``."""
    return "x".join(map(str, shape))


def _dims(module: nn.Module) -> int:
    name = type(module).__name__
    return 3 if name.endswith("3d") else 1 if name.endswith("1d") else 2


def window(module: nn.Module) -> tuple[tuple[int, ...], ...] | None:
    """(kernel, stride, padding, dilation) of a conv or pool, one entry per spatial dimension."""
    n = _dims(module)
    if isinstance(module, _CONV):
        k, d, pad = _tuple(module.kernel_size, n), _tuple(module.dilation, n), module.padding
        if isinstance(pad, str):  # 'valid', or 'same' (stride 1)
            pad = tuple(0 if pad == "valid" else di * (ki - 1) // 2 for ki, di in zip(k, d))
        return k, _tuple(module.stride, n), _tuple(pad, n), d
    if isinstance(module, _POOL):
        stride = module.stride if module.stride is not None else module.kernel_size
        return (_tuple(module.kernel_size, n), _tuple(stride, n), _tuple(module.padding, n),
                _tuple(module.dilation if isinstance(module, _MAXPOOL) else 1, n))
    return None


def describe_layer(module: nn.Module) -> str:
    """A short configuration: ``3->64 11x11/4 p2`` (channels, kernel/stride, padding), ``9216->4096``."""
    w = window(module)
    if w is not None:
        kernel, stride, padding, dilation = w
        text = "x".join(map(str, kernel)) + ("/" + _distinct(stride, "x") if max(stride) > 1 else "")
        text += (" p" + _distinct(padding) if max(padding) else "") + (
            " d" + _distinct(dilation) if max(dilation) > 1 else "")
        if isinstance(module, _CONV):
            groups = f" g{module.groups}" if module.groups > 1 else ""
            text = f"{module.in_channels}->{module.out_channels} {text}{groups}"
        return text + (" ceil" if getattr(module, "ceil_mode", False) else "")
    if isinstance(module, nn.Linear):
        return f"{module.in_features}->{module.out_features}"
    if isinstance(module, _ADAPTIVE):
        size = _tuple(module.output_size, _dims(module))
        return "to " + "x".join("any" if s is None else str(s) for s in size)
    return ""


def _distinct(values: Sequence[int], sep: str = ",") -> str:
    return sep.join(map(str, sorted(set(values))))


def expected_output_shape(module: nn.Module, in_shape: Sequence[int]) -> tuple[int, ...] | None:
    """The output shape (batch included) by the layer's formula (a size < 1: too small), or None."""
    in_shape, n = tuple(in_shape), _dims(module)
    if isinstance(module, _CONV + _POOL):
        channels = module.out_channels if isinstance(module, _CONV) else in_shape[-n - 1]
        ceil = bool(getattr(module, "ceil_mode", False))
        out = (in_shape[-n:] if isinstance(module, _CONV) and module.padding == "same" else
               tuple(_raw_output_size(s, *w, ceil) for s, *w in zip(in_shape[-n:], *window(module))))
        return in_shape[:-n - 1] + (channels,) + out
    if isinstance(module, _ADAPTIVE):
        size = _tuple(module.output_size, n)
        return in_shape[:-n] + tuple(i if s is None else s for s, i in zip(size, in_shape[-n:]))
    if isinstance(module, nn.Linear):
        return in_shape[:-1] + (module.out_features,)
    if isinstance(module, nn.Flatten):
        start, end = module.start_dim % len(in_shape), module.end_dim % len(in_shape)
        return in_shape[:start] + (math.prod(in_shape[start:end + 1]),) + in_shape[end + 1:]
    return in_shape if isinstance(module, SAME_SHAPE) else None


def layer_params(module: nn.Module) -> int:
    """Parameters of one leaf layer: by formula (conv, linear, batch norm), checked against its tensors."""
    actual = sum(p.numel() for p in module.parameters(recurse=False))
    if isinstance(module, _CONV):
        formula = conv_params(module.in_channels, module.out_channels, module.kernel_size, module.groups,
                              module.bias is not None)
    elif isinstance(module, nn.Linear):
        formula = linear_params(module.in_features, module.out_features, module.bias is not None)
    elif isinstance(module, _NORM):
        formula = 2 * module.num_features if module.affine else 0
    else:
        return actual
    if formula != actual:
        raise FormulaMismatchError(f"{type(module).__name__}: the formula gives {formula:,} parameters "
                                   f"but the layer holds {actual:,}")
    return formula


def layer_macs(module: nn.Module, out_shape: Sequence[int]) -> int:
    """MACs of one call of a conv or linear layer on a batch; other layers count 0."""
    if isinstance(module, _CONV):
        return module.in_channels // module.groups * math.prod(module.kernel_size) * math.prod(out_shape)
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features * math.prod(out_shape[:-1])
    return 0


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if next(m.children(), None) is None]


def first_tensor(x) -> Tensor | None:
    if isinstance(x, (tuple, list)):
        return next((t for t in x if isinstance(t, Tensor)), None)
    return x if isinstance(x, Tensor) else None
