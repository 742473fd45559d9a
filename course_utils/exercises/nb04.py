"""Notebook 04's code exercise: a classifier head whose output shape and parameter count must come out right."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

LIMIT = 300_000
FC_PARAMS = 58_631_144   # torchvision AlexNet's fc6, fc7 and fc8
HINT = ("average each of the 256 maps over its positions (nn.AdaptiveAvgPool2d(1)), flatten, "
        "then one nn.Linear(256, 1000)")


def _scores(head: nn.Module, side: int) -> torch.Tensor:
    x = torch.randn(2, 256, side, side, generator=torch.Generator().manual_seed(side))
    with torch.no_grad():
        out = attempt(f"your head on a batch of 2 maps of 256x{side}x{side}", head.eval(), x)
    if not isinstance(out, torch.Tensor):
        raise Problem(f"your head returned a {type(out).__name__}, not a tensor of scores")
    if tuple(out.shape) != (2, 1000):
        why = ("the right number of scores in the wrong shape: flatten them (nn.Flatten())"
               if out.dim() > 2 and out.shape[0] == 2 and out[0].numel() == 1000 else
               "one row of 1000 class scores per image")
        raise Problem(f"on a batch of 2 maps of 256x{side}x{side} the output has shape {tuple(out.shape)}, "
                      f"expected (2, 1000): {why}")
    return out


def check_head(head) -> str:
    """``head`` turns AlexNet's 256x6x6 pool5 map into 1000 class scores with at most 300,000
    parameters, and works on a map of any size (13x13 too)."""
    if unfinished(head):
        return pending("04.6")

    def run() -> str:
        if not isinstance(head, nn.Module):
            raise Problem(f"the answer is a layer (an nn.Module, e.g. nn.Sequential(...)), got a {type(head).__name__}")
        _scores(head, 6)
        n = sum(p.numel() for p in head.parameters())
        if n > LIMIT:
            raise Problem(f"right shape, but {n:,} parameters, more than the {LIMIT:,} allowed (fc6-fc8 have "
                          f"{FC_PARAMS:,}): a linear layer on all 9,216 numbers of the map is what makes them big")
        _scores(head, 13)
        return (f"(2, 1000) scores from 256x6x6 and from 256x13x13 maps, with {n:,} parameters: "
                f"{n / FC_PARAMS:.2%} of fc6-fc8's {FC_PARAMS:,}. Global average pooling, as in "
                f"Network in Network, GoogLeNet and ResNet.")
    return verdict("04.6", run, HINT)


CHECKS = {"04.6": check_head}
