"""Checks for the exercises of chapters 01 (attention formulas) and 03 (masks in practice).

Chapter 05's checks (the attention explorer) are in :mod:`.exercises_explorer`.

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and
never raises on a wrong, missing (``None`` / ``...``) or malformed answer.
Boolean masks: True = *the query may attend to the key*.
"""

from __future__ import annotations

import math

import torch

from ..attention_masks import MaskError, MaskRule, sliding_window, topk_keys
from ..hf import check_attention_mask, extract_attention
from .checks import CheckResult, as_number, is_missing, no_answer, not_yet, passed

__all__ = [
    "check_blocked_weight_factor",
    "check_empty_row_weights",
    "check_keys_per_row",
    "check_model_mask",
    "check_previous_and_self_mask",
]


def _as_bool_matrix(answer, length: int) -> tuple[torch.Tensor | None, str]:
    """``answer`` (MaskRule or tensor) as a bool ``[length, length]`` mask, else (None, why)."""
    if isinstance(answer, MaskRule):
        try:
            return answer.dense(1, 1, length)[0, 0], ""
        except MaskError as exc:
            return None, f"Your rule cannot be materialized over {length} tokens: {exc}"
    if not isinstance(answer, torch.Tensor):
        return (
            None,
            f"Expected a MaskRule or a bool tensor [{length}, {length}], got {type(answer).__name__}.",
        )
    t = answer
    while t.ndim > 2 and t.shape[0] == 1:
        t = t[0]
    if tuple(t.shape) != (length, length):
        return None, f"Expected shape ({length}, {length}) (queries x keys), got {tuple(answer.shape)}."
    if t.dtype != torch.bool:
        return None, f"Expected a bool mask (True = may attend), got dtype {t.dtype}; try mask.bool()."
    return t, ""


def check_previous_and_self_mask(answer, *, length: int = 6) -> CheckResult:
    """A mask where token ``i`` may attend only to ``i - 1`` and ``i`` (token 0 only to itself).

    Args:
        answer: A :class:`MaskRule` or a bool ``[length, length]`` tensor (True = may attend).
        length: Number of tokens the mask is checked on.
    """
    if is_missing(answer):
        return no_answer("a MaskRule or a bool tensor (True = may attend)")
    mask, why = _as_bool_matrix(answer, length)
    if mask is None:
        return not_yet(why, "Rows are queries, columns are keys; True = may attend.")
    expected = sliding_window(2).dense(1, 1, length)[0, 0]
    if torch.equal(mask, expected):
        return passed(
            "Each row allows exactly the diagonal and the cell left of it: "
            "this is sliding_window(2), or causal() & sliding_window(1, causal=False)."
        )
    if torch.equal(mask, expected.T):
        return not_yet(
            "This is the transpose: token i sees i and i + 1.",
            "Rows are queries (who attends), columns keys: row i should allow columns i-1 and i.",
        )
    if torch.equal(mask, ~expected):
        return not_yet("This is the complement: True must mean *may attend*.", "Invert it with ~.")
    if torch.equal(mask, torch.ones(length, length, dtype=torch.bool).tril()):
        return not_yet(
            "This is the full causal mask: token i sees *every* earlier token.",
            "Limit it to a window of 2: sliding_window(2), or causal() & (a band).",
        )
    if torch.equal(mask, sliding_window(3).dense(1, 1, length)[0, 0]):
        return not_yet(
            "Each token sees the two previous ones: one too many.",
            "A causal window counts keys (sliding_window(2): itself and one before), a "
            "bidirectional one the distance on each side (causal() & sliding_window(1, causal=False)).",
        )
    if torch.equal(mask, torch.eye(length, dtype=torch.bool)):
        return not_yet("Each token sees only itself.", "Also allow the previous token (key i - 1).")
    wrong = (mask != expected).nonzero().tolist()[:3]
    return not_yet(
        f"Some cells differ from the expected mask, e.g. (query, key) = {wrong}.",
        "Row i should be True exactly at columns i - 1 and i.",
    )


def check_empty_row_weights(answer, *, n_keys: int = 5) -> CheckResult:
    """The weights of a fully masked row under an additive ``finfo.min`` mask (eager softmax).

    Args:
        answer: One number (the weight of every key) or ``n_keys`` numbers.
        n_keys: Number of keys in the row.
    """
    if is_missing(answer):
        return no_answer(f"a number, or a list of {n_keys} numbers")
    expected = 1.0 / n_keys
    try:  # one number or several (list, tuple, tensor); as_number would turn NaN into None
        values = [float(v) for v in torch.as_tensor(answer, dtype=torch.float64).reshape(-1)]
    except (TypeError, ValueError, RuntimeError):
        return not_yet(f"Expected a number or a list of numbers, got {answer!r}.")
    if any(math.isnan(v) for v in values):
        return not_yet(
            "NaN is what -inf gives, not finfo.min.",
            "finfo.min is a finite number: every score in the row becomes the same value.",
        )
    if len(values) not in (1, n_keys):
        return not_yet(f"The row has {n_keys} keys; give one number or {n_keys} numbers.")
    if all(abs(v - expected) < 1e-3 for v in values):
        return passed(
            f"Uniform: 1/{n_keys} = {expected:.2f} each. All scores in the row equal finfo.min "
            "(the small differences are lost in float32), so softmax cannot tell the keys "
            "apart."
        )
    if all(abs(v) < 1e-9 for v in values):
        return not_yet(
            "Zeros are what SDPA with a *bool* mask outputs, not eager softmax.",
            "Softmax weights always sum to 1 when the scores are finite.",
        )
    shown = ", ".join(f"{v:g}" for v in values)
    return not_yet(f"[{shown}] is not it.", "What is softmax of n equal numbers?")


