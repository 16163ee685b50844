"""Checks for the notebooks' exercises: friendly feedback, never an exception.

Each ``check_*`` function takes the student's answer and returns a :class:`CheckResult`. Put
the call last in a cell and the notebook shows a coloured message; the result is truthy when
the answer is right (``assert check_...(answer)`` works in tests). A check never raises on a
wrong, missing (``None`` / ``...``) or malformed answer: it says what is expected instead, so a
notebook with unanswered exercises still runs top to bottom.

Adding checks for another chapter: write a function returning :func:`passed`, :func:`not_yet`
or :func:`no_answer`; :func:`is_missing`, :func:`as_number` and :func:`as_int_set` handle the
usual input mistakes (strings, percentages, numpy/torch scalars, lists vs sets).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from .masking import MaskingConfig, theoretical_ever_masked

__all__ = ["CheckResult", "passed", "not_yet", "no_answer", "is_missing", "as_number", "as_int_set",
           "check_share_never_masked", "check_times_each_mask_seen", "check_repeating_epochs",
           "check_bert_config"]  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check: ``ok`` plus a message (and a hint when not ok). Truthy when ok."""

    ok: bool
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = "\u2705 Correct! " if self.ok else "\u274c Not yet. "
        return head + self.message + (f"\nHint: {self.hint}" if self.hint else "")

    __repr__ = __str__  # plain consoles and text/plain outputs show the message itself

    def _repr_html_(self) -> str:
        color, bg = ("#1b5e20", "#e8f5e9") if self.ok else ("#8a4b00", "#fff4e0")
        hint = f"<br><i>Hint:</i> {html.escape(self.hint)}" if self.hint else ""
        head = "\u2705 Correct!" if self.ok else "\u274c Not yet."
        return (f"<div style='border-left:4px solid {color};background:{bg};padding:6px 10px;color:#222'>"
                f"<b style='color:{color}'>{head}</b> {html.escape(self.message)}{hint}</div>")  # fmt: skip


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


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def check_share_never_masked(answer, *, p: float, epochs: int, dupe_factor: int | None = None,
                             tol: float = 5e-4) -> CheckResult:  # fmt: skip
    """Expected share of tokens *never* selected over ``epochs`` epochs.

    Args:
        answer: The student's share, a number in [0, 1] (3 decimals are enough).
        p: Masking probability.
        epochs: Number of epochs.
        dupe_factor: Distinct static masks; ``None`` for dynamic masking.
        tol: Accepted absolute error.
    """
    if is_missing(answer):
        return no_answer("a number between 0 and 1")
    value = as_number(answer)
    if value is None:
        return not_yet(f"Expected a number between 0 and 1, got {answer!r}.")
    expected = 1.0 - theoretical_ever_masked(p, epochs, dupe_factor)
    chances = epochs if dupe_factor is None else min(epochs, dupe_factor)
    if _close(value, expected, tol):
        return passed(f"(1 - {p:g})^{chances} = {expected:.4f}: that share of tokens is never "
                      "a prediction target.")  # fmt: skip
    if 1.0 < value <= 100.0 and _close(value / 100.0, expected, tol):
        return not_yet("That looks like a percentage.", "Give a share between 0 and 1 (e.g. 0.2, not 20).")
    if _close(value, 1.0 - expected, tol):
        return not_yet("That is the share masked *at least once*.",
                       "The question asks for the share *never* masked.")  # fmt: skip
    if dupe_factor is not None and _close(value, (1.0 - p) ** epochs, tol):
        return not_yet("You gave every epoch a fresh chance.",
                       f"Static masking cycles only {dupe_factor} distinct masks: a token has "
                       f"min(epochs, dupe_factor) = {chances} independent chances, not {epochs}.")  # fmt: skip
    return not_yet(f"{value:g} is not it.",
                   "One mask misses a token with probability 1 - p; independent masks multiply.")  # fmt: skip


