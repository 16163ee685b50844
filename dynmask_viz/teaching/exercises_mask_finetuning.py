"""Checks for the exercises of chapter 07 (fine-tuning with masks inside every layer).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected answer is
computed inside the check from its other arguments (lengths, tokens, the experiment's summary
table), so a notebook cell never shows it before the student answers. Those other arguments
are the notebook author's: a wrong one raises a ``ValueError`` naming it.

Boolean keep rows: True = *the key stays visible* (queries may attend to it).
"""

from __future__ import annotations

import torch

from ..attention_masks import stopword_keep_mask
from .checks import CheckResult, as_number, is_close, is_missing, no_answer, not_yet, passed

__all__ = ["check_significant", "check_stopword_keep", "check_test_time_cost", "check_topk_share"]

SHARE_TOL = 0.005  # a share to 2 decimals (or better) passes
VERDICTS = ("helps", "hurts", "no measurable difference")
_VERDICT_ALIASES = {"help": "helps", "hurt": "hurts", "no difference": "no measurable difference"}


def check_topk_share(answer, *, length: int, k: int) -> CheckResult:
    """Share of the (query, key) pairs a ``TopKKeys(k)`` layer mask keeps in one review.

    Each of the ``length`` queries keeps its ``min(k, length)`` best keys among the ``length``
    real ones, so the share is ``min(k, length) / length`` (the same in every layer and head).

    Args:
        answer: The share as a fraction in [0, 1] (within 0.005), e.g. ``0.25`` or ``8 / 32``.
        length: Real (non-padding) tokens of the review, ``[CLS]`` and ``[SEP]`` included.
        k: The rule's ``k``.
    """
    for name, value in (("length", length), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"check_topk_share({name}=...) must be an int >= 1; got {value!r}.")
    if is_missing(answer):
        return no_answer("a share between 0 and 1")
    if isinstance(answer, str) and answer.strip().endswith("%"):
        return not_yet("That is a percentage: give it as a fraction.", "0.25, not 25 %.")
    value = as_number(answer)
    if value is None:
        return not_yet(f"Expected a number between 0 and 1, got {answer!r}.")
    kept = min(k, length)
    expected = kept / length
    close = lambda target: is_close(value, target, SHARE_TOL)
    if close(expected):
        capped = f" (k = {k} > {length} tokens: every key stays)" if k > length else ""
        return passed(
            f"min({k}, {length}) / {length} = {expected:.3f}{capped}: each of the {length} queries keeps "
            f"{kept} of its {length} keys, so {kept} x {length} of the {length}² pairs."
        )
    precision = f"(answers within {SHARE_TOL} of the right share pass)"
    if 1.0 < value <= 100.0 and is_close(value / 100.0, expected, SHARE_TOL):
        return not_yet("That looks like a percentage: give it as a fraction.", "e.g. 0.25, not 25.")
    if k > length and close(k / length):
        return not_yet(
            f"k = {k} is more than the {length} tokens of this review.",
            "A query cannot keep more keys than there are: TopKKeys keeps min(k, length) keys.",
        )
    if close(kept / length**2):
        return not_yet(
            f"That counts only {kept} kept pairs in all: one query's worth.",
            f"*Each* of the {length} queries keeps its own {kept} keys.",
        )
    if close(1.0 - expected):
        return not_yet("That is the share of pairs *dropped*.", "The question asks for the share kept.")
    if not 0.0 <= value <= 1.0:
        return not_yet(f"{value:g} is not a share: it must lie between 0 and 1.", precision)
    return not_yet(
        f"{value:g} is not it {precision}.",
        "Count the kept keys in one query's row, then divide by the keys in that row.",
    )


def _looks_special(token: str) -> bool:
    # Only to word the feedback; the expected row itself comes from stopword_keep_mask.
    return len(token) > 2 and token[0] + token[-1] in ("[]", "<>")


def _as_flags(answer, length: int) -> tuple[list[bool] | None, str, str]:
    """``answer`` as ``length`` bools, else (None, why, hint)."""
    shape_hint = f"One True/False per token: a list or a bool tensor of length {length}."
    if isinstance(answer, torch.Tensor) or type(answer).__module__ == "numpy":
        dtype = str(getattr(answer, "dtype", ""))
        values = answer.tolist() if hasattr(answer, "tolist") else answer
        if dtype not in ("torch.bool", "bool"):
            flat = values
            while isinstance(flat, list) and len(flat) == 1 and isinstance(flat[0], list):
                flat = flat[0]
            if isinstance(flat, list) and len(flat) == length and all(v in (0, 1) for v in flat):
                return None, f"The model needs key_keep as a bool tensor, got dtype {dtype}.", "Add .bool()."
            return None, f"Expected a bool tensor of length {length}, got dtype {dtype}.", shape_hint
        answer = values
    if isinstance(answer, (str, bytes, dict)) or not isinstance(answer, (list, tuple)):
        return None, f"Expected a list of True/False, got {type(answer).__name__}.", shape_hint
    while len(answer) == 1 and isinstance(answer[0], (list, tuple)):
        answer = answer[0]  # a batch of one row, [[...]]
    flags = []
    for item in answer:
        if isinstance(item, (list, tuple)):
            return None, "Expected one row of True/False, got a nested list (several rows?).", shape_hint
        if getattr(item, "ndim", None) == 0 and hasattr(item, "item"):
            item = item.item()  # numpy / torch scalars
        if isinstance(item, bool) or (isinstance(item, int) and item in (0, 1)):
            flags.append(bool(item))
        else:
            return None, f"Expected only True/False values, got {item!r}.", shape_hint
    if len(flags) != length:
        return None, f"There are {length} tokens but you gave {len(flags)} values.", shape_hint
    return flags, "", ""