def check_blocked_weight_factor(answer) -> CheckResult:
    """By what factor a 0/1 mask *added* to the scores divides a 'blocked' key's weight (e)."""
    if is_missing(answer):
        return no_answer("a number")
    value = as_number(answer)
    if value is None:
        return not_yet(f"Expected a number, got {answer!r}.")
    if abs(value - math.e) < 0.01:
        return passed(
            "e = 2.718: the allowed keys get +1, so exp(score + 1) = e * exp(score). The "
            "'blocked' key keeps a weight only e times smaller: nothing is masked."
        )
    if abs(value - 1 / math.e) < 0.01:
        return not_yet(
            "That is the ratio the other way round.", "Blocked weight / allowed weight, or its inverse?"
        )
    if value in (0.0, float("inf")) or value > 1e6:
        return not_yet(
            "That is what a real mask would do.", "Adding 1 (allowed) and 0 (blocked): what does exp(+1) do?"
        )
    return not_yet(f"{value:g} is not it.", "Compare exp(s + 1) with exp(s + 0).")


def check_keys_per_row(
    answer, model, tokenizer, text: str, scores: torch.Tensor, *, k: int = 2
) -> CheckResult:
    """How many keys get a non-zero weight in each row under ``topk_keys(scores, k)`` (03, Ex. 2).

    The expected count is measured, not given: the check builds the exercise's rule from the
    notebook's own ``scores``, runs ``model`` with it through
    :func:`~dynmask_viz.hf.extract_attention` and counts the non-zero weights of every row, layer
    and head. So the call a student sees does not hold the answer. The measuring runs first,
    whatever the answer (also with no answer yet, as in a FAST run of the notebook), so a
    premise that fails is found by whoever runs the notebook.

    Args:
        answer: A whole number.
        model: The eager model of the chapter.
        tokenizer: Its tokenizer.
        text: The chapter's text.
        scores: The exercise's scores, float ``[1, 1|H, L, L]`` over ``text``'s ``L`` tokens (in
            chapter 03: the model's layer-0 attention, mean of heads).
        k: The ``k`` of the exercise's ``topk_keys(scores, k)``.

    Raises:
        ValueError: The rows of this ``model``, ``text``, ``scores`` and ``k`` do not all keep
            the same number of non-zero weights, so the question has no single answer: a fault
            of the notebook, never of the student's answer (which is not looked at).
    """
    counts = _nonzero_keys_per_row(model, tokenizer, text, scores, k)
    low, high = int(counts.min()), int(counts.max())
    if low != high:
        raise ValueError(
            f"check_keys_per_row: under topk_keys(scores, k={k}) the rows keep between {low} and {high} "
            "non-zero weights on this text, so the exercise has no single right answer. Change text, "
            "scores or k in the notebook (the rows' counts: (attentions > 0).sum(-1))."
        )
    if is_missing(answer):
        return no_answer("a whole number")
    value = as_number(answer)
    if value is None:
        return not_yet(f"Expected a whole number, got {answer!r}.")
    if value == low:
        return passed(f"{low}: topk_keys keeps exactly k keys per query, and a blocked key gets weight 0.")
    if value == counts.shape[-1]:
        return not_yet(
            "That is every key of the row: a blocked key gets weight exactly 0 (finfo.min).",
            "Count the True cells in one row of the mask.",
        )
    return not_yet(
        f"{value:g} is not it.", "Count the True cells in one row of the mask; blocked cells get 0."
    )


def _nonzero_keys_per_row(model, tokenizer, text: str, scores: torch.Tensor, k: int) -> torch.Tensor:
    """``[layers, heads, queries]`` count of non-zero weights under ``topk_keys(scores, k)``."""
    masked = extract_attention(model, tokenizer, text, topk_keys(scores, k))
    return (masked.example(0) > 0).sum(-1)


def check_model_mask(answer, model, input_ids: torch.Tensor, expected: MaskRule) -> CheckResult:
    """An ``attention_mask`` that makes ``model`` attend exactly as ``expected`` allows.

    Args:
        answer: What the student would pass as ``model(input_ids, attention_mask=answer)``.
        model: The transformers model (eager or sdpa).
        input_ids: ``[1, L]`` token ids.
        expected: The rule the mask should implement.
    """
    if is_missing(answer):
        return no_answer("the tensor you would pass as attention_mask=")
    if not isinstance(answer, torch.Tensor):
        return not_yet(f"Expected a torch.Tensor, got {type(answer).__name__}.", "to_hf_mask returns one.")
    report = check_attention_mask(model, input_ids, answer)
    if not report.ok:
        return not_yet(
            "check_attention_mask finds a problem: " + report.problems[0],
            "Use to_hf_mask(rule, model, input_ids=input_ids).",
        )
    if answer.ndim != 4:
        return not_yet("A 2-D mask can only express padding.", "Build a 4-D mask with to_hf_mask.")
    length = input_ids.shape[1]
    allowed = answer if answer.dtype == torch.bool else answer == 0
    allowed = torch.broadcast_to(allowed, (allowed.shape[0], allowed.shape[1], length, length))[0, 0]
    want = expected.dense(1, 1, length)[0, 0]
    if torch.equal(allowed.cpu(), want):
        return passed(
            f"The model will attend exactly as {expected.name} allows "
            f"({int(want.sum())} of {want.numel()} pairs)."
        )
    return not_yet(
        f"The mask is valid but allows {int(allowed.sum())} pairs where {expected.name} allows "
        f"{int(want.sum())}.",
        f"Pass the rule itself: to_hf_mask({expected.name}, model, input_ids=...).",
    )
