"""The code exercises of notebook 01: write a training step (01.4), complete a CNN's forward (01.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

STEPS = 5          #: steps compared, one by one, with a correct training step
FALL_STEPS = 30    #: steps over which the loss must fall
LR = 0.1


class _Pending(Exception):
    """The skeleton, unfilled."""


_SKELETON = object()   # what a step that still returns ... gives back


def _toy_batch(seed: int = 0, n: int = 64) -> tuple[Tensor, Tensor]:
    """8x8 one-channel images; the label says whether the left half is brighter than the right."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 8, 8, generator=g)
    labels = (images[:, 0, :, :4].mean((1, 2)) > images[:, 0, :, 4:].mean((1, 2))).long()
    return images, labels


def _toy_net() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))


def _reference_step(model: nn.Module, images: Tensor, labels: Tensor, optimizer: torch.optim.Optimizer,
                    *, zero: bool = True) -> float:
    """A right training step; ``zero=False`` forgets ``zero_grad`` (a common slip, to recognise it)."""
    if zero:
        optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def _weights(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=1e-5, atol=1e-6) for x, y in zip(a, b))


def _trajectory(steps: int, zero: bool = True) -> list[Tensor]:
    """The weights of the toy net after ``steps`` right steps (plain SGD), or without zero_grad."""
    model = _toy_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(steps):
        _reference_step(model, *_toy_batch(), optimizer, zero=zero)
    return _weights(model)


def _as_number(result: object) -> float:
    if isinstance(result, (int, float)) or isinstance(result, Tensor) and result.numel() == 1:
        return float(result)
    raise Problem(f"train_step returned {'None' if result is None else 'a ' + type(result).__name__}: end "
                  f"it with `return loss.item()` (the batch's loss, one number)")


def check_train_step(answer: object) -> str:
    """01.4: ``train_step(model, images, labels, optimizer) -> float``, one training step."""
    key = "01.4"
    if unfinished(answer):
        return pending(key)

    def run() -> str:
        if not callable(answer):
            raise Problem(f"the answer is {answer!r}, not a function; pass the function itself: "
                          f"check('01.4', train_step)")

        def step(*args: object) -> object:
            return attempt("train_step(model, images, labels, optimizer)",
                           lambda: _SKELETON if (out := answer(*args)) is Ellipsis else out)

        model = _toy_net()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        images, labels = _toy_batch()
        before = _weights(model)
        expected = F.cross_entropy(model(images), labels).item()
        result = step(model, images, labels, optimizer)
        moved = not _same(before, _weights(model))
        if result is _SKELETON and not moved:
            raise _Pending
        if result is _SKELETON:
            raise Problem("train_step returns ... : end it with `return loss.item()`")
        loss = _as_number(result)
        if not moved:
            if all(p.grad is None for p in model.parameters()):
                raise Problem("the weights did not change and have no gradients: call loss.backward() "
                              "and then optimizer.step()")
            raise Problem("the weights did not change although gradients were computed: call "
                          "optimizer.step() after loss.backward()")
        if abs(loss - expected) > 1e-4 * max(1.0, abs(expected)):
            raise Problem(f"it returned the loss {loss:.4f}, but the cross-entropy of the model's outputs "
                          f"on this batch, before the step, is {expected:.4f}: return "
                          f"F.cross_entropy(model(images), labels).item(), computed before the update")
        for _ in range(STEPS - 1):
            step(model, images, labels, optimizer)
        mine = _weights(model)
        if _same(mine, _trajectory(STEPS, zero=False)):
            raise Problem("the gradients pile up from step to step: call optimizer.zero_grad() at "
                          "the start of each step")
        losses = [_as_number(step(model, images, labels, optimizer)) for _ in range(FALL_STEPS)]
        if not losses[-1] < losses[0]:
            raise Problem(f"the loss did not fall over {FALL_STEPS} steps ({losses[0]:.3f} -> "
                          f"{losses[-1]:.3f}): the step should move the weights against the gradient")
        if not _same(mine, _trajectory(STEPS)):
            raise Problem(f"after {STEPS} steps the weights differ from those of a right step "
                          f"(zero_grad, forward, cross-entropy, backward, step)")
        return (f"Your step gives the same weights as a right one, and the toy net's loss falls "
                f"from {expected:.3f} to {losses[-1]:.3f} in {STEPS + FALL_STEPS} steps.")

    try:
        return verdict(key, run, hint="zero_grad, forward, F.cross_entropy, backward, step; "
                                      "then return loss.item()")
    except _Pending:
        return pending(key)


def _cnn_reference(model: nn.Module, x: Tensor) -> Tensor:
    x = F.max_pool2d(F.relu(model.conv1(x)), 2)
    x = F.max_pool2d(F.relu(model.conv2(x)), 2)
    return model.fc2(F.relu(model.fc1(x.flatten(1))))


def check_cnn_forward(answer: object) -> str:
    """01.5: a CNN class whose ``forward`` the student wrote (layers conv1, conv2, fc1, fc2)."""
    key = "01.5"
    if unfinished(answer):
        return pending(key)

    def run() -> str:
        if not (isinstance(answer, type) and issubclass(answer, nn.Module)):
            raise Problem(f"pass the class itself (check('01.5', MyCNN)), not a {type(answer).__name__}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = attempt("MyCNN()", answer)
        missing = [n for n in ("conv1", "conv2", "fc1", "fc2") if not hasattr(model, n)]
        if missing:
            raise Problem(f"the model has no layer {', '.join(missing)}: keep the __init__ of the skeleton")
        n = sum(p.numel() for p in model.parameters())
        if n != 6_422:
            raise Problem(f"the model has {n:,} parameters, the CNN of this notebook 6,422: keep the "
                          f"skeleton's __init__ as it is")
        x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            try:
                out = model(x)
            except Exception as error:  # the student's code
                if "shapes cannot be multiplied" in str(error):
                    raise Problem("fc1 got the wrong number of inputs per image: after conv1+pool and "
                                  "conv2+pool each image is 6 maps of 4x4; flatten them to 96 numbers "
                                  "per image with x.flatten(1) (or x.view(x.shape[0], -1))") from None
                out = attempt("model(x)", model, x)   # words the error
            if out is None or out is Ellipsis:
                raise _Pending
            if not isinstance(out, Tensor):
                raise Problem(f"forward returned a {type(out).__name__}, not a tensor of scores")
            if tuple(out.shape) != (3, 10):
                raise Problem(f"wrong output shape: got {tuple(out.shape)} for a batch of 3 images, "
                              f"expected (3, 10): one score per class per image, the batch kept first")
            if not torch.allclose(out, _cnn_reference(model, x), atol=1e-5):
                raise Problem("the shape is right but the scores are not those of conv1 -> ReLU -> "
                              "2x2 max-pool -> conv2 -> ReLU -> pool -> flatten -> fc1 -> ReLU -> fc2: "
                              "is a ReLU or a pool missing, or in another order?")
        return "Your forward gives the CNN's scores, shape (batch, 10)."

    try:
        return verdict(key, run, hint="F.max_pool2d(F.relu(self.conv1(x)), 2), the same with conv2, "
                                      "then x.flatten(1), fc1, ReLU, fc2")
    except _Pending:
        return pending(key)


CHECKS = {"01.4": check_train_step, "01.5": check_cnn_forward}
