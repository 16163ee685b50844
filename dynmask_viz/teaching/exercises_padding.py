"""Checks for the exercises of chapter 08 (padding in a real batch).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected answer is
computed inside the check from the batch's ``attention_mask``, so a notebook cell never
shows it. A wrong ``attention_mask`` (the notebook author's argument) raises ``ValueError``.

Conventions: ``attention_mask`` 1/True = real token; masks True = *the query may attend to
the key*.
"""

from __future__ import annotations

import torch

from .checks import CheckResult, is_missing, no_answer, not_yet, passed

__all__ = [
    "check_key_padding_mask",
    "check_last_real_positions",
    "check_left_padding_position_ids",
    "check_padding_side",
]


def _real(attention_mask) -> torch.Tensor:
    """The author's ``attention_mask`` as bool ``[B, L]`` (True = real token), or ValueError."""
    t = torch.as_tensor(attention_mask)
    if t.ndim != 2 or t.numel() == 0 or not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(
            "attention_mask must be the tokenizer's [B, L] padding mask of 0/1 (1 = real token); "
            f"got {t.dtype} {tuple(t.shape)}."
        )
    real = t.bool()
    if not bool(real.any(-1).all()):
        raise ValueError("attention_mask has a row without any real token; pass a batch of real texts.")
    return real


def _tensor(answer) -> torch.Tensor | None:
    if isinstance(answer, torch.Tensor):
        return answer.detach().cpu()
    if type(answer).__module__ == "numpy":
        try:
            return torch.as_tensor(answer)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def _first_wrong(got: torch.Tensor, want: torch.Tensor) -> str:
    b, *rest = (int(i) for i in (got != want).nonzero()[0])
    at = (b, *rest)
    return f"row {b}, key slot {rest[-1]}: you have {bool(got[at])}, it should be {bool(want[at])}"


def check_key_padding_mask(answer, attention_mask) -> CheckResult:
    """The key-padding mask of a batch: bool ``[B, 1, 1, K]``, True = the key may be attended.

    Args:
        answer: The student's tensor.
        attention_mask: The batch's ``[B, K]`` padding mask, 1 = real token.
    """
    real = _real(attention_mask)
    batch, keys = real.shape
    want = real[:, None, None, :]
    shape = f"[{batch}, 1, 1, {keys}]"
    if is_missing(answer):
        return no_answer(f"a bool tensor of shape {shape}")
    t = _tensor(answer)
    if t is None:
        return not_yet(
            f"Expected a torch.Tensor of shape {shape}, got {type(answer).__name__}.",
            "Start from the tensor attention_mask and add size-1 dims with None in an index.",
        )
    if t.ndim == 2 and tuple(t.shape) == (batch, keys):
        return not_yet(
            f"That is [B, K] = {tuple(t.shape)}, the 2-D attention_mask's shape.",
            "Scores are [B, H, Q, K]: add a size-1 head dim and a size-1 query dim so it broadcasts.",
        )
    if t.ndim == 4 and tuple(t.shape) == (batch, 1, keys, 1):
        return not_yet(
            "The padding is on the query axis (dim 2); padding hides keys, the last dim.",
            f"Shape {shape}: a padding slot is a column no query may attend to.",
        )
    if t.ndim == 4 and tuple(t.shape) == (batch, 1, keys, keys):
        if t.dtype == torch.bool and torch.equal(t, want.expand_as(t)):
            return not_yet(
                f"Right values, expanded over the {keys} queries (transformers 5 materialises it like that).",
                f"The question asks for the broadcastable {shape}: one row per example.",
            )
        if t.dtype == torch.bool and torch.equal(t, want.expand_as(t) & real[:, None, :, None]):
            return not_yet(
                "You also blocked the padding queries (rows): a key-padding mask hides keys only.",
                f"A padding query still attends to the real keys; the mask is {shape}.",
            )
    if tuple(t.shape) != tuple(want.shape):
        return not_yet(f"Expected shape {shape} (batch, heads, queries, keys); got {tuple(t.shape)}.")
    if t.dtype != torch.bool:
        values_01 = bool(((t == 0) | (t == 1)).all())
        if values_01 and torch.equal(t.bool(), want):
            return not_yet(
                f"Right values, but dtype {t.dtype}: eager attention *adds* a non-bool mask to the "
                "scores, so 1 and 0 block nothing.",
                "Convert it with .bool().",
            )
        return not_yet(
            f"Expected a bool mask (True = may attend); got dtype {t.dtype}.",
            "Make a bool tensor: True on real tokens.",
        )
    if torch.equal(t, ~want):
        return not_yet(
            "Inverted: True must mean *may attend*, i.e. the real tokens, not the padding.",
            "Which value does attention_mask hold on a real token?",
        )
    if torch.equal(t, want):
        return passed(
            f"{shape}, True on the {int(real.sum())} real tokens: broadcast against the scores "
            "[B, H, Q, K], every head and every query of an example sees the same real keys."
        )
    return not_yet(f"Shape and dtype are right, but not the values: {_first_wrong(t, want)}.")


