"""What masks did to words and rows: split or whole words, all-or-nothing rows, 80/10/10 shares.

The counts of chapter 06 (Chinese whole-word masking), for any collator's output: token
masking splits words (some characters selected, some not), whole-word masking never does,
and Hugging Face's offset rule on Chinese masks whole sentences or nothing.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..masking import KEPT, MASKED, RANDOM

__all__ = ["WordSelection", "corruption_shares", "row_coverage", "word_selection"]


@dataclass(frozen=True)
class WordSelection:
    """What masks did to the words of two or more tokens (``N`` = such word occurrences).

    Attributes:
        words: ``N``, multi-token words counted (per row and per mask drawn).
        untouched: Of those, words with no token selected.
        whole: Words with every token selected.
        split: Words with some but not all tokens selected.
    """

    words: int
    untouched: int
    whole: int
    split: int

    @property
    def touched(self) -> int:
        """Words with at least one token selected."""
        return self.whole + self.split

    @property
    def split_share(self) -> float:
        """Of the words touched by a mask, the share selected only in part (0 when none)."""
        return self.split / self.touched if self.touched else 0.0


def word_selection(masked: torch.Tensor, word_ids: torch.Tensor) -> WordSelection:
    """Count the multi-token words that masks selected whole, in part, or not at all.

    Args:
        masked: ``[..., B, L]`` bool, True = selected for MLM (leading dims: epochs, draws).
        word_ids: ``[B, L]`` int word index per token, ``-1`` on tokens of no word; broadcast
            over the leading dims of ``masked``.

    Returns:
        A :class:`WordSelection` summed over every row and leading index.

    Raises:
        ValueError: ``word_ids`` is not ``[B, L]`` matching the last two dims of ``masked``.
    """
    masked = torch.as_tensor(masked).bool()
    word_ids = torch.as_tensor(word_ids).to(torch.int64)
    if word_ids.dim() != 2 or masked.dim() < 2 or masked.shape[-2:] != word_ids.shape:
        raise ValueError(
            f"word_ids must be [B, L] and masked [..., B, L] with the same B, L; got word_ids "
            f"{tuple(word_ids.shape)} and masked {tuple(masked.shape)}."
        )
    rows, length = word_ids.shape
    flat = masked.reshape(-1, rows, length)
    valid = word_ids >= 0
    span = int(word_ids.max()) + 1 if bool(valid.any()) else 1
    # One bucket per (leading index, row, word): tokens in it, and how many were selected.
    key = torch.arange(rows)[:, None] * span + word_ids.clamp(min=0)
    key = (torch.arange(flat.shape[0])[:, None, None] * rows * span + key)[:, valid]
    buckets = flat.shape[0] * rows * span
    sizes = torch.bincount(key.flatten(), minlength=buckets)
    chosen = torch.bincount(
        key.flatten(), weights=flat[:, valid].flatten().double(), minlength=buckets
    ).long()
    multi = sizes >= 2
    return WordSelection(
        words=int(multi.sum()),
        untouched=int((multi & (chosen == 0)).sum()),
        whole=int((multi & (chosen == sizes)).sum()),
        split=int((multi & (chosen > 0) & (chosen < sizes)).sum()),
    )


def row_coverage(masked: torch.Tensor, candidates: torch.Tensor) -> dict[str, float]:
    """Share of rows with every, none, or only some of their maskable tokens selected.

    Args:
        masked: ``[B, L]`` bool, True = selected for MLM.
        candidates: ``[B, L]`` bool, True on tokens that may be selected (rows without any
            are left out).

    Returns:
        ``{"all": ..., "none": ..., "some": ...}``, shares of the rows (summing to 1).

    Raises:
        ValueError: Shapes differ or no row has a candidate.
    """
    masked, candidates = torch.as_tensor(masked).bool(), torch.as_tensor(candidates).bool()
    if masked.shape != candidates.shape or masked.dim() != 2:
        raise ValueError(
            f"masked and candidates must both be [B, L]; got {tuple(masked.shape)} and "
            f"{tuple(candidates.shape)}."
        )
    keep = candidates.any(1)
    if not bool(keep.any()):
        raise ValueError("row_coverage: no row has a token that may be selected (candidates all False).")
    chosen, total = (masked & candidates).sum(1)[keep], candidates.sum(1)[keep]
    rows = float(keep.sum())
    every, none = (chosen == total), (chosen == 0)
    some = ~every & ~none  # counted, not 1 - all - none: that leaves float dust such as 1e-16
    return {
        name: float(rows_.sum()) / rows for name, rows_ in (("all", every), ("none", none), ("some", some))
    }


def corruption_shares(corruption: torch.Tensor) -> dict[str, float]:
    """Share of the selected tokens replaced by ``[MASK]``, by a random token, or kept.

    Args:
        corruption: ``[..., L]`` int codes (``UNCHANGED``/``MASKED``/``RANDOM``/``KEPT``), from
            ``MLMCollator(return_mask_info=True)`` or ``corruption_from_labels`` (any collator).

    Returns:
        ``{"[MASK]": ..., "random": ..., "kept": ...}``, summing to 1.

    Raises:
        ValueError: No token was selected (nothing to share out).
    """
    codes = torch.as_tensor(corruption)
    counts = {
        "[MASK]": int((codes == MASKED).sum()),
        "random": int((codes == RANDOM).sum()),
        "kept": int((codes == KEPT).sum()),
    }
    total = sum(counts.values())
    if total == 0:
        raise ValueError("corruption_shares: no token was selected (every code is UNCHANGED).")
    return {kind: count / total for kind, count in counts.items()}
