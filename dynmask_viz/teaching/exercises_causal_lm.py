"""Checks for the exercises of chapter 09 (a causal language model, step by step).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer.
Boolean masks: True = *the query may attend to the key*. Generation steps count from 0: step 0
feeds the whole prompt, step ``s >= 1`` feeds the token chosen on step ``s - 1``.
"""

from __future__ import annotations

from .checks import CheckResult, as_number, is_missing, no_answer, not_yet, passed

__all__ = ["check_decoding_mask_row", "check_decoding_shapes", "check_next_token_labels"]


def _int_list(answer) -> list[int] | None:
    """``answer`` (list, tuple, tensor, torch.Size) as a list of ints, else None."""
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
        return None
    out = []
    for item in answer:
        number = as_number(item)
        if number is None or number != int(number):
            return None
        out.append(int(number))
    return out


def check_decoding_shapes(answer, *, prompt_length: int = 7, step: int = 5) -> CheckResult:
    """The query length and the 4-D attention-mask shape of one generation step with a KV cache.

    Args:
        answer: ``(query_length, mask_shape)``, e.g. ``(3, (1, 1, 3, 9))``; the mask shape is
            ``[batch, 1, queries, keys]`` for one sequence.
        prompt_length: Tokens of the prompt (fed on step 0).
        step: The step asked about (0 = the prompt's pass).
    """
    if is_missing(answer):
        return no_answer("a pair (query_length, mask_shape)")
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return not_yet(
            f"Expected a pair (query_length, mask_shape); got {answer!r:.60}.",
            "For example (3, (1, 1, 3, 9)).",
        )
    query, shape = as_number(answer[0]), _int_list(answer[1])
    if query is None or shape is None:
        return not_yet(
            "query_length must be a number and mask_shape a tuple of 4 ints.",
            "For example (3, (1, 1, 3, 9)).",
        )
    want_q = prompt_length if step == 0 else 1
    keys = prompt_length + step  # step s>=1: P + s - 1 cached keys and the query's own
    want = [1, 1, want_q, keys]
    if query == want_q and shape == want:
        return passed(
            f"Step {step} feeds {want_q} token(s); {keys - want_q} keys are already cached and the "
            f"query adds its own, so the mask is {tuple(want)}: one row over {keys} keys."
        )
    if query != want_q:
        if step > 0 and query == prompt_length:
            return not_yet(
                "The prompt is fed only once, on step 0.",
                "With a cache every later step feeds only the token chosen last.",
            )
        if step > 0 and query == prompt_length + step:
            return not_yet(
                "That is generation *without* a cache: every step feeds the whole text again.",
                "The cache keeps the keys and values of everything fed before.",
            )
        return not_yet(f"Query length {query:g} is not right.", "How many new tokens does this step feed?")
    if len(shape) != 4:
        return not_yet(
            f"The mask has 4 dimensions [batch, 1, queries, keys]; you gave {len(shape)}.",
            "Batch 1, one mask for all heads, then queries x keys.",
        )
    # The dimensions in order: the hint names the first wrong one, never a right one.
    if shape[0] != 1:
        return not_yet(
            f"The batch dimension is {shape[0]}; one sequence is generated here.",
            "Dimension 0 is the batch: 1.",
        )
    if shape[1] != 1:
        return not_yet(
            f"Dimension 1 is {shape[1]}: the model builds one mask for all heads (size 1, broadcast).",
            "The mask is [batch, 1, queries, keys].",
        )
    if shape[2] != want_q:
        return not_yet(
            f"Dimension 2 (queries) is {shape[2]}: the mask has one row per query of this step.",
            f"This step has {want_q} quer{'y' if want_q == 1 else 'ies'}.",
        )
    if shape[3] == keys - 1:
        return not_yet(
            "One key short: the new token's own key is added to the cache before attention.",
            "A token may attend to itself.",
        )
    return not_yet(
        f"The key length {shape[3]} is not right.",
        "Count the cached tokens (prompt + tokens generated so far).",
    )


