"""Notebook 05's code exercise: a head swap with a frozen body (d2l's ResNet-18 recipe)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

HINT = ("freeze first with net.requires_grad_(False), then net.fc = nn.Linear(net.fc.in_features, "
        "num_classes): a new layer trains by default")


def _resnet18() -> nn.Module:
    """ResNet-18 with random weights (the checker needs its shape, not ImageNet's weights)."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return resnet18(weights=None)


def _check_swap(swap_head) -> str:
    for classes in (2, 5):
        net = _resnet18()
        features = net.fc.in_features
        net = attempt(f"swap_head(net, {classes})", swap_head, net, classes)
        if not isinstance(net, nn.Module):
            raise Problem(f"swap_head returned a {type(net).__name__}: return the net")
        x = torch.randn(2, 3, 64, 64)
        out = attempt("the net's forward on a batch of shape (2, 3, 64, 64) (the new layer takes "
                      f"net.fc.in_features = {features} inputs)", net.train(), x)
        if tuple(out.shape) != (2, classes):
            raise Problem(f"wrong output shape with num_classes={classes}: got {tuple(out.shape)}, expected "
                          f"(2, {classes}), one score per class"
                          + (": the old 1000-class ImageNet layer is still there" if out.shape[-1] == 1000 else ""))
        head = list(net.fc.parameters()) if isinstance(net.fc, nn.Module) else []
        head_ids = {id(p) for p in head}
        body = [p for p in net.parameters() if id(p) not in head_ids]
        if not head or not all(p.requires_grad for p in head):
            raise Problem("no gradient reaches the new head (its requires_grad is False): freeze the body "
                          "first, then put in the new layer")
        net.zero_grad()
        attempt("backward through the net", lambda: F.cross_entropy(net(x), torch.zeros(2, dtype=torch.long)).backward())
        reached = sum(p.numel() for p in body if p.grad is not None)
        if reached:
            raise Problem(f"gradients reach the frozen body: {reached:,} of its parameters got a gradient "
                          f"(they still have requires_grad=True); freeze the pretrained net with "
                          f"net.requires_grad_(False) before putting in the new layer")
        expected = features * classes + classes
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        if trainable != expected:
            raise Problem(f"wrong number of trainable parameters with num_classes={classes}: got {trainable:,}, "
                          f"expected {expected:,} (the new layer's {features} x {classes} weights and {classes} biases)")
    return ("the output has one score per class, no gradient reaches the frozen body, and only the new "
            f"layer's {features * 2 + 2:,} parameters train (for 2 classes)")


def check_head_swap(answer) -> str:
    if unfinished(answer):
        return pending("05.3")
    try:
        if answer(_resnet18(), 2) is Ellipsis:
            return pending("05.3")
    except TypeError as error:   # `net.fc = ...` left as it is
        if "ellipsis" in str(error):
            return pending("05.3")
    except Exception:  # worded by the checks below
        pass
    return verdict("05.3", lambda: _check_swap(answer), HINT)


CHECKS = {"05.3": check_head_swap}