def check_last_real_positions(answer, attention_mask) -> CheckResult:
    """The slot to read each row's next-token logits from: its last real token.

    Args:
        answer: One int per row (list, tuple or tensor).
        attention_mask: The batch's ``[B, L]`` padding mask, 1 = real token.
    """
    real = _real(attention_mask)
    batch, length = real.shape
    slots = torch.arange(length).expand(batch, -1)
    want = [int(s) for s in slots.masked_fill(~real, -1).amax(-1)]
    if is_missing(answer):
        return no_answer(f"{batch} slot numbers, one per row")
    values = answer.tolist() if hasattr(answer, "tolist") else answer
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, (list, tuple)):
        return not_yet(f"Expected a list of {batch} ints (one slot per row), got {type(answer).__name__}.")
    values = [v.item() if getattr(v, "ndim", None) == 0 and hasattr(v, "item") else v for v in values]
    if len(values) != batch or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return not_yet(f"Expected {batch} ints (one slot per row), got {values!r}.")
    if values == want:
        return passed(f"{want}: logits[b, slot_b] reads each prompt right after its own last token.")
    if values == [length - 1] * batch:
        return not_yet(
            f"That is the last slot, {length - 1}, for every row: logits[:, -1].",
            "In a right-padded row the last slot is a padding token; its prediction is not the prompt's.",
        )
    lengths = [int(n) for n in real.sum(-1)]
    if values == lengths:
        return not_yet("Those are the numbers of real tokens: off by one.", "Slots count from 0.")
    wrong = next(b for b in range(batch) if values[b] != want[b])
    return not_yet(
        f"Row {wrong} is not right ({values[wrong]}).", "Find the last slot where attention_mask is 1."
    )


def check_left_padding_position_ids(answer, attention_mask) -> CheckResult:
    """``position_ids`` for a (left-)padded batch: each text's real tokens numbered from 0.

    The values at padding slots are not checked (nothing reads them).

    Args:
        answer: An int tensor ``[B, L]``.
        attention_mask: The batch's ``[B, L]`` padding mask, 1 = real token.
    """
    real = _real(attention_mask)
    batch, length = real.shape
    want = real.long().cumsum(-1) - 1
    if is_missing(answer):
        return no_answer(f"an int tensor of shape [{batch}, {length}]")
    t = _tensor(answer)
    if t is None:
        return not_yet(f"Expected a torch.Tensor [{batch}, {length}], got {type(answer).__name__}.")
    if tuple(t.shape) != (batch, length):
        return not_yet(f"Expected shape [{batch}, {length}] (one position per slot); got {tuple(t.shape)}.")
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        return not_yet(
            f"Positions are integers (an index into the position table); got dtype {t.dtype}.", "Use .long()."
        )
    t = t.long()
    if torch.equal(t[real], want[real]):
        return passed(
            "Every text's first real token gets position 0, as when it runs alone; the padding "
            "slots' positions do not matter (no real token attends to them)."
        )
    if torch.equal(t, torch.arange(length).expand(batch, -1)):
        return not_yet(
            "That is 0..L-1 in every row, what the forward pass uses without position_ids: a "
            "left-padded text's first real token gets the number of pads as its position.",
            "Count real tokens only: the first real token of each row is position 0.",
        )
    if torch.equal(t[real], want[real] + 1):
        return not_yet(
            "Off by one: the first real token must be position 0.", "A running count of real tokens, minus 1."
        )
    b = int((t != want).masked_fill(~real, False).any(-1).nonzero()[0])
    return not_yet(
        f"Row {b}'s real tokens get {t[b, real[b]].tolist()}.",
        "Number the real tokens of each row 0, 1, 2...",
    )


def check_padding_side(answer) -> CheckResult:
    """Which padding side lets ``logits[:, -1]`` (and ``generate``) continue every prompt:
    ``"left"`` or ``"right"``."""
    if is_missing(answer):
        return no_answer('"left" or "right"')
    if not isinstance(answer, str) or answer.strip().lower() not in ("left", "right"):
        return not_yet(f'Answer "left" or "right"; got {answer!r}.')
    if answer.strip().lower() == "right":
        return not_yet(
            "With right padding the last slot of a short prompt is a padding token: logits[:, -1] "
            "is the prediction after a pad, and generate appends the new token after the padding.",
            "Which side puts every prompt's last real token in the last slot?",
        )
    return passed(
        "Left padding puts every prompt's last token in the last slot, where logits[:, -1] and "
        "generate read and append. The price: real tokens start after the pads, so position_ids "
        "must count from each first real token (generate does; a plain forward call does not)."
    )
