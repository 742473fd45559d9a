"""Notebook 04's code exercise: the classifier head's checker, fed right and wrong answers."""

from torch import nn

from course_utils.exercises import check
from test_exercises_nb02 import notebook_solution


def verdict(head) -> str:
    text = check("04.6", head)
    assert text.startswith("Exercise 04.6: not yet: ") and "Hint: " in text, text
    return text


def test_right_answers_pass():
    text = check("04.6", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 1000)))
    assert text.startswith("Exercise 04.6: right.") and "257,000 parameters" in text
    # a 1x1 conv to 1000 maps, then the average: the same numbers in the other order
    assert "right" in check("04.6", nn.Sequential(nn.Conv2d(256, 1000, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()))


def test_the_notebooks_solution_passes():
    head = notebook_solution("04_alexnet_arithmetic.ipynb", "04.6", "head")
    assert check("04.6", head).startswith("Exercise 04.6: right.")


def test_skeleton_is_not_done_yet():
    assert "not done yet" in check("04.6", ...)


def test_wrong_answers_say_what_is_wrong():
    big = verdict(nn.Sequential(nn.Flatten(), nn.Linear(256 * 6 * 6, 1000)))
    assert "9,217,000 parameters, more than the 300,000 allowed" in big
    assert "flatten them" in verdict(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(256, 1000, 1)))
    assert "expected (2, 1000)" in verdict(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)))
    assert "raised RuntimeError" in verdict(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Linear(256, 1000)))
    small_fixed = nn.Sequential(nn.MaxPool2d(6), nn.Flatten(), nn.Linear(256, 1000))   # 6x6 only
    assert "256x13x13" in verdict(small_fixed)
    assert "nn.Module" in verdict(lambda x: x)
