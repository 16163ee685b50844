"""Padding side for a decoder: the next-token prediction of short prompts in a padded batch.

:func:`padding_side_comparison` reads the next-token prediction of each prompt alone, and in
a right- and a left-padded batch, read where user code usually reads it (``logits[:, -1]``)
or at the last real token, with and without ``position_ids``; and it compares
``generate``'s first step with the forward pass (transformers 5 derives ``position_ids``
from ``attention_mask`` in ``generate``, never in ``forward``). :func:`greedy_continuations`
generates a few tokens per prompt alone and in both padded batches.

Convention: ``attention_mask`` True/1 = real token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..hf.encoding import position_ids as real_position_ids
from .padding import encode_padded, eval_mode

__all__ = [
    "NEXT_TOKEN_SETTINGS",
    "NextTokenReading",
    "PaddingSideComparison",
    "greedy_continuations",
    "padding_side_comparison",
]

ALONE = "alone"
# (name, padding side, read at the last real token instead of the last slot, give position_ids)
NEXT_TOKEN_SETTINGS = (
    ("right padding, logits[:, -1]", "right", False, False),
    ("right padding, last real token", "right", True, False),
    ("left padding, no position_ids", "left", False, False),
    ("left padding, position_ids", "left", False, True),
)


@dataclass
class NextTokenReading:
    """The top-1 next token of each of ``B`` prompts under one setting.

    Attributes:
        setting: ``"alone"`` or a name of :data:`NEXT_TOKEN_SETTINGS`.
        token_ids: ``[B]`` long, the most probable next token.
        tokens: Its token strings (``convert_ids_to_tokens``: ``"Ġand"`` in a byte-level BPE).
        texts: The same tokens decoded (``" and"``), for display.
        probabilities: ``[B]`` its probability.
        matches_alone: ``[B]`` bool, the same top-1 token as the prompt alone.
        log_prob_difference: ``[B]`` max |log-probability difference| to the prompt alone,
            over the vocabulary (float32 noise, about 1e-5, when the reading is right).
    """

    setting: str
    token_ids: torch.Tensor
    tokens: list[str]
    texts: list[str]
    probabilities: torch.Tensor
    matches_alone: torch.Tensor
    log_prob_difference: torch.Tensor


@dataclass
class PaddingSideComparison:
    """Next-token readings of ``B`` prompts alone and in padded batches.

    Attributes:
        prompts: The prompts.
        lengths: Real tokens per prompt.
        readings: ``"alone"`` then every setting of :data:`NEXT_TOKEN_SETTINGS`.
        generate_vs_forward: For the left-padded batch, max |logit difference| between
            ``generate``'s first step and the forward pass ``"with position_ids"`` /
            ``"without position_ids"`` (``generate`` numbers the positions from
            ``attention_mask`` itself).
    """

    prompts: list[str]
    lengths: list[int]
    readings: dict[str, NextTokenReading]
    generate_vs_forward: dict[str, float]

    @property
    def settings(self) -> list[str]:
        return list(self.readings)


def _logits(model, input_ids, attention_mask, position_ids=None) -> torch.Tensor:
    extra = {} if position_ids is None else {"position_ids": position_ids.to(model.device)}
    out = model(
        input_ids=input_ids.to(model.device),
        attention_mask=None if attention_mask is None else attention_mask.to(model.device),
        use_cache=False,
        **extra,
    )
    if not hasattr(out, "logits"):
        raise TypeError(
            f"model must be a causal LM with logits (e.g. load_causal_lm()); {type(model).__name__} "
            "returned no logits."
        )
    return out.logits.float().cpu()


def _reading(setting, tokenizer, logits: torch.Tensor, alone: torch.Tensor | None) -> NextTokenReading:
    """``logits`` ``[B, V]`` at the slot read; ``alone`` ``[B, V]`` log-probs of the prompts alone."""
    log_probs = logits.log_softmax(-1)
    top = log_probs.argmax(-1)
    reference = log_probs if alone is None else alone
    return NextTokenReading(
        setting=setting,
        token_ids=top,
        tokens=tokenizer.convert_ids_to_tokens(top.tolist()),
        texts=[tokenizer.decode([i]) for i in top.tolist()],
        probabilities=log_probs.gather(-1, top[:, None])[:, 0].exp(),
        matches_alone=top == reference.argmax(-1),
        log_prob_difference=(log_probs - reference).abs().amax(-1),
    )


def padding_side_comparison(model, tokenizer, prompts: list[str]) -> PaddingSideComparison:
    """The next-token prediction of each prompt alone, and in right- and left-padded batches.

    Args:
        model: A causal LM (``...ForCausalLM``/``GPT2LMHeadModel``); run in eval mode, then left
            in the mode it had.
        tokenizer: Its tokenizer, with a pad token.
        prompts: At least 2 prompts of different lengths (the short ones get padded).

    Returns:
        A :class:`PaddingSideComparison`.

    Raises:
        ValueError: Fewer than 2 prompts, or no pad token.
    """
    with eval_mode(model):
        return _padding_side_comparison(model, tokenizer, prompts)


@torch.no_grad()
def _padding_side_comparison(model, tokenizer, prompts) -> PaddingSideComparison:
    encoded = {side: encode_padded(tokenizer, prompts, side) for side in ("right", "left")}
    real = encoded["right"]["attention_mask"].bool()
    lengths = [int(n) for n in real.sum(-1)]
    ids = encoded["right"]["input_ids"]
    alone_logits = torch.stack(
        [_logits(model, ids[b, : lengths[b]][None], None)[0, -1] for b in range(len(prompts))]
    )
    alone = alone_logits.log_softmax(-1)
    readings = {ALONE: _reading(ALONE, tokenizer, alone_logits, None)}
    left_logits = {}
    for name, side, at_last_real, with_positions in NEXT_TOKEN_SETTINGS:
        batch = encoded[side]
        mask = batch["attention_mask"]
        positions = real_position_ids(mask) if with_positions else None
        logits = _logits(model, batch["input_ids"], mask, positions)
        if at_last_real:
            slot = mask.sum(-1) - 1  # right padding: the last real token of each row
            picked = logits[torch.arange(len(prompts)), slot]
        else:
            picked = logits[:, -1]
        if side == "left":
            left_logits[with_positions] = logits[:, -1]
        readings[name] = _reading(name, tokenizer, picked, alone)
    left = encoded["left"]
    generated = model.generate(
        input_ids=left["input_ids"].to(model.device),
        attention_mask=left["attention_mask"].to(model.device),
        max_new_tokens=1,
        do_sample=False,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    first = generated.logits[0].float().cpu()
    return PaddingSideComparison(
        prompts=list(prompts),
        lengths=lengths,
        readings=readings,
        generate_vs_forward={
            "with position_ids": float((first - left_logits[True]).abs().max()),
            "without position_ids": float((first - left_logits[False]).abs().max()),
        },
    )


def greedy_continuations(
    model, tokenizer, prompts: list[str], max_new_tokens: int = 5
) -> dict[str, list[str]]:
    """Greedy continuations of each prompt: ``"alone"``, ``"right-padded batch"``, ``"left-padded batch"``.

    ``generate`` gets the tokenizer's ``input_ids`` and ``attention_mask`` only, as user code
    does; it numbers the positions from ``attention_mask`` itself. With right padding the new
    tokens go after the padding (transformers warns about it). The model runs in eval mode and
    is left in the mode it had.

    Returns:
        Per setting, per prompt, the decoded new tokens (special tokens skipped).
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1; got {max_new_tokens!r}.")
    with eval_mode(model), torch.no_grad():
        return _greedy_continuations(model, tokenizer, prompts, max_new_tokens)


def _greedy_continuations(model, tokenizer, prompts, max_new_tokens) -> dict[str, list[str]]:
    options = dict(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)

    def new_text(batch) -> list[str]:
        out = model.generate(
            input_ids=batch["input_ids"].to(model.device),
            attention_mask=batch["attention_mask"].to(model.device),
            **options,
        )
        start = batch["input_ids"].shape[1]
        return [tokenizer.decode(row[start:].tolist(), skip_special_tokens=True) for row in out]

    result = {ALONE: [], "right-padded batch": [], "left-padded batch": []}
    for side in ("right", "left"):
        result[f"{side}-padded batch"] = new_text(encode_padded(tokenizer, prompts, side))
    for prompt in prompts:
        result[ALONE] += new_text(tokenizer([prompt], return_tensors="pt"))
    return result
