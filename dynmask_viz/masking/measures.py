"""Measurements of MLM masking: the 80/10/10 split, counts per sequence, times masked.

Drawn by :mod:`dynmask_viz.plots.masking_stats`; :mod:`.exposure` holds the exposure counts.
Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._checks import check_count, check_probability
from .config import MaskingConfig
from .core import KEPT, MASKED, RANDOM, MaskedBatch, candidate_mask
from .schedules import DynamicMasking
from .vocab import as_vocab

__all__ = [
    "CorruptionBreakdown",
    "corruption_breakdown",
    "corruption_from_labels",
    "selection_counts",
    "times_masked_pmf",
]


@dataclass(frozen=True)
class CorruptionBreakdown:
    """How selected tokens were corrupted, measured against the configuration.

    Attributes:
        counts: ``{"[MASK]": n, "random": n, "kept": n}`` among selected tokens.
        configured: The same keys, the configured shares (0.8 / 0.1 / 0.1 for BERT).
        n_selected: Tokens selected for prediction.
        n_candidates: Tokens that could be selected, or ``None`` if unknown.
        mlm_probability: The configured selection probability.
    """

    counts: dict
    configured: dict
    n_selected: int
    n_candidates: int | None
    mlm_probability: float

    @property
    def shares(self) -> dict:
        """Measured share of each corruption among selected tokens."""
        return {k: (v / self.n_selected if self.n_selected else 0.0) for k, v in self.counts.items()}

    @property
    def selected_share(self) -> float | None:
        """Measured share of candidate tokens selected (compare with ``mlm_probability``)."""
        return None if not self.n_candidates else self.n_selected / self.n_candidates


def corruption_breakdown(
    result: MaskedBatch | Sequence[MaskedBatch],
    config: MaskingConfig | None = None,
    *,
    candidates: torch.Tensor | None = None,
) -> CorruptionBreakdown:
    """Count [MASK] / random / kept among the selected tokens of one or more masked batches.

    Args:
        result: A :class:`MaskedBatch` or a list of them (e.g. several epochs).
        config: The configuration used (default ``MaskingConfig()``), for the configured shares.
        candidates: ``[B, L]`` bool, tokens that could be selected (from ``candidate_mask``),
            counted once per batch, to report the selected share.
    """
    config = config or MaskingConfig()
    results = [result] if isinstance(result, MaskedBatch) else list(result)
    if not results:
        raise ValueError("corruption_breakdown needs at least one MaskedBatch.")
    codes = torch.cat([r.corruption.flatten() for r in results])
    counts = {
        "[MASK]": int((codes == MASKED).sum()),
        "random": int((codes == RANDOM).sum()),
        "kept": int((codes == KEPT).sum()),
    }
    configured = {
        "[MASK]": config.mask_replace_prob,
        "random": config.random_replace_prob,
        "kept": config.keep_prob,
    }
    n_cand = None if candidates is None else int(candidates.sum()) * len(results)
    return CorruptionBreakdown(counts, configured, sum(counts.values()), n_cand, config.mlm_probability)


def corruption_from_labels(input_ids: torch.Tensor, labels: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """Corruption codes of any collator's output (e.g. Hugging Face's), from its labels.

    Args:
        input_ids: ``[B, L]`` ids fed to the model.
        labels: ``[B, L]`` original id where a prediction is required, ``-100`` elsewhere.
        mask_token_id: The mask token's id.

    Returns:
        ``[B, L]`` int8 codes. A random replacement that drew the original token counts as kept.
    """
    selected = labels != -100
    code = torch.where(input_ids == mask_token_id, MASKED, torch.where(input_ids == labels, KEPT, RANDOM))
    return torch.where(selected, code, 0).to(torch.int8)


def selection_counts(
    input_ids: torch.Tensor,
    vocab,
    config: MaskingConfig,
    *,
    epochs: int = 1,
    seed: int = 0,
    attention_mask=None,
    word_ids=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens selected per sequence, to compare ``count="exact"``, ``"fairseq"`` and ``"bernoulli"``.

    Args:
        input_ids: ``[B, L]`` token ids (sequence ``i`` is keyed as example ``i``).
        vocab: ``MaskingVocab`` or tokenizer.
        config: The masking configuration.
        epochs: Number of dynamic masks drawn per sequence, an int >= 1.
        seed: Masking seed.
        attention_mask, word_ids: As in :func:`~dynmask_viz.masking.mask_batch`.

    Returns:
        ``(n_candidates [B], n_selected [epochs, B])``, both int64.
    """
    vocab = as_vocab(vocab)
    epochs = check_count("epochs", epochs, 1)
    masking = DynamicMasking(config, seed)
    ex = torch.arange(input_ids.shape[0])
    kw = dict(example_ids=ex, attention_mask=attention_mask, word_ids=word_ids)
    selected = torch.stack([masking(input_ids, vocab, epoch=e, **kw).masked.sum(1) for e in range(epochs)])
    return candidate_mask(input_ids, vocab, attention_mask)[1].sum(1), selected


def times_masked_pmf(p: float, epochs: int, distinct_masks: int | None = None) -> torch.Tensor:
    """Distribution of how many times one token is selected over ``epochs`` epochs.

    With ``k`` distinct masks cycled (static), mask ``j`` is seen ``n_j`` times (4 each for
    BERT's 10 masks over 40 epochs), so the count is a sum of independent ``n_j * Bernoulli(p)``
    (only multiples of ``n_j`` when ``k`` divides ``epochs``). Dynamic (``None``) is
    ``Binomial(epochs, p)``. Exact for token units with ``count="bernoulli"``.

    Args:
        p: Selection probability, in ``[0, 1]``.
        epochs: Number of epochs, an int >= 0.
        distinct_masks: Distinct masks cycled (static), an int >= 1; ``None`` = dynamic.

    Returns:
        ``[epochs + 1]`` float64, probability of being selected ``0..epochs`` times.
    """
    p = check_probability("p", p)
    epochs = check_count("epochs", epochs, 0)
    if distinct_masks is not None:
        distinct_masks = check_count("distinct_masks", distinct_masks, 1)
    k = epochs if distinct_masks is None else min(epochs, distinct_masks)
    pmf = torch.zeros(epochs + 1, dtype=torch.float64)
    pmf[0] = 1.0
    for j in range(k):
        seen = len(range(j, epochs, k))  # epochs that reuse mask j
        pmf = (1 - p) * pmf + p * torch.roll(pmf, seen) * (torch.arange(epochs + 1) >= seen)
    return pmf
