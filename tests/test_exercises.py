"""Exercises: answers computed by the formulas, verdicts that explain, solutions in the notebooks."""

import re

import nbformat
import pytest

from course_utils.instructor import find_notebooks
from course_utils.exercises import EXERCISES, check, solution
from course_utils.exercises.code import CHECKS
from course_utils.settings import PACKAGE_PARENT


def test_right_wrong_and_unanswered():
    assert check("04.1", 1).startswith("Exercise 04.1: right, 1.")
    assert check("04.3", 228) == "Exercise 04.3: 228 is not it. Hint: " + EXERCISES["04.3"].hint
    assert "not answered yet" in check("04.3", ...)
    assert "the answer is a number" in check("01.1", "156")
    assert check("03.2", 0.91).startswith("Exercise 03.2: right")      # a float, with tolerance
    with pytest.raises(KeyError, match="no exercise '09.9'"):
        check("09.9", 1)


def test_answers_follow_from_the_formulas():
    assert EXERCISES["04.3"].answer == 227 and EXERCISES["04.4"].answer == 307_456
    assert EXERCISES["03.1"].answer == 400 and EXERCISES["01.2"].answer == 6_280


def notebooks():
    return {p.stem[:2]: nbformat.read(p, as_version=4) for p in find_notebooks(PACKAGE_PARENT / "notebooks")}


@pytest.mark.parametrize("number", sorted(notebooks()))
def test_every_notebook_ends_with_exercises_with_hints_and_solutions(number):
    nb = notebooks()[number]
    text = "\n".join(c.source for c in nb.cells)
    keys = sorted(set(re.findall(rf'check\("({number}\.\d)"', text)))
    assert 2 <= len(keys) <= 6, f"notebook {number}: exercises {keys}"
    for key in keys:
        if key not in EXERCISES:   # a code exercise: its checker's tests are tests/test_exercises_nbNN.py
            assert key in CHECKS, key
            continue
        # its revealable solution states the computed answer
        answer = solution(key).split(". ", 1)[0]
        blocks = re.findall(r"<details><summary>(.*?)</summary>(.*?)</details>", text, re.S)
        assert any(answer in body for _, body in blocks), f"{key}: no <details> solution saying {answer}"
    assert text.count("<details><summary>Hint") >= len(keys), f"notebook {number}: a hint per exercise"
