"""Which positions ``mask_batch`` selects: unit ids, Bernoulli selection, BERT's exact count.

Boolean convention: True = *selected for MLM prediction*. Split from :mod:`.core` to keep
each module short; these helpers take already-validated tensors.
"""

from __future__ import annotations

import torch

from .._hashing import below, keyed_uniform32, to_unsigned
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
            "together. Pass word_ids (from a fast tokenizer's encoding.word_ids(), or "
            "units.word_ids_from_offsets from return_offsets_mapping=True), or use MLMCollator, "
            "which derives them from 'word_ids' or 'offset_mapping' features."
        )
    return normalize_word_ids(word_ids.to(device=positions.device, dtype=torch.int64), candidates)


def select(config, units, candidates, keys, real) -> tuple[torch.Tensor, torch.Tensor | None]:
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
        # A cap above the length caps nothing (the budget never exceeds the maskable tokens);
        # min() keeps a huge cap from overflowing int64.
        budget = budget.clamp(max=min(config.max_predictions, length))
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
