"""Notebook 02's code exercise: the pixel shuffle's checker, fed right and wrong answers."""

import json
import re
from pathlib import Path

import torch

from course_utils.exercises import check

ROOT = Path(__file__).resolve().parents[1]


def notebook_solution(notebook: str, key: str, name: str):
    """Run the revealable solution of exercise ``key`` (the ```python block inside its
    <details><summary>Solution</summary>) and return what it defines as ``name``."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    text = next("".join(c["source"]) for c in cells if c["cell_type"] == "markdown" and f"**{key}**" in "".join(c["source"]))
    code = re.search(r"<summary>Solution</summary>.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace[name]


def right(images, perm):
    return images.flatten(-2)[..., perm].view(images.shape)


def test_right_answers_pass():
    assert check("02.3", right).startswith("Exercise 02.3: right.")
    assert "right" in check("02.3", lambda x, p: x.flatten(-2).index_select(-1, p).unflatten(-1, x.shape[-2:]))


def test_the_notebooks_solution_passes():
    assert check("02.3", notebook_solution("02_pixel_permutation.ipynb", "02.3", "shuffle_pixels")).startswith(
        "Exercise 02.3: right.")


def test_skeleton_is_not_done_yet():
    def skeleton(images, perm):
        return ...
    assert "not done yet" in check("02.3", skeleton)
    assert "not done yet" in check("02.3", ...)


def verdict(fn) -> str:
    text = check("02.3", fn)
    assert text.startswith("Exercise 02.3: not yet: ") and "Hint: " in text, text
    return text


def test_wrong_answers_say_what_is_wrong():
    assert "unchanged" in verdict(lambda x, p: x.clone())
    assert "inverse shuffle" in verdict(lambda x, p: x.flatten(-2)[..., torch.argsort(p)].view(x.shape))
    assert "shape must stay the same" in verdict(lambda x, p: x.flatten(-2)[..., p])
    assert "returned None" in verdict(lambda x, p: None)
    assert "own pixels" in verdict(lambda x, p: torch.rand_like(x))
    assert "same perm for every image" in verdict(
        lambda x, p: torch.stack([right(x[:1], p)[0]] + [right(i[None], torch.randperm(p.numel()))[0] for i in x[1:]]))
    assert "raised" in verdict(lambda x, p: x.view(-1, 784)[:, p].view(x.shape))   # 28x28 only: fails on 8x8
    assert "changed the images" in verdict(lambda x, p: x.copy_(right(x, p)))
    assert "not a tensor" in verdict(lambda x, p: right(x, p).tolist())
    assert "function" in verdict(42)