def check_stopword_keep(answer, tokens: list[str]) -> CheckResult:
    """The key-keep row of ``drop_stopwords`` for ``tokens`` (True = the key stays visible).

    The expected row is ``stopword_keep_mask(tokens)[0]``: stopwords and punctuation hidden,
    special tokens (``[CLS]``, ``[SEP]``) and WordPiece continuations (``##s``) kept.

    Args:
        answer: A list of bools (or 0/1), or a bool tensor ``[L]`` / ``[1, L]``.
        tokens: The review's tokens, e.g. ``tokenizer.convert_ids_to_tokens(ids)``.
    """
    if not isinstance(tokens, (list, tuple)) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"check_stopword_keep(tokens=...) must be a non-empty list of str; got {tokens!r}.")
    if is_missing(answer):
        return no_answer(f"a list of {len(tokens)} True/False values (True = the key stays visible)")
    flags, why, hint = _as_flags(answer, len(tokens))
    if flags is None:
        return not_yet(why, hint)
    expected = stopword_keep_mask(list(tokens))[0].tolist()
    no_punct = stopword_keep_mask(list(tokens), stopwords=())[0].tolist()  # False = punctuation
    hidden = [t for t, keep in zip(tokens, expected, strict=True) if not keep]
    if flags == expected:
        return passed(
            f"{sum(expected)} of {len(tokens)} tokens stay visible as keys; hidden: {hidden}. "
            "Special tokens stay, and so do continuation pieces (##s is part of a word)."
        )
    if flags == [not e for e in expected]:
        return not_yet("This is inverted: True must mean the key stays *visible*.", "Flip every value.")
    wrong = [i for i, (f, e) in enumerate(zip(flags, expected, strict=True)) if f != e]
    groups: dict[str, list[str]] = {}
    for i in wrong:  # each wrong flag under the first reason that fits it
        if _looks_special(tokens[i]):
            reason = "keep {} (special tokens stay visible)"
        elif tokens[i].startswith("##") and not flags[i]:
            reason = "keep {} (pieces of longer words, not stopwords)"
        elif flags[i] and not no_punct[i]:
            reason = "hide {} (drop_stopwords hides punctuation too)"
        elif flags[i]:
            reason = "hide {} (stopwords)"
        else:
            reason = "keep {} (not stopwords)"
        groups.setdefault(reason, []).append(tokens[i])
    problems = [reason.format(" ".join(found)) for reason, found in groups.items()]
    return not_yet(
        "Not quite: " + "; ".join(problems) + ".",
        "A token is hidden when, lowercased, it is in ENGLISH_STOPWORDS or is only punctuation.",
    )


def _rows(summary) -> dict[str, dict]:
    rows = summary.get("rows") if isinstance(summary, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "condition" in r for r in rows):
        raise ValueError(
            "summary must be the dict mask_finetuning.summarize(records) returns ({'rows': [...]}); "
            f"got {type(summary).__name__}."
        )
    return {r["condition"]: r for r in rows}


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _verdict(answer) -> str | None:
    if not isinstance(answer, str):
        return None
    text = " ".join(answer.lower().replace("_", " ").replace("-", " ").split())
    text = _VERDICT_ALIASES.get(text, text)
    return text if text in VERDICTS else None


