"""Notebook 05's code exercise (a head swap with a frozen body): the checker says right to a
right answer, names the problem of each wrong one, says "not done yet" to the notebook's
skeleton, and passes the notebook's own revealable solution."""

import json
import re

import pytest
from torch import nn

from course_utils.exercises import check
from course_utils.settings import PACKAGE_PARENT

NOTEBOOK = PACKAGE_PARENT / "notebooks" / "05_transfer_hotdogs.ipynb"


def _cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def right(net, num_classes):
    net.requires_grad_(False)
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net


def not_frozen(net, num_classes):
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net


def frozen_after(net, num_classes):
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    net.requires_grad_(False)
    return net


def fixed_two(net, num_classes):
    net.requires_grad_(False)
    net.fc = nn.Linear(net.fc.in_features, 2)
    return net


def no_swap(net, num_classes):
    net.requires_grad_(False)
    return net


def wrong_width(net, num_classes):
    net.requires_grad_(False)
    net.fc = nn.Linear(1000, num_classes)
    return net


def two_layers(net, num_classes):
    net.requires_grad_(False)
    net.fc = nn.Sequential(nn.Linear(net.fc.in_features, 64), nn.ReLU(), nn.Linear(64, num_classes))
    return net


def no_return(net, num_classes):
    net.requires_grad_(False)
    net.fc = nn.Linear(net.fc.in_features, num_classes)


def test_right_answer():
    assert check("05.3", right).startswith("Exercise 05.3: right.")


@pytest.mark.parametrize("answer, says", [
    (not_frozen, "gradients reach the frozen body: 11,176,512 of its parameters"),
    (frozen_after, "no gradient reaches the new head"),
    (fixed_two, "wrong output shape with num_classes=5: got (2, 2), expected (2, 5)"),
    (no_swap, "the old 1000-class ImageNet layer is still there"),
    (wrong_width, "net.fc.in_features = 512 inputs"),
    (two_layers, "wrong number of trainable parameters with num_classes=2: got 32,962, expected 1,026"),
    (no_return, "swap_head returned a NoneType: return the net"),
])
def test_wrong_answers_are_named(answer, says):
    verdict = check("05.3", answer)
    assert verdict.startswith("Exercise 05.3: not yet:") and says in verdict, verdict


def test_the_skeleton_is_not_done_yet():
    code = next("".join(c["source"]) for c in _cells() if 'check("05.3"' in "".join(c["source"]))
    namespace = {"nn": nn, "check": check}
    exec(code.replace("print(", "said = ("), namespace)
    assert "not done yet" in namespace["said"]
    assert "not done yet" in check("05.3", ...)


def test_the_notebooks_solution_is_right():
    text = next("".join(c["source"]) for c in _cells() if "**05.3**" in "".join(c["source"]))
    namespace = {"nn": nn}
    exec(re.search(r"<summary>Solution</summary>\s*```python\n(.*?)```", text, re.S).group(1), namespace)
    assert check("05.3", namespace["swap_head"]).startswith("Exercise 05.3: right.")
