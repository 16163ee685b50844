"""The contract of every exercise check: friendly feedback, never an exception.

Each ``check_*`` function takes the student's answer and returns a :class:`CheckResult`. Put
the call last in a cell and the notebook shows a coloured message; the result is truthy when
the answer is right (``assert check_...(answer)`` works in tests). A check never raises on a
wrong, missing (``None`` / ``...``) or malformed answer: it says what is expected instead, so a
notebook with unanswered exercises still runs top to bottom.

Adding checks for another chapter: a module ``exercises_<topic>.py`` next to this one, whose
functions return :func:`passed`, :func:`not_yet` or :func:`no_answer`; :func:`is_missing`,
:func:`as_number` and :func:`as_int_set` handle the usual input mistakes (strings,
percentages, numpy/torch scalars, lists vs sets).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "CheckResult",
    "as_int_set",
    "as_number",
    "is_close",
    "is_missing",
    "no_answer",
    "not_yet",
    "passed",
]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check: ``ok`` plus a message (and a hint when not ok). Truthy when ok."""

    ok: bool
    message: str
    hint: str = ""

    # Headings, the hint label and what follows them; a subclass translates them
    # (teaching.exercises_chinese.ZhCheckResult: Chinese punctuation takes no space after it).
    CORRECT: ClassVar[str] = "\u2705 Correct!"
    NOT_YET: ClassVar[str] = "\u274c Not yet."
    HINT: ClassVar[str] = "Hint:"
    SPACE: ClassVar[str] = " "

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = self.CORRECT if self.ok else self.NOT_YET
        hint = f"\n{self.HINT}{self.SPACE}{self.hint}" if self.hint else ""
        return head + self.SPACE + self.message + hint

    __repr__ = __str__  # plain consoles and text/plain outputs show the message itself

    def _repr_html_(self) -> str:
        color, bg = ("#1b5e20", "#e8f5e9") if self.ok else ("#8a4b00", "#fff4e0")
        hint = f"<br><i>{self.HINT}</i>{self.SPACE}{html.escape(self.hint)}" if self.hint else ""
        head = self.CORRECT if self.ok else self.NOT_YET
        return (
            f"<div style='border-left:4px solid {color};background:{bg};padding:6px 10px;color:#222'>"
            f"<b style='color:{color}'>{head}</b> {html.escape(self.message)}{hint}</div>"
        )


def passed(message: str) -> CheckResult:
    """A correct answer."""
    return CheckResult(True, message)


def not_yet(message: str, hint: str = "") -> CheckResult:
    """A wrong answer, with what is wrong and a hint."""
    return CheckResult(False, message, hint)


def no_answer(what: str) -> CheckResult:
    """The placeholder is still there."""
    return CheckResult(False, f"No answer yet: replace the placeholder with {what}.")


def is_missing(answer) -> bool:
    """True for the placeholders notebooks ship with (``None`` and ``...``)."""
    return answer is None or answer is Ellipsis


def as_number(answer) -> float | None:
    """``answer`` as a float (ints, floats, numeric strings, numpy/torch scalars), else None."""
    if isinstance(answer, bool):
        return None
    try:
        value = float(answer.item() if hasattr(answer, "item") else answer)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    return None if math.isnan(value) else value


def as_int_set(answer) -> set[int] | None:
    """``answer`` (list, tuple, set, range, tensor of ints) as a set of ints, else None."""
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        return None
    values = set()
    for item in answer:
        number = as_number(item)
        if number is None or not math.isfinite(number) or number != int(number):
            return None
        values.add(int(number))
    return values


def is_close(a: float, b: float, tol: float) -> bool:
    """Whether two numbers agree within an absolute tolerance."""
    return abs(a - b) <= tol