def check_times_each_mask_seen(answer, *, epochs: int = 40, dupe_factor: int = 10) -> CheckResult:
    """How many times each static mask is seen over ``epochs`` epochs (BERT: 40 / 10 = 4)."""
    if is_missing(answer):
        return no_answer("a whole number")
    value = as_number(answer)
    expected = epochs / dupe_factor
    if value is None:
        return not_yet(f"Expected a number, got {answer!r}.")
    if _close(value, expected, 1e-9):
        return passed(f"{epochs} epochs / {dupe_factor} masks = {expected:g} times each.")
    if _close(value, dupe_factor, 1e-9):
        return not_yet("That is the number of distinct masks.", "How often does each of them come back?")
    return not_yet(f"{value:g} is not it.", "Epoch e uses mask e % dupe_factor: count the epochs per mask.")


def check_repeating_epochs(answer, *, dupe_factor: int, epochs: int, epoch: int) -> CheckResult:
    """Which epochs (0-based) see exactly the same static mask as ``epoch``.

    Args:
        answer: Collection of epoch numbers, ``epoch`` itself included.
        dupe_factor: Distinct static masks.
        epochs: Number of epochs (``0..epochs-1``).
        epoch: The reference epoch.
    """
    if is_missing(answer):
        return no_answer(f"a list of epoch numbers, e.g. [{epoch}, ...]")
    got = as_int_set(answer)
    if got is None:
        return not_yet(f"Expected a list of whole epoch numbers, got {answer!r}.")
    expected = {e for e in range(epochs) if e % dupe_factor == epoch % dupe_factor}
    if got == expected:
        return passed(f"Epochs {sorted(expected)} all use mask {epoch % dupe_factor} (epoch % {dupe_factor}).")
    if {e - 1 for e in got} == expected:
        return not_yet("Off by one.", f"Epochs count from 0 here: the first epoch is 0, the last {epochs - 1}.")
    if got == expected - {epoch}:
        return not_yet("Almost.", f"Include epoch {epoch} itself.")
    extra, missing = sorted(got - expected), sorted(expected - got)
    detail = "; ".join(part for part in (f"not these: {extra}" if extra else "",
                                         f"missing: {missing}" if missing else "") if part)  # fmt: skip
    return not_yet(f"Not quite ({detail}).", f"Epoch e uses mask e % {dupe_factor}.")


def check_bert_config(config) -> CheckResult:
    """A ``MaskingConfig`` reproducing BERT's original masking (128-token phase).

    BERT's ``create_pretraining_data.py``: ``masked_lm_prob=0.15``, an exact number of
    predictions per sequence (``round(0.15 * n)``, at least 1), at most
    ``max_predictions_per_seq=20``, single word pieces (whole-word masking came later), 80/10/10.
    """
    if is_missing(config):
        return no_answer("MaskingConfig(...)")
    if not isinstance(config, MaskingConfig):
        return not_yet(f"Expected a MaskingConfig, got {type(config).__name__}.",
                       "Build one: MaskingConfig(mlm_probability=..., count=..., ...).")  # fmt: skip
    problems = []
    if not _close(config.mlm_probability, 0.15, 1e-9):
        problems.append(f"mlm_probability={config.mlm_probability:g} (BERT: 0.15)")
    if config.count != "exact":
        problems.append(f"count={config.count!r}: BERT picks an exact number of tokens per sequence")
    if config.max_predictions != 20:
        problems.append(f"max_predictions={config.max_predictions!r}: BERT capped at 20 in the 128-token phase")
    if config.unit != "token":
        problems.append(f"unit={config.unit!r}: the original BERT masked single word pieces")
    if not (_close(config.mask_replace_prob, 0.8, 1e-9) and _close(config.random_replace_prob, 0.1, 1e-9)):
        problems.append(f"{config.mask_replace_prob:g}/{config.random_replace_prob:g}/{config.keep_prob:g} "
                        "instead of 80/10/10")  # fmt: skip
    if problems:
        return not_yet("Differences from BERT: " + "; ".join(problems) + ".",
                       "MaskingConfig.from_preset('bert') is the answer key, if you are stuck.")  # fmt: skip
    return passed("This is BERT's scheme: exact counts, capped at 20, 80/10/10 on single word pieces.")
