"""Next-token prediction of one text: its logits, the labels shifted by one, and the loss by hand.

:func:`next_token_view` puts the model's own loss (``labels=input_ids``: the model shifts them
inside) next to the loss recomputed by hand, and next to the silent mistake of shifting the
labels yourself as well. The helpers here (token strings, encoding, position limit) are shared
with :mod:`.generation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["NextTokenView", "next_token_view"]


def _tokens(tokenizer, ids) -> list[str]:
    """Readable token strings (byte-level BPE marks a leading space with 'Ġ': shown as '␣')."""
    return [tokenizer.decode([i]).replace(" ", "\u2423").replace("\n", "\u21b5") for i in ids]


def _max_positions(model) -> int | None:
    config = model.config
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def _encode(tokenizer, text: str, name: str) -> torch.Tensor:
    if not isinstance(text, str) or not text:
        raise ValueError(f"{name} must be a non-empty string; got {text!r}.")
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    if ids.shape[1] < 1:
        raise ValueError(f"{name} {text!r} gives no tokens; use a longer text.")
    return ids


@dataclass(frozen=True)
class NextTokenView:
    """What a causal LM predicts at every position of one text.

    Attributes:
        tokens: The ``L`` input tokens (readable strings).
        input_ids: ``[L]`` int64.
        targets: ``[L - 1]``: ``input_ids[1:]``, the token each position ``0..L-2`` must predict
            (the last position has no target inside the text).
        logits: ``[L, V]`` float32.
        predicted: ``[L]`` the argmax token at each position; ``predicted_tokens`` as strings.
        target_probs: ``[L - 1]`` the probability the model gives each target.
        loss_model: The model's loss with ``labels=input_ids`` (it shifts them itself).
        loss_by_hand: ``cross_entropy(logits[:-1], input_ids[1:])``, the same number.
        loss_shifted_twice: The model's loss when given labels already shifted by hand
            (``input_ids[1:]`` then -100): it shifts again, so it scores predicting the token
            *two* ahead, a silent mistake (a larger loss, no error).
    """

    tokens: list[str]
    input_ids: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    predicted: torch.Tensor
    predicted_tokens: list[str]
    target_probs: torch.Tensor
    loss_model: float
    loss_by_hand: float
    loss_shifted_twice: float


@torch.no_grad()
def next_token_view(model, tokenizer, text: str) -> NextTokenView:
    """Logits, shifted labels and the loss of ``text``, by the model and by hand.

    Raises:
        ValueError: ``text`` is empty or gives fewer than 2 tokens (nothing to predict).
    """
    ids = _encode(tokenizer, text, "text").to(model.device)
    if ids.shape[1] < 2:
        raise ValueError(f"text {text!r} gives {ids.shape[1]} token; next-token prediction needs >= 2.")
    limit = _max_positions(model)
    if limit is not None and ids.shape[1] > limit:
        raise ValueError(f"text gives {ids.shape[1]} tokens; the model has {limit} positions. Shorten it.")
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
    logits = out.logits[0].float()
    targets = ids[0, 1:]
    by_hand = torch.nn.functional.cross_entropy(logits[:-1], targets)
    shifted = torch.cat([targets, targets.new_full((1,), -100)])[None]
    twice = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=shifted).loss
    probs = logits[:-1].softmax(-1).gather(-1, targets[:, None])[:, 0]
    predicted = logits.argmax(-1)
    return NextTokenView(
        tokens=_tokens(tokenizer, ids[0].tolist()),
        input_ids=ids[0].cpu(),
        targets=targets.cpu(),
        logits=logits.cpu(),
        predicted=predicted.cpu(),
        predicted_tokens=_tokens(tokenizer, predicted.tolist()),
        target_probs=probs.cpu(),
        loss_model=out.loss.item(),
        loss_by_hand=by_hand.item(),
        loss_shifted_twice=twice.item(),
    )
