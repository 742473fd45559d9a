"""Notebook 03's code exercise: a VGG block (03.4)."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

HINT = ("for each convolution nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), "
        "nn.BatchNorm2d(out_channels) and nn.ReLU(); after them one nn.MaxPool2d(2); "
        "return nn.Sequential(*layers)")

#: The blocks the checker builds: (in_channels, out_channels, convs, image size).
CASES = ((3, 16, 2, 32), (16, 32, 1, 16), (8, 8, 3, 8))


def _expected_params(cin: int, cout: int, convs: int) -> int:
    """3x3 weights without biases, and each batch norm's scale and shift."""
    return 9 * cin * cout + 9 * cout * cout * (convs - 1) + 2 * cout * convs


def _why_count(block: nn.Module, cin: int, cout: int, convs: int) -> str:
    found = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(found) != convs:
        return f"it has {len(found)} convolutions, vgg_block({cin}, {cout}, {convs}) needs {convs}"
    if any(m.kernel_size != (3, 3) for m in found):
        return "its convolutions should be 3x3 (kernel_size=3)"
    if any(m.bias is not None for m in found):
        return "its convolutions have biases: give them bias=False, the batch norm's shift does that job"
    if len(norms) != convs:
        return f"it has {len(norms)} batch norms: each of the {convs} convolutions needs one after it"
    return "check each layer's channels"


def _why_shape(got: tuple, expected: tuple, size: int) -> str:
    if got[1] != expected[1]:
        return "the last convolution should give out_channels maps"
    if got[-1] == size:
        return "the 2x2 max-pool (nn.MaxPool2d(2)) at the end is missing"
    if got[-1] < expected[-1]:
        return ("the maps shrank too much: each 3x3 convolution needs padding=1 to keep the size, "
                "and there is one pool per block, at its end")
    return "one 2x2 max-pool at the end halves the size"


def _check_block(fn, cin: int, cout: int, convs: int, size: int) -> None:
    call = f"vgg_block({cin}, {cout}, {convs})"
    block = attempt(call, fn, cin, cout, convs)
    if not isinstance(block, nn.Module):
        raise Problem(f"{call} returned a {type(block).__name__}, not a module: return nn.Sequential(*layers)")
    x = torch.randn(4, cin, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = attempt(f"{call} on a batch of shape {tuple(x.shape)}", block.train(), x)
    expected = (4, cout, size // 2, size // 2)
    if tuple(y.shape) != expected:
        raise Problem(f"wrong output shape for {call} on a batch of shape {tuple(x.shape)}: got {tuple(y.shape)}, "
                      f"expected {expected} ({_why_shape(tuple(y.shape), expected, size)})")
    n = sum(p.numel() for p in block.parameters())
    expected_n = _expected_params(cin, cout, convs)
    if n != expected_n:
        raise Problem(f"wrong parameter count for {call}: got {n:,}, expected {expected_n:,} "
                      f"({_why_count(block, cin, cout, convs)})")
    if (y < 0).any():
        raise Problem(f"{call} gives negative outputs: each batch norm needs a ReLU after it")
    if float(y.std()) < 1e-6:
        raise Problem(f"{call} gives the same number everywhere: check the order conv, batch norm, ReLU")


def _skeleton(answer) -> bool:
    """The exercise cell as given: nothing written, or the function still returns ``...``."""
    if unfinished(answer):
        return True
    try:
        return callable(answer) and not isinstance(answer, nn.Module) and answer(3, 16, 1) is Ellipsis
    except Exception:  # the checks say what went wrong
        return False


def check_vgg_block(answer) -> str:
    """03.4: ``vgg_block(in_channels, out_channels, convs)``, ``convs`` conv-BN-ReLU layers and a pool."""
    if _skeleton(answer):
        return pending("03.4")

    def run() -> str:
        if not callable(answer) or isinstance(answer, nn.Module):
            raise Problem('pass the function itself, not what it returns: check("03.4", vgg_block)')
        for case in CASES:
            _check_block(answer, *case)
        return ("Every block has the right output shape and parameter count: VGG_CFG is vgg_block(3, 64, 1), "
                "vgg_block(64, 128, 1), vgg_block(128, 256, 2), vgg_block(256, 512, 2), vgg_block(512, 512, 2).")

    return verdict("03.4", run, HINT)


CHECKS = {"03.4": check_vgg_block}
