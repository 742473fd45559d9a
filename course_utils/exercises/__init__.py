"""The exercises of every notebook, checked by ``print(check(key, answer))``: numeric answers
(:mod:`.numbers`) and code exercises, whose checkers (:mod:`.code`) run the student's code."""

import math

from course_utils.exercises.code import CHECKS
from course_utils.exercises.numbers import EXERCISES, formatted, solution


def check(key: str, answer: object) -> str:
    """A verdict on ``answer`` to exercise ``key``: right, wrong (what is wrong, a hint), or not done yet."""
    if key in CHECKS:
        return CHECKS[key](answer)
    if key not in EXERCISES:
        raise KeyError(f"no exercise {key!r}; there are {', '.join([*EXERCISES, *CHECKS])}")
    if answer is Ellipsis or answer is None:
        return f"Exercise {key}: not answered yet; replace ... with your answer."
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"Exercise {key}: the answer is a number; got {answer!r}."
    if math.isclose(answer, EXERCISES[key].answer, rel_tol=EXERCISES[key].tolerance):
        return f"Exercise {key}: right, {solution(key)}"
    return f"Exercise {key}: {formatted(answer)} is not it. Hint: {EXERCISES[key].hint}"
