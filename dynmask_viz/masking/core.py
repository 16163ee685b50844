"""``mask_batch``: vectorized, keyed MLM masking of a padded batch of token ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._hashing import (
    STREAM_CORRUPT,
    STREAM_REPLACE,
    STREAM_SELECT,
    STREAM_SPAN,
    below,
    content_ids,
    example_stream_keys,
    keyed_uniform32,
    rehash,
    to_unsigned,
)
from .config import MaskingConfig
from .units import normalize_word_ids, span_of_words
from .vocab import MaskingVocab, as_vocab

IGNORE_INDEX = -100  # label of positions without a prediction (Hugging Face / PyTorch default)

# Values of MaskedBatch.corruption: what happened to each token.
UNCHANGED, MASKED, RANDOM, KEPT = 0, 1, 2, 3
CORRUPTION_NAMES = {UNCHANGED: "unchanged", MASKED: "[MASK]", RANDOM: "random", KEPT: "kept"}


@dataclass
class MaskedBatch:
    """Result of :func:`mask_batch`. Tensors are ``[B, L]`` on the input's device unless noted.

    Attributes:
        input_ids: Corrupted ids to feed the model.
        labels: Original id where a prediction is required, ``-100`` elsewhere.
        masked: bool, True = selected for MLM prediction (whatever its corruption).
        replaced_by_mask: bool, True where the mask token was written (~80% of ``masked``).
        replaced_by_random: bool, True where a random token was written (~10% of ``masked``).
        example_ids: ``[B]`` int64, the ids the masks were keyed on.
        mask_epoch: ``[B]`` int64, which mask of each example was drawn.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    masked: torch.Tensor
    replaced_by_mask: torch.Tensor
    replaced_by_random: torch.Tensor
    example_ids: torch.Tensor
    mask_epoch: torch.Tensor

    @property
    def corruption(self) -> torch.Tensor:
        """``[B, L]`` int8: ``UNCHANGED`` (0), ``MASKED`` (1, mask token written), ``RANDOM``
        (2, random token written) or ``KEPT`` (3, selected for prediction but unchanged)."""
        kind = self.masked.to(torch.int8) * KEPT
        kind[self.replaced_by_mask] = MASKED
        kind[self.replaced_by_random] = RANDOM
        return kind


def _check_2d(name: str, tensor: torch.Tensor | None, shape: torch.Size) -> None:
    if tensor is not None and tuple(tensor.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the shape of input_ids {tuple(shape)} (batch, seq_len); "
            f"got {tuple(tensor.shape)}."
        )


