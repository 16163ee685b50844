"""Which positions ``mask_batch`` selects: unit ids, Bernoulli selection, BERT's and fairseq's counts.

Boolean convention: True = *selected for MLM prediction*. Split from :mod:`.core` to keep
each module short; these helpers take already-validated tensors.
"""

from __future__ import annotations

import torch

from .._hashing import MASK32, below, keyed_uniform32, to_unsigned
from .units import normalize_word_ids, span_of_words


def unit_ids(config, positions, candidates, word_ids) -> torch.Tensor:
    """``[B, L]`` unit index of each token: its position (token unit) or its word (word/span).

    Values on non-candidates are meaningless (-1 for words): selection always ANDs candidates.
    """
    if config.unit == "token":
        return positions
    if word_ids is None:
        raise ValueError(
            f"unit={config.unit!r} needs word_ids ([B, L], -1 where none) to keep word pieces "
            "together. Pass word_ids (from a fast tokenizer's encoding.word_ids(), "
            "units.word_ids_from_offsets from return_offsets_mapping=True, or "
            "vocab.word_ids(input_ids, candidates) for a vocabulary with word markers), or use "
            "MLMCollator, which derives them from 'word_ids' or 'offset_mapping' features or "
            "from the vocabulary's markers."
        )
    return normalize_word_ids(word_ids.to(device=positions.device, dtype=torch.int64), candidates)


def select(config, units, candidates, keys, real):
    """Selection for prediction.

    Args:
        config: The :class:`~.config.MaskingConfig`.
        units: ``[B, L]`` from :func:`unit_ids`.
        candidates: ``[B, L]`` bool, True = may be selected.
        keys: ``[S, B]`` int32 stream keys: select, corrupt, then span (``unit="span"``), then
            count (``count="fairseq"``), in that order.
        real: ``[B, L]`` bool, True on real (non-padding) tokens.

    Returns:
        ``(selected, u, groups)``: ``[B, L]`` bool, True = selected; the per-token selection
        word when it may also decide the 80/10/10 split (token units, Bernoulli selection),
        else None; and ``[B, L]`` int64, the word or span each token belongs to when the
        80/10/10 decision is made per unit (``corruption_per="unit"`` with word or span
        units), else None.
    """
    batch, length = units.shape
    select_keys = keys[0][:, None]
    per_unit = config.corruption_per == "unit" and config.unit != "token"
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
        return selected, (u if config.unit == "token" else None), (units if per_unit else None)
    counters = torch.arange(length, device=units.device).expand(batch, length)
    if spans is None:
        unit_score = to_unsigned(keyed_uniform32(select_keys, counters))
    else:
        # Words in span order: spans ranked by their hash, words in reading order within a
        # span, so the greedy pass below keeps spans contiguous and cuts only the last one.
        unit_score = (to_unsigned(keyed_uniform32(select_keys, spans)) << 20) | counters
    unit_size = torch.zeros((batch, length), dtype=torch.int64, device=units.device)
    unit_size.scatter_add_(1, units.clamp(min=0), candidates.to(torch.int64))
    if config.count == "exact":
        budget = _bert_budget(config, real.sum(1), candidates.sum(1), length)
    else:
        # fairseq counts units (words, with whole words), so each unit weighs 1, not its tokens.
        unit_size.clamp_(max=1)
        budget = _fairseq_budget(config, candidates, real, unit_size.sum(1), keys[-1])
    selected = _take_in_order(units, candidates, unit_score, unit_size, budget)
    groups = None
    if per_unit:
        groups = units if spans is None else spans.gather(1, units.clamp(min=0))
    return selected, None, groups


def _bert_budget(config, n_tokens, n_candidates, length) -> torch.Tensor:
    """BERT's ``min(max_predictions, max(1, round(p * n)))`` tokens per row, ``[B]`` int64.

    ``n`` counts the real tokens, ``[CLS]`` and ``[SEP]`` included, as in BERT's
    ``create_pretraining_data.py``; the budget is at most the maskable tokens, and p=0 means
    none (BERT's ``max(1, ...)`` would mask one token anyway).
    """
    budget = torch.round(n_tokens.to(torch.float64) * config.mlm_probability).to(torch.int64)
    if config.mlm_probability > 0:  # BERT's max(1, ...); p=0 means no masking at all
        budget = budget.clamp(min=1)
    if config.max_predictions is not None:
        # A cap above the length caps nothing (the budget never exceeds the maskable tokens);
        # min() keeps a huge cap from overflowing int64.
        budget = budget.clamp(max=min(config.max_predictions, length))
    return torch.minimum(budget, n_candidates)


def _fairseq_budget(config, candidates, real, n_units, count_keys) -> torch.Tensor:
    """fairseq's ``int(p * n + u)`` units per row, ``u ~ U[0, 1)`` keyed per example, ``[B]``.

    As ``fairseq/data/mask_tokens_dataset.py`` (``MaskTokensDataset.__getitem__``):
    ``num_mask = int(self.mask_prob * sz + np.random.rand())`` where ``sz = len(item)``, all
    the sequence's tokens (``<s>`` and ``</s>`` included; fairseq items are unpadded), or
    with ``mask_whole_words`` the number of word starts, where every special symbol starts a
    word of its own (``get_whole_word_mask`` in ``fairseq/data/encoders/utils.py``; there
    the first word of a text, which has no leading-space marker, joins ``<s>``'s word, while
    here words never continue across a special token). fairseq then draws among all ``sz`` units,
    specials included; here only maskable units are drawn, so the count is capped at their
    number ``n_units`` (which only matters for p close to 1).
    """
    if config.unit == "token":
        n = real.sum(1)
    else:
        n = n_units + (real & ~candidates).sum(1)  # words, plus each special token as one word
    u = to_unsigned(count_keys).to(torch.float64) / (MASK32 + 1.0)
    budget = torch.floor(n.to(torch.float64) * config.mlm_probability + u).to(torch.int64)
    return torch.minimum(budget, n_units)


def _take_in_order(units, candidates, unit_score, unit_size, budget) -> torch.Tensor:
    """Go through the units in random order, take each one that still fits the budget.

    ``unit_size`` is what a unit costs (its maskable tokens for BERT's token budget, 1 for a
    budget in units). Like ``create_pretraining_data.py``, a unit that would overflow the
    budget is skipped and the next one is tried, so the budget is never exceeded. The first
    pass takes the longest prefix of the random order that fits (all of it when every unit
    costs 1); each further pass takes, per row, the first remaining unit that fits, which is
    exactly the greedy rule since the remaining budget only shrinks. Passes loop over rounds,
    not tokens or examples: their number is the most units any row takes after its first skip.
    """
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
