"""The seed's LeNet next to LeCun's own: LeNet-1 (1989, zip codes) and LeNet-5 (1998, MNIST),
layer by layer, with parameters and connections worked out by the arithmetic formulas.

LeCun counts *connections* as multiply-accumulates plus one per bias (every unit's bias is a
connection to a constant input). LeNet-1's convolutions have one bias per unit, not per map,
and its second convolution reads 8 of the 12 maps below; LeNet-5's C3 reads a fixed table of
60 of the 96 (input map, output map) pairs; both nets subsample with a trainable coefficient
and bias per map, and squash with a scaled tanh.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.lessons.arithmetic.formulas import conv_macs, conv_output_size, linear_params


@dataclass(frozen=True)
class Layer:
    """One layer: its name, what it is, its parameters and its connections."""

    name: str
    what: str
    params: int
    connections: int


def _conv(name: str, cin: int, cout: int, k: int, size: int, *, stride: int = 1, padding: int = 0,
          pairs: int | None = None, unit_bias: bool = False) -> tuple[Layer, int]:
    """A conv layer; ``pairs`` (input map, output map) pairs when not fully connected, and a
    bias per unit instead of per map with ``unit_bias``."""
    out = conv_output_size(size, k, stride, padding)
    pairs = cin * cout if pairs is None else pairs
    weights = pairs * k * k
    biases = cout * out * out if unit_bias else cout
    macs = conv_macs(cin, cout, k, out) * pairs // (cin * cout)
    what = f"conv {cout}@{k}x{k}" + (f"/{stride}" if stride > 1 else "") + (
        f", {pairs} of {cin * cout} map pairs" if pairs != cin * cout else "") + f" -> {cout}x{out}x{out}"
    return Layer(name, what, weights + biases, macs + cout * out * out), out


def _subsample(name: str, maps: int, size: int, trainable: bool) -> tuple[Layer, int]:
    out = size // 2
    what = f"{'average x coefficient + bias' if trainable else 'max'} pool 2x2 -> {maps}x{out}x{out}"
    params = 2 * maps if trainable else 0
    return Layer(name, what, params, maps * out * out * (5 if trainable else 4)), out


def _linear(name: str, cin: int, cout: int, what: str = "") -> Layer:
    return Layer(name, what or f"fully connected {cin} -> {cout}", linear_params(cin, cout), cin * cout + cout)


def lenet1() -> list[Layer]:
    """LeNet-1 (LeCun et al. 1989): 16x16 digits, two strided convolutions, no pooling."""
    h1, s = _conv("H1", 1, 12, 5, 16, stride=2, padding=2, unit_bias=True)
    h2, s = _conv("H2", 12, 12, 5, s, stride=2, padding=2, pairs=12 * 8, unit_bias=True)
    return [h1, h2, _linear("H3", 12 * s * s, 30), _linear("output", 30, 10)]


def lenet5() -> list[Layer]:
    """LeNet-5 (LeCun et al. 1998): 32x32 (MNIST padded), C1-S2-C3-S4-C5-F6, RBF outputs."""
    c1, s = _conv("C1", 1, 6, 5, 32)
    s2, s = _subsample("S2", 6, s, True)
    c3, s = _conv("C3", 6, 16, 5, s, pairs=60)
    s4, s = _subsample("S4", 16, s, True)
    c5, s = _conv("C5", 16, 120, 5, s)
    rbf = Layer("output", "10 Euclidean RBF units on 84 inputs", 84 * 10, 84 * 10)
    return [c1, s2, c3, s4, c5, _linear("F6", 120, 84), rbf]


def seed_lenet() -> list[Layer]:
    """The seed course's ``Net`` (the PyTorch tutorial's), on 3x32x32 CIFAR images."""
    c1, s = _conv("conv1", 3, 6, 5, 32)
    p1, s = _subsample("pool1", 6, s, False)
    c2, s = _conv("conv2", 6, 16, 5, s)
    p2, s = _subsample("pool2", 16, s, False)
    return [c1, p1, c2, p2, _linear("fc1", 16 * s * s, 120), _linear("fc2", 120, 84), _linear("fc3", 84, 10)]


#: The three nets with what sets them apart besides their layers.
FAMILY = {
    "LeNet-1 (1989)": (lenet1, "1x16x16 zip-code digits", "scaled tanh", "none: stride-2 convolutions"),
    "LeNet-5 (1998)": (lenet5, "1x32x32 (28x28 digits padded)", "scaled tanh, RBF outputs",
                       "average x trainable coefficient + bias"),
    "seed LeNet (PyTorch tutorial)": (seed_lenet, "3x32x32 CIFAR-10 photos", "ReLU", "max, no parameters"),
}


def lenet_family() -> list[dict]:
    """One row per net: input, layers, parameters, connections, activations, pooling."""
    rows = []
    for name, (build, image, activation, pooling) in FAMILY.items():
        layers = build()
        rows.append({"net": name, "input": image, "layers": len([l for l in layers if l.params or "conv" in l.what]),
                     "parameters": sum(l.params for l in layers),
                     "connections": sum(l.connections for l in layers),
                     "activations": activation, "pooling": pooling})
    return rows
