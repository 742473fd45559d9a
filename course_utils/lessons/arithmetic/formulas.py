"""The formulas: output size, parameters and multiply-accumulates of conv, pool and linear
layers, from their integers or from the module itself.

The output-size formula (PyTorch's, for ``Conv*d`` and ``*Pool*d``), per spatial dimension::

    out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1

(pools with ``ceil_mode=True`` round up instead, but never start a window in the right padding).
A conv layer has ``out_ch * (in_ch / groups) * kh * kw`` weights plus ``out_ch`` biases and
spends that many multiply-accumulates (MACs) *per output position*; a linear layer has
``in * out + out`` parameters and ``in * out`` MACs per input vector. FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence, Union

from torch import Tensor, nn

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


def shape_str(shape: Sequence[int]) -> str:
    """``(64, 55, 55)`` -> ``64x55x55``."""
    return "x".join(map(str, shape))


class FormulaMismatchError(AssertionError):
    """A formula disagrees with the real forward pass (or with FlopCounterMode)."""


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
