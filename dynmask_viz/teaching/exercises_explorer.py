"""Checks for the exercises of chapter 05 (the interactive attention explorer).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected answers are
computed here, from the model and the explorer's tokens, so a check's call shows none of them.
Boolean masks: True = *the query may attend to the key*.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from ..attention_masks import keep_tokens, sliding_window
from ..hf import extract_attention
from .checks import CheckResult, is_missing, no_answer, not_yet, passed

__all__ = ["check_local_window_without", "check_previous_token_head"]


def previous_token_share(model, tokenizer, text: str) -> torch.Tensor:
    """``[layers, heads]``: the mean weight a token puts on the token right before it (no mask).

    Averaged over the queries that have a previous token (all but the first).
    """
    plain = extract_attention(model, tokenizer, text)
    return plain.example(0).diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def _layer_head(answer) -> tuple[int, int] | None:
    """``(layer, head)`` from a pair of integers (Python, numpy or torch), else None."""
    if isinstance(answer, (torch.Tensor, np.ndarray)):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return None
    if any(isinstance(x, bool) for x in answer):
        return None
    try:
        return operator.index(answer[0]), operator.index(answer[1])
    except TypeError:
        return None


def check_previous_token_head(answer, model, tokenizer, text: str) -> CheckResult:
    """The (layer, head) whose attention goes most to the previous token, without a mask.

    Args:
        answer: ``(layer, head)``, two ints (0-based, as the explorer's sliders).
        model: The eager model the explorer shows.
        tokenizer: Its tokenizer.
        text: The explorer's text.
    """
    if is_missing(answer):
        return no_answer("(layer, head), two ints")
    pair = _layer_head(answer)
    if pair is None:
        return not_yet(f"Expected (layer, head), two ints, got {answer!r}.", "For example (3, 7).")
    share = previous_token_share(model, tokenizer, text)
    layers, heads = share.shape
    layer, head = pair
    if not (0 <= layer < layers and 0 <= head < heads):
        return not_yet(
            f"The model has layers 0-{layers - 1} and heads 0-{heads - 1}; got ({layer}, {head}).",
            "Use the numbers the explorer's sliders show.",
        )
    best = float(share.max())
    mine = float(share[layer, head])
    if mine >= best:
        return passed(
            f"Layer {layer}, head {head}: on average {mine:.0%} of each token's attention goes to "
            "the token right before it, more than in any other head of this model."
        )
    if 0 <= head < layers and 0 <= layer < heads and float(share[head, layer]) >= best:
        return not_yet("Layer and head are swapped.", "Give (layer, head): the layer first.")
    return not_yet(
        f"Layer {layer}, head {head} puts on average {mine:.0%} of a token's attention on the "
        "previous token; another head puts more there.",
        "With the rule on full, look at the *without* panel of each head for a bright line one "
        "cell left of the diagonal.",
    )


def check_local_window_without(answer, *, word: str = "the", window: int = 2) -> CheckResult:
    """The explorer set so that each token may attend only to the tokens at most ``window``
    positions away (on both sides) and to no ``word`` token.

    Args:
        answer: The explorer, or its ``state`` (an ``AttentionState``), once set.
        word: The token no query may attend to (every occurrence).
        window: Distance allowed on each side.
    """
    if is_missing(answer):
        return no_answer("explorer.state, once you have set the explorer")
    state = getattr(answer, "state", answer)
    mask, tokens = getattr(state, "mask", None), getattr(state, "tokens", None)
    if not isinstance(mask, torch.Tensor) or not isinstance(tokens, list):
        return not_yet(
            f"Expected the explorer or explorer.state, got {type(answer).__name__}.",
            "Set the explorer with its controls (or explorer.set(...)), then answer = explorer.state.",
        )
    n = len(tokens)
    if getattr(state, "head", 0) is None and bool(((mask > 0) & (mask < 1)).any()):
        return not_yet("The mask differs between heads.", "Pick a rule that is the same in every head.")
    allowed = mask.bool() if mask.dtype == torch.bool else mask > 0.5
    is_word = torch.tensor([t.lower() == word for t in tokens])
    band = sliding_window(window, causal=False).dense(1, 1, n)[0, 0]
    expected = band & keep_tokens(~is_word).dense(1, 1, n)[0, 0]
    if torch.equal(allowed, expected):
        return passed(
            f"sliding_window with window {window} and both sides ticked, and every '{word}' "
            f"dropped: {int(expected.sum())} of {n * n} pairs allowed."
        )
    if allowed[:, is_word].any() and torch.equal(allowed & ~is_word, expected):
        kept = int(allowed[:, is_word].any(0).sum())
        return not_yet(
            f"The window is right, but {kept} '{word}' token(s) can still be attended to.",
            f"Click every '{word}' button (there may be more than one) to drop it as a key.",
        )
    if torch.equal(allowed, allowed.tril()) and not torch.equal(expected, expected.tril()):
        return not_yet(
            "Your mask only looks back (causal).", "Tick 'both sides' to let a token see the next ones too."
        )
    widths = (allowed & ~is_word).sum(-1).max()
    return not_yet(
        f"The mask allows {int(allowed.sum())} pairs where {int(expected.sum())} are expected "
        f"(the widest row: {int(widths)} keys).",
        f"Rule sliding_window, window {window}, 'both sides' ticked: each token sees {window} "
        f"tokens on each side; then drop every '{word}'.",
    )
