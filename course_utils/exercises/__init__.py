"""The exercises of every notebook, checked by ``print(check(key, answer))``: numeric answers
(:mod:`.numbers`) and code exercises, whose checkers (:mod:`.code`) run the student's code."""

from course_utils.exercises.code import CHECKS
from course_utils.exercises.numbers import EXERCISES, solution  # noqa: F401 (offered here)
from course_utils.exercises.numbers import check as check_number


def check(key: str, answer: object) -> str:
    """A verdict on ``answer`` to exercise ``key``: right, wrong (what is wrong, a hint), or not done yet."""
    if key in EXERCISES:
        return check_number(key, answer)
    if key not in CHECKS:
        raise KeyError(f"no exercise {key!r}; there are {', '.join([*EXERCISES, *CHECKS])}")
    return CHECKS[key](answer)
