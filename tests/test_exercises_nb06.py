"""Notebook 06's code exercise (a residual block with a 1x1 projection when the shape changes):
the checker says right to a right block, names the problem of each wrong one, says "not done
yet" to the notebook's skeleton, and passes the notebook's own revealable solution."""

import json
import re

import pytest
from torch import nn

from course_utils.exercises import check
from course_utils.settings import PACKAGE_PARENT

NOTEBOOK = PACKAGE_PARENT / "notebooks" / "06_residual_connections.ipynb"


def _cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def _solution_code() -> str:
    text = next("".join(c["source"]) for c in _cells() if "**06.3**" in "".join(c["source"]))
    return re.search(r"<summary>Solution</summary>\s*```python\n(.*?)```", text, re.S).group(1)


def _block(shortcut, fwd, body_stride=True):
    """A ProjectionBlock whose shortcut is ``shortcut(in, out, stride)`` and whose forward is
    ``fwd(self, x)``."""
    class Block(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride if body_stride else 1, padding=1, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = shortcut(cin, cout, stride)
            self.relu = nn.ReLU()

        forward_ = fwd

        def forward(self, x):
            return self.forward_(x)
    return Block


def projection(cin, cout, stride):
    if stride != 1 or cin != cout:
        return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
    return nn.Identity()


def added(self, x):
    return self.relu(self.body(x) + self.shortcut(x))


RIGHT = _block(projection, added)


def test_right_block():
    assert check("06.3", RIGHT).startswith("Exercise 06.3: right.")


@pytest.mark.parametrize("answer, says", [
    (_block(lambda cin, cout, s: nn.Identity(), added), "the shortcut must give the same shape"),
    (_block(lambda cin, cout, s: nn.Conv2d(cin, cout, 1, bias=False), added), "the shortcut must give the same shape"),
    (_block(lambda cin, cout, s: nn.Conv2d(cin, cout, 3, stride=s, padding=1, bias=False) if cin != cout
            else nn.Identity(), added), "no 1x1 convolution"),
    (_block(projection, lambda self, x: self.relu(self.body(x))), "no gradient reaches the 1x1 shortcut"),
    (_block(projection, lambda self, x: self.relu(self.shortcut(x))), "no gradient reaches the body"),
    (_block(projection, lambda self, x: self.body(x) + self.shortcut(x)), "apply the ReLU after the addition"),
    (_block(lambda cin, cout, s: nn.Conv2d(cin, cout, 1, stride=s, bias=False), added),
     "when the shape stays the same the shortcut is the identity"),
    (_block(lambda cin, cout, s: nn.Conv2d(cin, cout, 1, bias=False), added, body_stride=False),
     "wrong output shape for ProjectionBlock(16, 32, stride=2): got (2, 32, 14, 14)"),
])
def test_wrong_blocks_are_named(answer, says):
    verdict = check("06.3", answer)
    assert verdict.startswith("Exercise 06.3: not yet:") and says in verdict, verdict


def test_a_wrong_stride_in_the_shortcut():
    wrong = _block(lambda cin, cout, s: nn.Conv2d(cin, cout, 1, stride=1, bias=False) if cin != cout else nn.Identity(),
                   lambda self, x: self.relu(self.body(x) + self.shortcut(x)[..., ::2, ::2]))
    assert "it must have the block's stride (2)" in check("06.3", wrong)


def test_the_skeleton_is_not_done_yet():
    code = next("".join(c["source"]) for c in _cells() if 'check("06.3"' in "".join(c["source"]))
    namespace = {"nn": nn, "check": lambda key, answer: check(key, answer)}
    exec(code.replace("print(", "said = ("), namespace)
    assert "not done yet" in namespace["said"]
    assert "not done yet" in check("06.3", ...)


def test_the_notebooks_solution_is_right():
    namespace = {"nn": nn}
    exec(_solution_code(), namespace)
    assert check("06.3", namespace["ProjectionBlock"]).startswith("Exercise 06.3: right.")
