"""Notebook 06's code exercise: a residual block with a 1x1 projection when the shape changes."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

HINT = ("the shape changes when stride != 1 or in_channels != out_channels; then the shortcut is "
        "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) with batch norm, else "
        "nn.Identity(), and forward returns relu(body(x) + shortcut(x))")


def _skeleton(block: nn.Module) -> bool:
    """A ``...`` still stands where the student writes (an attribute, or what forward returns)."""
    return any(value is Ellipsis for value in vars(block).values())


def _one_by_one(block: nn.Module) -> list[nn.Conv2d]:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]


def _check_projection(make_block) -> str:
    torch.manual_seed(0)
    block = attempt("ProjectionBlock(16, 32, stride=2)", make_block, 16, 32, 2)
    x = torch.randn(2, 16, 14, 14)
    out = attempt("its forward on a batch of shape (2, 16, 14, 14) (the body gives (2, 32, 7, 7): the "
                  "shortcut must give the same shape)", block, x)
    if not isinstance(out, torch.Tensor):
        raise Problem(f"forward returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) != (2, 32, 7, 7):
        raise Problem(f"wrong output shape for ProjectionBlock(16, 32, stride=2): got {tuple(out.shape)}, "
                      f"expected (2, 32, 7, 7) (stride 2 halves 14x14 to 7x7; 32 channels)")
    projections = _one_by_one(block)
    if not projections:
        wide = [f"{m.kernel_size[0]}x{m.kernel_size[1]}" for m in block.modules()
                if isinstance(m, nn.Conv2d) and (m.in_channels, m.out_channels) == (16, 32)]
        raise Problem("the block has no 1x1 convolution: when the shape changes, the shortcut must "
                      "project 16 channels to 32 with a 1x1 convolution of stride 2"
                      + (f" (it has {len(wide)} convolutions from 16 to 32 channels, {', '.join(wide)}: "
                         f"the body's is 3x3, the shortcut's 1x1)" if len(wide) > 1 else ""))
    proj = projections[0]
    if (proj.in_channels, proj.out_channels) != (16, 32):
        raise Problem(f"the 1x1 shortcut maps {proj.in_channels} to {proj.out_channels} channels; it must "
                      f"map the block's input (16) to its output (32)")
    if proj.stride != (2, 2):
        raise Problem(f"the 1x1 shortcut has stride {proj.stride[0]}; it must have the block's stride (2) so "
                      f"that it halves the height and width as the body does")
    block.zero_grad()
    attempt("backward through the block", lambda: block(x).pow(2).mean().backward())
    if proj.weight.grad is None or proj.weight.grad.abs().sum() == 0:
        raise Problem("no gradient reaches the 1x1 shortcut: it is built but forward does not use it "
                      "(add shortcut(x) to the body's output)")
    body = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    if not body or any(m.weight.grad is None or m.weight.grad.abs().sum() == 0 for m in body):
        raise Problem("no gradient reaches the body's 3x3 convolutions: forward must add the body's "
                      "output and the shortcut's")
    if (out < 0).any():
        raise Problem("the output has negative values: apply the ReLU after the addition")

    same = attempt("ProjectionBlock(16, 16, stride=1)", make_block, 16, 16, 1)
    y = attempt("its forward on a batch of shape (2, 16, 14, 14)", same, x)
    if tuple(y.shape) != (2, 16, 14, 14):
        raise Problem(f"wrong output shape for ProjectionBlock(16, 16, stride=1): got {tuple(y.shape)}, "
                      f"expected (2, 16, 14, 14)")
    if _one_by_one(same):
        raise Problem("ProjectionBlock(16, 16, stride=1) has a 1x1 convolution: when the shape stays "
                      "the same the shortcut is the identity (nn.Identity()), which adds no parameters")
    return ("stride 2 and 16 -> 32 channels give (2, 32, 7, 7) through a 1x1 stride-2 projection, the "
            "gradient reaches both paths, and a block that keeps its shape keeps the identity shortcut")


def check_projection_block(answer) -> str:
    if unfinished(answer):
        return pending("06.3")
    try:
        block = answer(16, 32, 2)
        if _skeleton(block) or block(torch.randn(1, 16, 8, 8)) is Ellipsis:
            return pending("06.3")
    except Exception:  # its problem is worded by the checks below
        pass
    return verdict("06.3", lambda: _check_projection(answer), HINT)


CHECKS = {"06.3": check_projection_block}
