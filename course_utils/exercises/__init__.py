"""The exercises of every notebook, checked by ``check(key, answer)``.

Two kinds: questions with a numeric answer (:mod:`.numbers`) and exercises that write code
(a model's ``forward``, a training step, a frozen body, ...). A code exercise's checker lives in
``course_utils/exercises/nbNN.py`` (``CHECKS = {"01.4": function}``): it runs the student's code
and says what is wrong in plain words (:mod:`.code` has the shared pieces). In a notebook::

    print(check("01.4", train_step))
"""

from __future__ import annotations

import importlib

from course_utils.exercises.numbers import EXERCISES, solution  # noqa: F401 (offered here)
from course_utils.exercises.numbers import check as check_number


def check(key: str, answer: object) -> str:
    """A verdict on ``answer`` to exercise ``key``: right, wrong (with what is wrong and a hint),
    or not done yet."""
    if key in EXERCISES:
        return check_number(key, answer)
    try:
        checks = importlib.import_module(f"course_utils.exercises.nb{key[:2]}").CHECKS
    except ModuleNotFoundError:
        checks = {}
    if key not in checks:
        raise KeyError(f"no exercise {key!r}; there are {', '.join([*EXERCISES, *checks])}")
    return checks[key](answer)
