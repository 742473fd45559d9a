"""Notebook 03's code exercise 03.4 (a VGG block): right, wrong in several ways, not done yet,
and the notebook's own revealable solution."""

import re

import nbformat
import pytest
from torch import nn

from course_utils.exercises import check
from course_utils.settings import PACKAGE_PARENT

NOTEBOOK = PACKAGE_PARENT / "notebooks" / "03_cifar10_lenet_vgg.ipynb"


def block_of(conv=lambda cin, cout: nn.Conv2d(cin, cout, 3, padding=1, bias=False), norm=nn.BatchNorm2d,
             act=nn.ReLU, pool=True, order="cna", second_in=None):
    """A vgg_block with one thing changed."""
    def vgg_block(in_channels, out_channels, convs):
        layers = []
        for i in range(convs):
            cin = in_channels if i == 0 else (second_in or out_channels)
            parts = {"c": conv(cin, out_channels), "n": norm(out_channels) if norm else None,
                     "a": act() if act else None}
            layers += [parts[k] for k in order if parts[k] is not None]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)
    return vgg_block


def test_right():
    assert check("03.4", block_of()).startswith("Exercise 03.4: right.")


@pytest.mark.parametrize("answer, says", [
    (block_of(conv=lambda cin, cout: nn.Conv2d(cin, cout, 3, bias=False)),
     "wrong output shape for vgg_block(3, 16, 2) on a batch of shape (4, 3, 32, 32): got (4, 16, 14, 14), "
     "expected (4, 16, 16, 16) (the maps shrank too much: each 3x3 convolution needs padding=1"),
    (block_of(pool=False), "got (4, 16, 32, 32), expected (4, 16, 16, 16) (the 2x2 max-pool"),
    (block_of(conv=lambda cin, cout: nn.Conv2d(cin, cout, 3, padding=1)),
     "wrong parameter count for vgg_block(3, 16, 2): got 2,832, expected 2,800 (its convolutions have biases"),
    (block_of(norm=None), "wrong parameter count for vgg_block(3, 16, 2): got 2,736, expected 2,800 "
                          "(it has 0 batch norms: each of the 2 convolutions needs one"),
    (block_of(conv=lambda cin, cout: nn.Conv2d(cin, cout, 5, padding=2, bias=False)), "should be 3x3"),
    (block_of(act=None), "gives negative outputs: each batch norm needs a ReLU after it"),
    (block_of(order="can"), "gives negative outputs"),
    (block_of(second_in=7), "vgg_block(3, 16, 2) on a batch of shape (4, 3, 32, 32) raised RuntimeError"),
    (lambda cin, cout, convs: [nn.Conv2d(cin, cout, 3, padding=1, bias=False)],
     "returned a list, not a module: return nn.Sequential(*layers)"),
    (lambda cin, cout, convs: 1 / 0, "vgg_block(3, 16, 2) raised ZeroDivisionError"),
    (nn.Sequential(), 'pass the function itself, not what it returns: check("03.4", vgg_block)'),
])
def test_wrong_answers_say_what_is_wrong(answer, says):
    said = check("03.4", answer)
    assert said.startswith("Exercise 03.4: not yet: ") and says in said, said
    assert "Hint: " in said


def exercise_cells():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "**03.4**" in c.source)
    return nb.cells[index].source, nb.cells[index + 1].source


def run_cell(source: str) -> dict:
    namespace = {"nn": nn, "check": check}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def test_skeleton_is_not_done_yet(capsys):
    _, skeleton = exercise_cells()
    run_cell(skeleton)
    assert "Exercise 03.4: not done yet" in capsys.readouterr().out
    assert "not done yet" in check("03.4", ...)


def test_notebook_solution_passes():
    task, _ = exercise_cells()
    solution = re.search(r"<summary>Solution</summary>.*?```python\n(.*?)```", task, re.S).group(1)
    assert check("03.4", run_cell(solution)["vgg_block"]).startswith("Exercise 03.4: right.")
