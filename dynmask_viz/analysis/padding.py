"""A padded batch of real sentences, measured against each sentence run alone (chapter 08).

:func:`padded_batch_view` tokenizes texts of different lengths into one padded batch (right or
left), runs the model on it and on each text alone, and returns a :class:`PaddedBatchView`:
the key-padding mask ``[B, 1, 1, K]``, the 4-D mask the model built for itself (read back
from its first attention layer), the mask ``extract_attention`` applied, how far every row's
real-token hidden states are from the single-text run (with and without ``position_ids``),
what the padded query rows hold, and what mean pooling gives with and without the mask.

Boolean convention: True = *the query may attend to the key* (masks), True = *real token*
(``attention_mask``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..attention_masks import padding
from ..hf import extract_attention
from ..hf.encoding import position_ids as real_position_ids
from ..hf.mask_capture import allowed_from_additive, model_attention_mask

__all__ = [
    "PADDING_SIDES",
    "PaddedBatchView",
    "encode_padded",
    "key_padding_mask",
    "masked_mean",
    "padded_batch_view",
]

PADDING_SIDES = ("right", "left")


def _check_texts(texts) -> list[str]:
    if (
        not isinstance(texts, (list, tuple))
        or len(texts) < 2
        or not all(isinstance(t, str) and t.strip() for t in texts)
    ):
        raise ValueError(
            f"texts must be a list of at least 2 non-empty strings (a batch to pad); got {texts!r}."
        )
    return list(texts)


def encode_padded(tokenizer, texts: list[str], padding_side: str):
    """Tokenize ``texts`` into one padded batch, padded on ``padding_side`` (the tokenizer is
    not changed).

    Returns:
        The tokenizer's ``BatchEncoding``: ``input_ids`` and ``attention_mask`` ``[B, L]``.

    Raises:
        ValueError: ``padding_side`` not "right"/"left", or a tokenizer without a pad token.
    """
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES}; got {padding_side!r}.")
    if getattr(tokenizer, "pad_token", None) is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has no pad token, so texts cannot be padded: set one "
            "(e.g. tokenizer.pad_token = tokenizer.eos_token) first."
        )
    return tokenizer(_check_texts(texts), padding=True, padding_side=padding_side, return_tensors="pt")


def key_padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """The key-padding mask ``[B, 1, 1, K]``: True = the key is a real token (may be attended).

    Broadcast against scores ``[B, H, Q, K]``, the size-1 head and query dims repeat it for
    every head and every query: a padding key is hidden from every query, a padding query
    still attends to the real keys.

    Args:
        attention_mask: ``[B, K]`` 0/1 or bool, 1 = real token (the tokenizer's output).
    """
    batch, keys = attention_mask.shape
    return padding(attention_mask).dense(batch, 1, 1, keys)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of the token vectors ``[B, L, D]`` -> ``[B, D]``: over the real tokens only
    (``attention_mask`` ``[B, L]``, 1 = real), or over every slot, padding included (None)."""
    if attention_mask is None:
        return hidden.mean(1)
    weights = attention_mask.to(hidden.dtype)[..., None]
    return (hidden * weights).sum(1) / weights.sum(1)


@dataclass
class PaddedBatchView:
    """One padded batch against each text run alone. ``B`` texts, ``L`` slots, ``D`` features.

    Attributes:
        texts: The texts, in batch order.
        padding_side: ``"right"`` or ``"left"``.
        tokens: Per row, ``L`` token strings, padding included (``[PAD]``...).
        input_ids: ``[B, L]``.
        attention_mask: ``[B, L]`` bool, True = real token.
        position_ids: ``[B, L]`` the positions the padded run used: 0 at each text's first
            real token (left padding: padding slots 0; right padding: ``0..L-1``, the
            forward's default).
        key_padding: ``[B, 1, 1, L]`` bool, True = may attend (the real keys).
        model_mask: ``[B, 1, L, L]`` bool, True = may attend: the mask the model built itself
            from the 2-D ``attention_mask`` (read back from its first attention layer).
        applied_mask: ``[B, 1, L, L]`` bool, ``extract_attention``'s ``applied_mask``.
        weight_on_blocked: The largest attention weight, any layer, head and query, on a key
            ``applied_mask`` blocks (0.0 when the mask did its job).
        row_difference: ``[B]`` max |hidden state| difference, real tokens of the last layer,
            padded run vs the text alone.
        row_difference_no_positions: ``[B]`` the same without ``position_ids`` (the forward's
            default ``0..L-1``); equals ``row_difference`` under right padding.
        pad_rows_finite: Whether every padding slot's hidden state is finite.
        pad_change, real_change: ``[B]`` max |hidden state| change at the padding / real slots
            when the padding token id is replaced by another id (nothing reads the padding).
        mean_all, mean_real, mean_single: ``[B, D]`` mean pooling of the last layer over every
            slot (padding included), over the real tokens, and of the text alone.
        hidden: ``[B, L, D]`` the padded run's last hidden states.
    """

    texts: list[str]
    padding_side: str
    tokens: list[list[str]]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    key_padding: torch.Tensor
    model_mask: torch.Tensor
    applied_mask: torch.Tensor
    weight_on_blocked: float
    row_difference: torch.Tensor
    row_difference_no_positions: torch.Tensor
    pad_rows_finite: bool
    pad_change: torch.Tensor
    real_change: torch.Tensor
    mean_all: torch.Tensor
    mean_real: torch.Tensor
    mean_single: torch.Tensor
    hidden: torch.Tensor

    @property
    def lengths(self) -> list[int]:
        """Real tokens per row."""
        return [int(n) for n in self.attention_mask.sum(-1)]

    @property
    def pooling_difference(self) -> dict[str, torch.Tensor]:
        """``[B]`` max |difference| to the text alone of the two mean poolings."""
        return {
            "mean over every slot": (self.mean_all - self.mean_single).abs().amax(-1),
            "mean over real tokens": (self.mean_real - self.mean_single).abs().amax(-1),
        }

    @property
    def pooling_cosine(self) -> dict[str, torch.Tensor]:
        """``[B]`` cosine similarity to the text alone of the two mean poolings."""
        cos = torch.nn.functional.cosine_similarity
        return {
            "mean over every slot": cos(self.mean_all, self.mean_single, dim=-1),
            "mean over real tokens": cos(self.mean_real, self.mean_single, dim=-1),
        }


def _forward_args(model, position_ids: torch.Tensor | None) -> dict:
    import inspect

    params = inspect.signature(model.forward).parameters
    extra = {"use_cache": False} if "use_cache" in params else {}
    if position_ids is not None:
        extra["position_ids"] = position_ids
    return extra


@contextlib.contextmanager
def eval_mode(model):
    """Run the block with ``model`` in eval mode (no dropout), then give every submodule back the
    train/eval mode it had (also on an error): the views measure, they do not change the caller's model.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def last_hidden(model, input_ids, attention_mask=None, position_ids=None) -> torch.Tensor:
    """``[B, L, D]`` the last layer's hidden states of one forward pass (in eval mode; the
    model's own mode is restored)."""
    device = model.device
    with eval_mode(model):
        outputs = model(
            input_ids=input_ids.to(device),
            attention_mask=None if attention_mask is None else attention_mask.to(device),
            output_hidden_states=True,
            **_forward_args(model, None if position_ids is None else position_ids.to(device)),
        )
    return outputs.hidden_states[-1].float().cpu()


def _other_token_id(tokenizer, pad_id: int) -> int:
    # Any real token other than the pad token: its id only has to differ.
    for candidate in (tokenizer.unk_token_id, tokenizer.eos_token_id, 1, 2):
        if candidate is not None and candidate != pad_id:
            return int(candidate)
    raise ValueError("the tokenizer has no token id other than its pad token.")


def padded_batch_view(model, tokenizer, texts: list[str], padding_side: str = "right") -> PaddedBatchView:
    """Run ``texts`` as one padded batch and as single texts, and measure the difference.

    The padded run is what user code does: the tokenizer's ``input_ids`` and 2-D
    ``attention_mask`` and, for left padding, ``position_ids`` counted from each text's first
    real token (right padding needs none: the forward's own ``0..L-1`` is right for every real
    token). ``row_difference_no_positions`` is the same run without ``position_ids``.

    Args:
        model: A transformers encoder or decoder with eager attention (``load_model()``); run in
            eval mode, then left in the mode it had.
        tokenizer: Its tokenizer, with a pad token.
        texts: At least 2 texts, best of different lengths.
        padding_side: ``"right"`` or ``"left"``.

    Returns:
        A :class:`PaddedBatchView`.

    Raises:
        ValueError: Fewer than 2 texts, an empty text, a bad ``padding_side``, no pad token.
    """
    with eval_mode(model):
        return _padded_batch_view(model, tokenizer, texts, padding_side)


@torch.no_grad()
def _padded_batch_view(model, tokenizer, texts, padding_side) -> PaddedBatchView:
    encoded = encode_padded(tokenizer, texts, padding_side)
    ids, real = encoded["input_ids"], encoded["attention_mask"].bool()
    length = ids.shape[1]
    # Right padding: the forward's default 0..L-1 is each real token's position already.
    default = torch.arange(length).expand(len(texts), -1)
    positions = real_position_ids(real) if padding_side == "left" else default
    hidden = last_hidden(model, ids, real.long(), positions)
    plain = last_hidden(model, ids, real.long())  # the forward numbers slots 0..L-1 itself
    swapped = ids.masked_fill(~real, _other_token_id(tokenizer, tokenizer.pad_token_id))
    hidden_swapped = last_hidden(model, swapped, real.long(), positions)

    singles = [last_hidden(model, ids[b, real[b]][None])[0] for b in range(len(texts))]
    diff, diff_plain, mean_single = [], [], []
    for b, alone in enumerate(singles):
        diff.append((hidden[b, real[b]] - alone).abs().max())
        diff_plain.append((plain[b, real[b]] - alone).abs().max())
        mean_single.append(alone.mean(0))
    change = (hidden_swapped - hidden).abs().amax(-1)  # [B, L]
    pad_change = torch.stack(
        [change[b, ~real[b]].max() if (~real[b]).any() else change.new_zeros(()) for b in range(len(texts))]
    )

    captured = model_attention_mask(
        model, ids.to(model.device), real.long().to(model.device), position_ids=positions.to(model.device)
    )
    model_mask = (
        torch.ones(len(texts), 1, length, length, dtype=torch.bool)
        if captured is None
        else allowed_from_additive(captured).cpu().expand(-1, 1, length, length)
    )
    result = _extract(model, tokenizer, texts, padding_side)
    if not torch.equal(result.input_ids.cpu(), ids):
        raise RuntimeError("extract_attention tokenized the texts differently; this is a bug.")
    blocked = ~result.applied_mask.cpu()[:, None]  # [B, 1, 1|H, L, L] against [B, layers, H, L, L]
    weight_on_blocked = float(result.attentions.cpu().masked_fill(~blocked, 0).max())

    return PaddedBatchView(
        texts=list(texts),
        padding_side=padding_side,
        tokens=[tokenizer.convert_ids_to_tokens(row.tolist()) for row in ids],
        input_ids=ids,
        attention_mask=real,
        position_ids=positions,
        key_padding=key_padding_mask(real),
        model_mask=model_mask,
        applied_mask=result.applied_mask.cpu(),
        weight_on_blocked=weight_on_blocked,
        row_difference=torch.stack(diff),
        row_difference_no_positions=torch.stack(diff_plain),
        pad_rows_finite=bool(torch.isfinite(hidden[~real]).all()),
        pad_change=pad_change,
        real_change=torch.stack([change[b, real[b]].max() for b in range(len(texts))]),
        mean_all=masked_mean(hidden, None),
        mean_real=masked_mean(hidden, real),
        mean_single=torch.stack(mean_single),
        hidden=hidden,
    )


def _extract(model, tokenizer, texts, padding_side):
    """``extract_attention`` on the batch, with the tokenizer's padding side set for the call."""
    before = tokenizer.padding_side
    tokenizer.padding_side = padding_side
    try:
        return extract_attention(model, tokenizer, list(texts), use_cache=False)
    finally:
        tokenizer.padding_side = before