def candidate_mask(
    input_ids: torch.Tensor,
    vocab: MaskingVocab,
    attention_mask: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tokens are real, and which may be selected for MLM.

    Args:
        input_ids: ``[B, L]`` token ids.
        vocab: The vocabulary's special ids.
        attention_mask: ``[B, L]``, 1/True on real tokens; default ``input_ids != pad``.
        special_tokens_mask: ``[B, L]``, 1/True on extra tokens never to select.

    Returns:
        ``(real, candidates)``, both ``[B, L]`` bool: True = real token / may be selected.
    """
    device = input_ids.device
    if attention_mask is None:
        if vocab.pad_token_id is None:
            real = torch.ones_like(input_ids, dtype=torch.bool)
        else:
            real = input_ids != vocab.pad_token_id
    else:
        real = attention_mask.to(device=device, dtype=torch.bool)
    candidates = real & ~vocab.is_special(input_ids)
    if special_tokens_mask is not None:
        candidates &= ~special_tokens_mask.to(device=device, dtype=torch.bool)
    return real, candidates


def mask_batch(
    input_ids: torch.Tensor,
    vocab: MaskingVocab,
    config: MaskingConfig | None = None,
    *,
    seed: int = 0,
    example_ids: torch.Tensor | None = None,
    mask_epoch: int | torch.Tensor = 0,
    attention_mask: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
    word_ids: torch.Tensor | None = None,
) -> MaskedBatch:
    """Select and corrupt MLM positions; the mask is a pure function of the example's key.

    The mask of row ``i`` depends only on ``(seed, example_ids[i], mask_epoch[i])``, the row's
    real tokens and ``config``: not on the rest of the batch, its order, padding, the device,
    DataLoader workers or distributed rank. Padding and special tokens are never selected;
    random replacements are never special tokens. Word and span units keep every piece of a
    word together. No Python loop over tokens or examples.

    Args:
        input_ids: ``[B, L]`` integer token ids (right or left padded).
        vocab: A :class:`MaskingVocab` (or a Hugging Face tokenizer, converted on each call:
            build the vocab once in hot loops).
        config: What to select and how to corrupt it; default ``MaskingConfig()`` (RoBERTa).
        seed: Experiment seed.
        example_ids: ``[B]`` non-negative int ids (e.g. dataset indices). ``None``: ids are
            hashed from the token content (padding ignored), so identical sequences share masks.
        mask_epoch: int or ``[B]``: which mask to draw. Dynamic masking passes the epoch,
            static masking ``epoch % dupe_factor`` (see :mod:`.schedules`).
        attention_mask: ``[B, L]``, 1/True on real tokens. Default: ``input_ids != pad``.
        special_tokens_mask: ``[B, L]``, 1/True on tokens never to select, on top of the
            vocab's special ids.
        word_ids: ``[B, L]`` word index of each token (``-1`` where none), required for
            ``unit="word"`` and ``unit="span"``. See :func:`.units.word_ids_from_offsets`.

    Returns:
        A :class:`MaskedBatch`.

    Raises:
        ValueError: On shapes or dtypes that cannot be right, with what was expected.
    """
    config = config or MaskingConfig()
    vocab = as_vocab(vocab)
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        got = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(
            f"input_ids must be a 2-D tensor (batch, seq_len); got {got}. "
            "For one sequence use input_ids[None] or MLMCollator for lists of features."
        )
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}.")
    batch, length = input_ids.shape
    device = input_ids.device
    ids = input_ids.to(torch.int64)
    for name, tensor in (
        ("attention_mask", attention_mask),
        ("special_tokens_mask", special_tokens_mask),
        ("word_ids", word_ids),
    ):
        _check_2d(name, tensor, input_ids.shape)

    real, candidates = candidate_mask(ids, vocab, attention_mask, special_tokens_mask)

    if example_ids is None:
        example_ids = content_ids(ids, real)
    example_ids = torch.as_tensor(example_ids, dtype=torch.int64, device=device).reshape(-1)
    if example_ids.numel() != batch:
        raise ValueError(f"example_ids must have one id per row ({batch}); got {example_ids.numel()}.")
    low, high = torch.aminmax(example_ids)
    if int(low) < 0 or int(high) > 0xFFFFFFFF:
        raise ValueError("example_ids must be integers in [0, 2**32), e.g. dataset indices.")
    epochs = torch.as_tensor(mask_epoch, dtype=torch.int64, device=device).expand(batch).clone()
    streams = (
        (STREAM_SELECT, STREAM_CORRUPT, STREAM_SPAN)
        if config.unit == "span"
        else (STREAM_SELECT, STREAM_CORRUPT)
    )
    keys = example_stream_keys(seed, example_ids, epochs, streams)

    # Positions count from the first real token so left padding does not shift any mask.
    if bool(real[:, 0].all()):
        positions = torch.arange(length, device=device, dtype=torch.int32).expand(batch, length)
    else:
        positions = real.to(torch.int32).cumsum(1, dtype=torch.int32) - 1
    units = _unit_ids(config, positions, candidates, word_ids)
    selected, u = _select(config, units, candidates, keys, real)

    # 80/10/10 is decided per selected token, as in BERT and Hugging Face. For token units with
    # Bernoulli selection the selection word itself decides: given u < p * 2**32, u is uniform
    # on [0, p * 2**32), so thresholds at 0.8p and 0.9p split it exactly (one hash, not two).
    # Otherwise (whole units, exact counts) each token gets a word of its own.
    scale = config.mlm_probability
    if u is None:
        u, scale = keyed_uniform32(keys[1][:, None], positions), 1.0
    by_mask = selected & below(u, scale * config.mask_replace_prob)
    by_random = (
        selected & below(u, scale * (config.mask_replace_prob + config.random_replace_prob)) & ~by_mask
    )
    out_ids = torch.where(by_mask, vocab.mask_token_id, ids)
    rows, cols = by_random.nonzero(as_tuple=True)
    if rows.numel():
        pool = vocab.replacement_ids.to(device)
        # Rehash: the draw must not depend on the bits that made the 80/10/10 decision.
        out_ids[rows, cols] = pool[to_unsigned(rehash(u[rows, cols], STREAM_REPLACE)) % pool.numel()]
    return MaskedBatch(
        input_ids=out_ids.to(input_ids.dtype),
        labels=torch.where(selected, ids, IGNORE_INDEX),
        masked=selected,
        replaced_by_mask=by_mask,
        replaced_by_random=by_random,
        example_ids=example_ids,
        mask_epoch=epochs,
    )


def _unit_ids(config, positions, candidates, word_ids) -> torch.Tensor:
    """``[B, L]`` unit index of each token: its position (token unit) or its word (word/span).

    Values on non-candidates are meaningless (-1 for words): selection always ANDs candidates.
    """
    if config.unit == "token":
        return positions
    if word_ids is None:
        raise ValueError(
            f"unit={config.unit!r} needs word_ids ([B, L], -1 where none) to keep word pieces "
            "together. Pass word_ids (from a fast tokenizer's encoding.word_ids(), or "
            "units.word_ids_from_offsets from return_offsets_mapping=True), or use MLMCollator, "
            "which derives them from 'word_ids' or 'offset_mapping' features."
        )
    return normalize_word_ids(word_ids.to(device=positions.device, dtype=torch.int64), candidates)


def _select(config, units, candidates, keys, real) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Selection for prediction: ``([B, L] bool, True = selected; the token words or None)``.

    The second value is the per-token selection word when it may also decide the 80/10/10
    split (token units, Bernoulli selection), else None.
    """
    batch, length = units.shape
    select_keys = keys[0][:, None]
    spans = None
    if config.unit == "span":
        spans = span_of_words(
            keys[2], length, geometric_p=config.span_geometric_p, max_words=config.max_span_words
        )
    if config.count == "bernoulli":
        # Every token of a unit hashes the same counter, so units are selected as a whole.
        if spans is not None:
            units = spans.gather(1, units.clamp(min=0))
        u = keyed_uniform32(select_keys, units)
        selected = candidates & below(u, config.mlm_probability)
        return selected, (u if config.unit == "token" else None)
    counters = torch.arange(length, device=units.device).expand(batch, length)
    if spans is None:
        unit_score = to_unsigned(keyed_uniform32(select_keys, counters))
    else:
        # Words in span order: spans ranked by their hash, words in reading order within a
        # span, so the greedy pass below keeps spans contiguous and cuts only the last one.
        unit_score = (to_unsigned(keyed_uniform32(select_keys, spans)) << 20) | counters
    return _select_exact(config, units, candidates, unit_score, real.sum(1)), None


def _select_exact(config, units, candidates, unit_score, n_tokens) -> torch.Tensor:
    """BERT's scheme: go through the units in random order, take each one that still fits.

    The budget is BERT's ``min(max_predictions, max(1, round(p * n)))`` with ``n`` the real tokens
    (``[CLS]`` and ``[SEP]`` included, as in BERT), and at most the maskable tokens (p=0 means
    none); like ``create_pretraining_data.py``, a unit that would overflow
    the budget is skipped and the next one is tried, so the cap is never exceeded. The first
    pass takes the longest prefix of the random order that fits (all of it for token units);
    each further pass takes, per row, the first remaining unit that fits, which is exactly
    the greedy rule since the remaining budget only shrinks. Passes loop over rounds, not
    tokens or examples: their number is the most units any row takes after its first skip.
    """
    batch, length = units.shape
    n_candidates = candidates.sum(1)
    budget = torch.round(n_tokens.to(torch.float64) * config.mlm_probability).to(torch.int64)
    if config.mlm_probability > 0:  # BERT's max(1, ...); p=0 means no masking at all
        budget = budget.clamp(min=1)
    if config.max_predictions is not None:
        budget = budget.clamp(max=config.max_predictions)
    budget = torch.minimum(budget, n_candidates)

    unit_size = torch.zeros((batch, length), dtype=torch.int64, device=units.device)
    unit_size.scatter_add_(1, units.clamp(min=0), candidates.to(torch.int64))
    score = unit_score.masked_fill(unit_size == 0, torch.iinfo(torch.int64).max)
    order = torch.argsort(score, dim=1, stable=True)
    size_in_order = unit_size.gather(1, order)
    taken = (size_in_order.cumsum(1) <= budget[:, None]) & (size_in_order > 0)
    remaining = budget - (size_in_order * taken).sum(1)
    while True:
        fits = ~taken & (size_in_order > 0) & (size_in_order <= remaining[:, None])
        rows = fits.any(1).nonzero().flatten()
        if rows.numel() == 0:
            break
        first = fits[rows].to(torch.int8).argmax(1)
        taken[rows, first] = True
        remaining[rows] -= size_in_order[rows, first]
    unit_taken = torch.zeros_like(taken).scatter_(1, order, taken)
    return candidates & unit_taken.gather(1, units.clamp(min=0))