def check_next_token_labels(answer, *, input_ids) -> CheckResult:
    """The label of every position for next-token prediction, aligned with the positions.

    Position ``t`` must predict the token at ``t + 1``; the last position has nothing to
    predict inside the text, so its label is ``-100`` (ignored by the loss).

    Args:
        answer: A list (or tensor) of ``len(input_ids)`` ints.
        input_ids: The text's token ids.
    """
    ids = _int_list(input_ids)
    if is_missing(answer):
        return no_answer(f"a list of {len(ids)} ints")
    labels = _int_list(answer)
    if labels is None:
        return not_yet(f"Expected a list of ints; got {type(answer).__name__}.", "For example [5, 7, -100].")
    want = ids[1:] + [-100]
    if labels == want:
        return passed(
            "Position t is labelled with token t + 1, and the last one with -100. This is the shift "
            "that GPT2LMHeadModel does itself when you pass labels=input_ids."
        )
    if labels == ids[1:]:
        return not_yet(
            f"Right tokens, but {len(labels)} labels for {len(ids)} positions.",
            "The last position has no next token: give it -100.",
        )
    if labels == ids:
        return not_yet(
            "That asks every position to predict itself (what you pass as labels= when the model "
            "shifts them for you, not the shifted labels).",
            "Shift by one: position t gets token t + 1.",
        )
    if labels == [-100] + ids[:-1]:
        return not_yet("Shifted the wrong way: that is the *previous* token.", "Position t gets token t + 1.")
    if len(labels) != len(ids):
        return not_yet(f"Expected {len(ids)} labels (one per position); got {len(labels)}.")
    return not_yet("Not the next-token labels.", "Position t gets token t + 1; the last gets -100.")


_TOP_LEFT = {"top-left", "top_left", "topleft", "top left", "upper-left", "upper left"}
_BOTTOM_RIGHT = {"bottom-right", "bottom_right", "bottomright", "bottom right", "lower-right", "lower right"}


def _bool_row(answer) -> list[bool] | None:
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    while isinstance(answer, (list, tuple)) and len(answer) == 1 and isinstance(answer[0], (list, tuple)):
        answer = answer[0]
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
        return None
    row = []
    for item in answer:
        if isinstance(item, bool) or item in (0, 1):
            row.append(bool(item))
        else:
            return None
    return row


def check_decoding_mask_row(alignment, row, *, cache_length: int = 10) -> CheckResult:
    """Which alignment ``is_causal=True`` uses, and the mask row a 1-token query needs.

    Args:
        alignment: ``"top-left"`` or ``"bottom-right"``: how SDPA's ``is_causal=True`` aligns
            its causal mask when there are fewer queries than keys.
        row: The bool mask row (True = may attend) of one new query over ``cache_length``
            cached keys and its own key (``cache_length + 1`` entries).
        cache_length: Keys already in the cache.
    """
    if is_missing(alignment) or is_missing(row):
        return no_answer("an alignment ('top-left' or 'bottom-right') and a bool row")
    name = str(alignment).strip().lower()
    if name not in _TOP_LEFT | _BOTTOM_RIGHT:
        return not_yet(f"Alignment {alignment!r} is neither 'top-left' nor 'bottom-right'.")
    if name in _BOTTOM_RIGHT:
        return not_yet(
            "Bottom-right is what decoding *needs*, but not what is_causal=True builds.",
            "torch builds is_causal's mask as ones(L, S).tril(): query 0 gets row 0.",
        )
    values = _bool_row(row)
    n = cache_length + 1
    if values is None:
        return not_yet("The row must be a list (or tensor) of bools (True = may attend).")
    if len(values) == cache_length:
        return not_yet(f"{cache_length} entries: the query's own key is missing.", f"The row has {n} keys.")
    if len(values) != n:
        return not_yet(
            f"Expected {n} entries ({cache_length} cached keys and the new one); got {len(values)}."
        )
    if values == [True] + [False] * cache_length:
        return not_yet(
            "That is the row is_causal=True gives a single query: key 0 only (the trap).",
            "The new token is the *last* position: every earlier token is in its past.",
        )
    if all(values):
        return passed(
            "is_causal=True aligns top-left, so one query would see key 0 only; the new token is the "
            "last position and needs every key, i.e. no mask at all (is_causal=False for 1 query)."
        )
    return not_yet(
        "Some keys are blocked that the new token may see.", "Which cached tokens are in its past?"
    )
