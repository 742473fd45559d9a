"""The code exercises of notebook 01: the checkers say right to a right answer, name the problem of
a wrong one, say "not done yet" to the unfilled skeleton; the notebook's own solutions pass."""

import json
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import check
from course_utils.settings import PACKAGE_PARENT

NOTEBOOK = PACKAGE_PARENT / "notebooks" / "01_mnist_fc_vs_cnn.ipynb"


# ------------------------------------------------------------------ 01.4: a training step
def right_step(model, images, labels, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def skeleton_step(model, images, labels, optimizer):
    ...
    return ...


def no_zero_grad(model, images, labels, optimizer):
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def no_step(model, images, labels, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    return loss.item()


def no_backward(model, images, labels, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    optimizer.step()
    return loss.item()


def no_return(model, images, labels, optimizer):
    right_step(model, images, labels, optimizer)


def mse_loss(model, images, labels, optimizer):
    optimizer.zero_grad()
    loss = F.mse_loss(model(images), F.one_hot(labels, 2).float())
    loss.backward()
    optimizer.step()
    return loss.item()


def gradient_ascent(model, images, labels, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    (-loss).backward()
    optimizer.step()
    return loss.item()


def flattens_the_batch(model, images, labels, optimizer):
    return F.cross_entropy(model(images.view(-1)), labels).item()


def test_a_right_step_is_right_also_returning_the_loss_tensor():
    assert check("01.4", right_step).startswith("Exercise 01.4: right.")
    assert check("01.4", lambda *a: torch.tensor(right_step(*a))).startswith("Exercise 01.4: right.")


@pytest.mark.parametrize("answer", [..., None, skeleton_step])
def test_the_unfilled_step_is_not_done_yet(answer):
    assert "not done yet" in check("01.4", answer)


@pytest.mark.parametrize("answer, problem", [
    (no_zero_grad, "the gradients pile up from step to step: call optimizer.zero_grad()"),
    (no_step, "the weights did not change although gradients were computed: call optimizer.step()"),
    (no_backward, "the weights did not change and have no gradients: call loss.backward()"),
    (no_return, "train_step returned None: end it with `return loss.item()`"),
    (mse_loss, "but the cross-entropy of the model's outputs on this batch, before the step, is"),
    (gradient_ascent, "the loss did not fall over 30 steps"),
    (flattens_the_batch, "raised IndexError"),
    (3, "the answer is 3, not a function"),
])
def test_a_wrong_step_is_told_what_is_wrong(answer, problem):
    said = check("01.4", answer)
    assert said.startswith("Exercise 01.4: not yet: ") and problem in said, said
    assert "Hint: " in said


# ------------------------------------------------------------------ 01.5: the CNN's forward
class Skeleton(nn.Module):
    def __init__(self, n_feature=6):
        super().__init__()
        self.conv1 = nn.Conv2d(1, n_feature, kernel_size=5)
        self.conv2 = nn.Conv2d(n_feature, n_feature, kernel_size=5)
        self.fc1 = nn.Linear(n_feature * 4 * 4, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        ...


class Right(Skeleton):
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.view(x.shape[0], -1))))


class FlattensTheBatch(Skeleton):
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.view(-1))))


class NoSecondPool(Skeleton):
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.fc2(F.relu(self.fc1(F.relu(self.conv2(x)).flatten(1))))


class NoReLU(Skeleton):
    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        return self.fc2(self.fc1(x.flatten(1)))


class StopsAtFc1(Skeleton):
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.fc1(F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1))


class Wider(Right):
    def __init__(self):
        super().__init__(n_feature=8)


class Typo(Skeleton):
    def forward(self, x):
        return self.conv3(x)


def test_a_right_forward_is_right():
    assert check("01.5", Right).startswith("Exercise 01.5: right.")


@pytest.mark.parametrize("answer", [..., Skeleton])
def test_the_unfilled_forward_is_not_done_yet(answer):
    assert "not done yet" in check("01.5", answer)


@pytest.mark.parametrize("answer, problem", [
    (FlattensTheBatch, "fc1 got the wrong number of inputs per image"),
    (NoSecondPool, "fc1 got the wrong number of inputs per image"),
    (NoReLU, "the shape is right but the scores are not those of conv1 -> ReLU"),
    (StopsAtFc1, "wrong output shape: got (3, 50) for a batch of 3 images, expected (3, 10)"),
    (Wider, "the model has 8,776 parameters, the CNN of this notebook 6,422"),
    (Typo, "raised AttributeError"),
    (Right(), "pass the class itself"),
])
def test_a_wrong_forward_is_told_what_is_wrong(answer, problem):
    said = check("01.5", answer)
    assert said.startswith("Exercise 01.5: not yet: ") and problem in said, said


# ------------------------------------------------------------------ the notebook's cells
def cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text())["cells"]


def run(source: str) -> dict:
    namespace = {"torch": torch, "nn": nn, "F": F, "check": check}   # what earlier cells imported
    exec(source, namespace)
    return namespace


@pytest.mark.parametrize("key, name", [("01.4", "train_step"), ("01.5", "MyCNN")])
def test_the_notebooks_solution_passes_and_its_skeleton_is_not_done_yet(key, name, capsys):
    text = {c["id"]: "".join(c["source"]) for c in cells()}
    markdown = next(t for t in text.values() if t.startswith(f"**{key}**"))
    solution = re.search(r"<summary>Solution</summary>\s*```python\n(.*?)```", markdown, re.S)
    assert solution, f"{key}: no revealable python solution"
    assert check(key, run(solution.group(1))[name]).startswith(f"Exercise {key}: right.")
    skeleton = next(t for t in text.values() if f'print(check("{key}"' in t)
    run(skeleton)
    assert "not done yet" in capsys.readouterr().out
