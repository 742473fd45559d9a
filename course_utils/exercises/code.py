"""What the checkers of code exercises share: running the student's code and saying what went
wrong in words a student understands."""

from __future__ import annotations

import traceback
from typing import Any, Callable


class Problem(Exception):
    """What is wrong with a student's answer, in plain words (the checker's verdict)."""


def unfinished(answer: object) -> bool:
    """``...`` or ``None``: the exercise cell has not been filled in yet."""
    return answer is Ellipsis or answer is None


def attempt(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an exception becomes a :class:`Problem` that says ``what`` failed,
    with the error's last line (``NotImplementedError`` and ``...`` left in the code read as
    "not written yet")."""
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise Problem(f"{what} is not written yet (it raises NotImplementedError)") from None
    except Exception as error:  # the student's code: any error is the answer's problem
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        raise Problem(f"{what} raised {last}") from None
    if result is Ellipsis:
        raise Problem(f"{what} returned ... : replace the ... with your code")
    return result


def verdict(key: str, run: Callable[[], str], hint: str) -> str:
    """Run the checks of exercise ``key`` (``run`` returns what a right answer did, or raises
    :class:`Problem`) and word the outcome."""
    try:
        why = run()
    except Problem as problem:
        return f"Exercise {key}: not yet: {problem}. Hint: {hint}"
    return f"Exercise {key}: right. {why}"


def pending(key: str) -> str:
    return f"Exercise {key}: not done yet; write your code in place of the ... and run the cell again."