def check_significant(answer, summary: dict, condition: str) -> CheckResult:
    """Does fine-tuning with ``condition``'s mask change test accuracy measurably vs ``full``?

    Read off the paired difference (same seeds, only the mask differs): its 95 % Student t
    interval above 0 -> ``"helps"``, below 0 -> ``"hurts"``, containing 0 ->
    ``"no measurable difference"``.

    Args:
        answer: ``"helps"``, ``"hurts"`` or ``"no measurable difference"`` (case-insensitive).
        summary: ``mask_finetuning.summarize(records)`` (or the loaded ``summary.json``).
        condition: A row of the summary other than ``"full"``.
    """
    rows = _rows(summary)
    row = rows.get(condition)
    if row is None or "diff_interval" not in row or "diff_mean" not in row:
        raise ValueError(
            f"check_significant(condition={condition!r}) needs a row of the summary with a paired "
            f"difference to full; rows with one: {[c for c, r in rows.items() if 'diff_interval' in r]}."
        )
    if is_missing(answer):
        return no_answer('"helps", "hurts" or "no measurable difference"')
    got = _verdict(answer)
    if got is None:
        return not_yet(
            f'Answer "helps", "hurts" or "no measurable difference", got {answer!r}.',
            "A yes/no does not say which way the difference goes.",
        )
    lo, hi = (float(v) for v in row["diff_interval"])
    mean = float(row["diff_mean"])
    expected = "helps" if lo > 0 else "hurts" if hi < 0 else VERDICTS[2]
    n = len(row.get("seeds", ())) or "the"
    if got == expected:
        why = {
            "helps": "lies entirely above 0: the mask gives higher accuracy than full attention",
            "hurts": "lies entirely below 0: the mask costs accuracy",
            VERDICTS[2]: "contains 0: with these seeds the difference cannot be told apart from seed "
            "noise (which is not proof that there is none)",
        }[expected]
        return passed(
            f"{condition} minus full, paired over {n} seeds: mean {_pts(mean)} points, 95 % interval "
            f"[{_pts(lo)}, {_pts(hi)}], which {why}."
        )
    column = "the 'vs full, paired mean [95 % CI]' column"
    if {got, expected} == {"helps", "hurts"}:
        return not_yet(
            "Wrong direction.",
            f"The difference is {condition} minus full: positive = the mask scores higher.",
        )
    if got != VERDICTS[2]:
        return not_yet(
            f"The mean difference is {_pts(mean)} points, but a mean alone is not a measurable change.",
            f"Look at the interval in {column}: the change is measurable only if it lies on one side of 0.",
        )
    full = rows.get("full", {})
    if "interval" in row and "interval" in full:
        (a_lo, a_hi), (b_lo, b_hi) = row["interval"], full["interval"]
        if a_lo <= b_hi and b_lo <= a_hi:
            return not_yet(
                "The two accuracy intervals overlap, but the runs are paired (same seed, same data "
                "order): the paired difference is the sharper test.",
                f"Read {column}.",
            )
    return not_yet("Not this one.", f"Read {column}: does its interval contain 0?")


def _condition_name(answer) -> str | None:
    name = answer if isinstance(answer, str) else getattr(answer, "name", None)
    return name.strip().lower() if isinstance(name, str) else None


def check_test_time_cost(answer, summary: dict) -> CheckResult:
    """Which rule costs the baseline's models the most accuracy when applied only at test time.

    The drop of a condition is the ``full`` row's median minus its ``test_time_only_median``
    (the models fine-tuned with full attention, scored with this mask).

    Args:
        answer: A condition name of the table (e.g. ``"random_drop"``), or its rule name.
        summary: ``mask_finetuning.summarize(records)`` (or the loaded ``summary.json``).
    """
    rows = _rows(summary)
    drops = {
        c: float(rows["full"]["median"]) - float(r["test_time_only_median"])
        for c, r in rows.items()
        if c != "full" and "full" in rows and "test_time_only_median" in r
    }
    if not drops:
        raise ValueError(
            "check_test_time_cost(summary=...) needs a 'full' row and rows with test_time_only_median."
        )
    if is_missing(answer):
        return no_answer('a condition name from the table, e.g. "random_drop"')
    name = _condition_name(answer)
    if name is None:
        return not_yet(f"Expected a condition name (a string), got {answer!r}.")
    aliases = {c.lower(): c for c in rows} | {
        str(r["rule"]).lower(): c for c, r in rows.items() if "rule" in r
    }
    got = aliases.get(name)
    if got is None:
        return not_yet(
            f"{answer!r} is not a condition of the table.", f"Scored at test time only: {sorted(drops)}."
        )
    if got == "full":
        return not_yet("full is the baseline itself: scored with full attention, it loses nothing.")
    if got not in drops:
        return not_yet(
            f"{got} has no test-time-only score: a learned mask exists only in models trained with it.",
            f"Scored at test time only: {sorted(drops)}.",
        )
    best = max(drops.values())
    base = float(rows["full"]["median"])
    after = float(rows[got]["test_time_only_median"])
    points = f"{_pts(-drops[got])} points"
    change = f"{base:.1%} -> {after:.1%}, {points}"
    if drops[got] >= best - 1e-12:
        trained = rows[got].get("median")
        tail = f" Fine-tuned with the mask instead: {float(trained):.1%}." if trained is not None else ""
        return passed(f"{got} costs the most at test time only ({change}).{tail}")
    hint = "Subtract each 'mask at test time only' median from the full baseline's median; take the largest."
    trained = {c: float(rows[c]["median"]) for c in drops if "median" in rows[c]}
    if trained and min(trained, key=trained.get) == got:
        hint = (
            f"{got} has the lowest accuracy when *trained* with its mask; the question is about the "
            "baseline's models scored with the mask only at test time."
        )
    return not_yet(
        f"At test time only, {got} changes the accuracy by {points}; another rule loses more.", hint
    )
