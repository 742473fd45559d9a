"""Exercises with numeric answers from the course's formulas: a hint if wrong, the worked answer if right."""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.lessons.arithmetic.formulas import conv_macs, conv_output_size, conv_params, linear_params


@dataclass(frozen=True)
class Exercise:
    """The answer, the worked answer shown when it is right, the hint shown when it is wrong."""

    answer: float
    why: str
    hint: str
    tolerance: float = 0.0  #: relative, for answers that are not whole numbers


EXERCISES: dict[str, Exercise] = {
    "01.1": Exercise(conv_params(1, 6, 5), "6 filters x (1 x 5 x 5 weights) + 6 biases = 156.",
                     "Each of the 6 filters has one 5x5 weight per input channel, plus one bias."),
    "01.2": Exercise(linear_params(784, 8),
                     "784 x 8 weights + 8 biases = 6,280: almost all of the FC net's 6,442.",
                     "A linear layer has in x out weights and out biases."),
    "01.3": Exercise(conv_output_size(conv_output_size(28, 5), 2, 2),
                     "28 -> 28 - 5 + 1 = 24 after the conv, -> 24 / 2 = 12 after the pool.",
                     "A 5x5 window fits n - 5 + 1 times along n pixels; the pool halves."),
    "02.1": Exercise(7 * 7, "It stays inside its own 7x7 block: 49 positions.",
                     "A block shuffle moves pixels only inside their block."),
    "02.2": Exercise((28 // 7) ** 2, "28 / 7 = 4 blocks per side, 4 x 4 = 16.",
                     "Count blocks along one side first."),
    "03.1": Exercise(16 * conv_output_size(conv_output_size(conv_output_size(conv_output_size(32, 5), 2, 2),
                                                            5), 2, 2) ** 2,
                     "32 -> 28 -> 14 -> 10 -> 5, and 16 x 5 x 5 = 400.",
                     "Each 5x5 conv takes 4 pixels off the side (2 per side), each pool halves."),
    "03.2": Exercise(0.9 + 0.1 / 10, "PyTorch mixes the one-hot target with the uniform one: "
                                     "(1 - 0.1) x 1 + 0.1 / 10 = 0.91.",
                     "The smoothed target is (1 - e) x one-hot + e / classes.", 1e-9),
    "03.3": Exercise(50_000 // 512, "50,000 // 512 = 97 steps (336 images left out).",
                     "Whole batches only: integer division."),
    "04.1": Exercise(1, "out = 13 + 2p - 3 + 1 = 13 gives p = 1: (k - 1) / 2 for an odd k.",
                     "Solve floor((13 + 2p - 3) / 1) + 1 = 13 for p."),
    "04.2": Exercise(conv_output_size(13, 3, 2), "floor((13 - 3) / 2) + 1 = 6.",
                     "The same formula as for a conv: floor((n + 2p - k) / s) + 1."),
    "04.3": Exercise(next(n for n in range(11, 1_000) if conv_output_size(n, 11, 4) == 55),
                     "floor((n - 11) / 4) + 1 = 55 needs n - 11 >= 216, so n >= 227 "
                     "(and 227 to 230 all give 55).",
                     "Work the formula backwards: (n - 11) / 4 must reach 54."),
    "04.4": Exercise(conv_params(96, 256, 5, groups=2),
                     "Each filter sees only its group's 48 channels: 256 x 48 x 5 x 5 + 256 = 307,456.",
                     "With groups=2, each filter sees in_channels / 2 of the input channels."),
    "04.5": Exercise(conv_macs(256, 64, 1, 56), "256 x 64 per position x 56 x 56 positions = 51,380,224.",
                     "MACs = weights per position x number of output positions."),
    "05.1": Exercise(linear_params(1280, 2),
                     "1,280 x 2 weights + 2 biases = 2,562; the 3.4 million of the body stay as they are.",
                     "Only the new linear layer trains."),
    "05.2": Exercise(100 / 50,
                     "1 / 50 = 2%: a difference of one or two photos between strategies is no evidence.",
                     "Accuracy moves in steps of 1 / (number of test photos).", 1e-9),
    "06.1": Exercise(conv_params(64, 128, 1, bias=False), "64 x 128 x 1 x 1 = 8,192.",
                     "A 1x1 conv has in x out weights."),
    "06.2": Exercise(19, "Backpropagation multiplies one Jacobian per layer on the way down, for layers "
                         "20 to 2: 19 factors (the first layer's own weights add one more). A skip "
                         "connection adds an identity path around each block, so the product never has "
                         "to pass through every layer.",
                     "Count the layers between the loss and the first layer."),
}


def formatted(value: float) -> str:
    """A whole number with thousands separators, else as short as it goes."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def solution(key: str) -> str:
    """The worked answer of exercise ``key`` (what its revealable solution says)."""
    return f"{formatted(EXERCISES[key].answer)}. {EXERCISES[key].why}"
