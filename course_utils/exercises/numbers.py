"""The exercises with numeric answers computed by the course's own
formulas, with a hint for a wrong answer and the worked reasoning for a right one.

In a notebook::

    answer = ...
    print(check("04.1", answer))

Each notebook also shows a revealable solution (an HTML ``<details>`` block); the tests check
that those solutions state the answers computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from course_utils.lessons.arithmetic.formulas import conv_macs, conv_output_size, conv_params, linear_params


@dataclass(frozen=True)
class Exercise:
    """One question with a numeric answer."""

    key: str          #: "<notebook number>.<exercise number>", e.g. "04.1"
    question: str
    answer: float
    why: str          #: the worked answer, shown when it is right
    hint: str         #: shown when it is wrong
    tolerance: float = 0.0  #: relative tolerance, for answers that are not whole numbers


def _smallest_input(target: int, kernel: int, stride: int) -> int:
    return next(n for n in range(1, 10_000) if (n - kernel) // stride + 1 == target and n >= kernel)


_ALL = [
    # 01: parameter budgets
    Exercise("01.1", "How many parameters (weights and biases) has the CNN's first convolution: "
             "1 -> 6 channels, 5x5?", conv_params(1, 6, 5),
             "6 filters x (1 x 5 x 5 weights) + 6 biases = 156.",
             "Each of the 6 filters has one 5x5 weight per input channel, plus one bias."),
    Exercise("01.2", "How many parameters has FC2Layer's first layer, 784 pixels -> 8 units?",
             linear_params(784, 8), "784 x 8 weights + 8 biases = 6,280: almost all of the FC net's 6,442.",
             "A linear layer has in x out weights and out biases."),
    Exercise("01.3", "What is the side of the CNN's feature maps after its first 5x5 conv (no padding) "
             "and 2x2 max-pool, on a 28x28 digit?", conv_output_size(conv_output_size(28, 5), 2, 2),
             "28 -> 28 - 5 + 1 = 24 after the conv, -> 24 / 2 = 12 after the pool.",
             "A 5x5 window fits n - 5 + 1 times along n pixels; the pool halves."),
    # 02: permutations
    Exercise("02.1", "In a 28x28 image shuffled within 7x7 blocks, among how many positions can one "
             "pixel land?", 7 * 7, "It stays inside its own 7x7 block: 49 positions.",
             "A block shuffle moves pixels only inside their block."),
    Exercise("02.2", "How many 7x7 blocks tile a 28x28 image?", (28 // 7) ** 2,
             "28 / 7 = 4 blocks per side, 4 x 4 = 16.", "Count blocks along one side first."),
    # 03: CIFAR
    Exercise("03.1", "How many numbers does LeNet's flatten hand to its first linear layer for a "
             "32x32 image (two 5x5 convs without padding, each followed by a 2x2 pool, 16 maps at the end)?",
             16 * conv_output_size(conv_output_size(conv_output_size(conv_output_size(32, 5), 2, 2), 5), 2, 2) ** 2,
             "32 -> 28 -> 14 -> 10 -> 5, and 16 x 5 x 5 = 400.",
             "Each 5x5 conv takes 4 pixels off the side (2 per side), each pool halves."),
    Exercise("03.2", "With label smoothing 0.1 and 10 classes, what probability does the target give "
             "the right class?", 0.9 + 0.1 / 10,
             "PyTorch mixes the one-hot target with the uniform one: (1 - 0.1) x 1 + 0.1 / 10 = 0.91.",
             "The smoothed target is (1 - e) x one-hot + e / classes.", 1e-9),
    Exercise("03.3", "How many optimizer steps is one epoch of 50,000 images at batch 512 when the last, "
             "short batch is dropped?", 50_000 // 512, "50,000 // 512 = 97 steps (336 images left out).",
             "Whole batches only: integer division."),
    # 04: AlexNet arithmetic
    Exercise("04.1", "What padding keeps a 13x13 map at 13x13 under a 3x3 conv with stride 1?", 1,
             "out = 13 + 2p - 3 + 1 = 13 gives p = 1: (k - 1) / 2 for an odd k.",
             "Solve floor((13 + 2p - 3) / 1) + 1 = 13 for p."),
    Exercise("04.2", "What size does a 3x3 max-pool with stride 2 make of a 13x13 map?",
             conv_output_size(13, 3, 2), "floor((13 - 3) / 2) + 1 = 6.",
             "The same formula as for a conv: floor((n + 2p - k) / s) + 1."),
    Exercise("04.3", "What is the smallest square input for which an 11x11 conv with stride 4 and no "
             "padding gives 55x55?", _smallest_input(55, 11, 4),
             "floor((n - 11) / 4) + 1 = 55 needs n - 11 >= 216, so n >= 227 (and 227 to 230 all give 55).",
             "Work the formula backwards: (n - 11) / 4 must reach 54."),
    Exercise("04.4", "How many parameters (weights and biases) has the 2012 paper's conv2: 96 -> 256 "
             "channels, 5x5, in two groups (one per GPU)?", conv_params(96, 256, 5, groups=2),
             "Each filter sees only its group's 48 channels: 256 x 48 x 5 x 5 + 256 = 307,456.",
             "With groups=2, each filter sees in_channels / 2 of the input channels."),
    Exercise("04.5", "How many MACs does a 1x1 conv from 256 to 64 channels spend on a 56x56 map?",
             conv_macs(256, 64, 1, 56), "256 x 64 per position x 56 x 56 positions = 51,380,224.",
             "MACs = weights per position x number of output positions."),
    # 05: transfer learning
    Exercise("05.1", "How many parameters does the frozen strategy train: a new head from "
             "EfficientNet-Lite0's 1,280 features to 2 classes?", linear_params(1280, 2),
             "1,280 x 2 weights + 2 biases = 2,562; the 3.4 million of the body stay as they are.",
             "Only the new linear layer trains."),
    Exercise("05.2", "With 50 test photos, how many percentage points is one photo?", 100 / 50,
             "1 / 50 = 2%: a difference of one or two photos between strategies is no evidence.",
             "Accuracy moves in steps of 1 / (number of test photos).", 1e-9),
    # 06: residual connections
    Exercise("06.1", "How many weights has ResNet's 1x1 stride-2 shortcut from 64 to 128 channels "
             "(no bias; it is followed by batch norm)?", conv_params(64, 128, 1, bias=False),
             "64 x 128 x 1 x 1 = 8,192.", "A 1x1 conv has in x out weights."),
    Exercise("06.2", "A plain net of 20 layers: the gradient of the loss with respect to the first "
             "layer's output is a product of how many layer Jacobians?", 19,
             "Backpropagation multiplies one Jacobian per layer on the way down, for layers 20 to 2: "
             "19 factors (the first layer's own weights add one more). "
             "A skip connection adds an identity path around each block, so the product never has "
             "to pass through every layer.", "Count the layers between the loss and the first layer."),
]
EXERCISES: dict[str, Exercise] = {e.key: e for e in _ALL}


def _format(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def check(key: str, answer: object) -> str:
    """A verdict on ``answer`` to exercise ``key``: right (with the worked answer), wrong (with
    a hint), or not answered yet (``...``)."""
    if key not in EXERCISES:
        raise KeyError(f"no exercise {key!r}; there are {', '.join(EXERCISES)}")
    ex = EXERCISES[key]
    if answer is Ellipsis or answer is None:
        return f"Exercise {key}: not answered yet; replace ... with your answer."
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"Exercise {key}: the answer is a number; got {answer!r}."
    right = answer == ex.answer or (ex.tolerance and math.isclose(answer, ex.answer, rel_tol=ex.tolerance))
    if right:
        return f"Exercise {key}: right, {_format(ex.answer)}. {ex.why}"
    return f"Exercise {key}: {_format(answer)} is not it. Hint: {ex.hint}"


def solution(key: str) -> str:
    """The worked answer of exercise ``key`` (what its revealable solution says)."""
    ex = EXERCISES[key]
    return f"{_format(ex.answer)}. {ex.why}"
