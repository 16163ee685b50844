"""Configuration of MLM input masking: what is selected, how much, and how it is corrupted."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

Unit = Literal["token", "word", "span"]
Count = Literal["bernoulli", "exact", "fairseq"]
CorruptionPer = Literal["token", "unit"]

_UNITS = ("token", "word", "span")
# Longest span allowed, in words: far beyond any sequence here, small enough that the mean
# span length (a sum over lengths) and the span tensors stay cheap and in range.
MAX_SPAN_WORDS = 1 << 16
_COUNTS = ("bernoulli", "exact", "fairseq")
_CORRUPTION_PER = ("token", "unit")


def _not_a_number(value) -> bool:
    """True unless ``value`` is a real number (bools, strings and NaN are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class MaskingConfig:
    """How to choose and corrupt the positions an MLM must predict.

    Attributes:
        mlm_probability: Share of (non-special, non-padding) tokens selected for prediction.
        mask_replace_prob: Of the selected tokens, share replaced by the mask token (BERT: 0.8).
        random_replace_prob: Of the selected tokens, share replaced by a random non-special
            token (BERT: 0.1). The rest, ``1 - mask_replace_prob - random_replace_prob``, keep
            the original token but must still be predicted.
        unit: What is selected as a whole: ``"token"`` (one sub-word piece), ``"word"``
            (all pieces of a word together, "whole word masking") or ``"span"`` (runs of whole
            words with geometric lengths, as in SpanBERT).
        count: How many units a sequence gets. ``"bernoulli"`` selects every unit independently
            with ``mlm_probability`` (Hugging Face's collator), so the number per sequence
            varies (standard deviation ``sqrt(n p (1 - p))``, about 2 tokens for 30 tokens at
            p=0.15). ``"exact"`` selects ``round(mlm_probability * n)`` tokens per sequence,
            ``n`` counting ``[CLS]`` and ``[SEP]`` (at least 1, at most ``max_predictions`` and
            the maskable tokens), as BERT's ``create_pretraining_data.py`` does.
            ``"fairseq"`` selects ``int(mlm_probability * n + u)`` units, ``u ~ U[0, 1)`` drawn
            per sequence, as fairseq's ``MaskTokensDataset`` (RoBERTa): exactly
            ``mlm_probability * n`` on average, at most one unit off (standard deviation at
            most 0.5). ``n`` is fairseq's: the sequence's tokens, ``[CLS]``/``[SEP]``
            included, or with ``unit="word"``/``"span"`` its words, each special token counting
            as one word (fairseq's ``mask_whole_words``; spans are then taken in random
            order, word by word, cutting only the last one); the units are drawn among the
            maskable ones only (fairseq may draw ``<s>``/``</s>``), so the count is capped
            at the maskable units.
        corruption_per: Where the 80/10/10 decision is made. ``"token"``: for every selected
            token on its own, as BERT (also for whole words) and Hugging Face. ``"unit"``: once
            per selected word or span, shared by all its tokens (fairseq's
            ``mask_whole_words``, SpanBERT), so a word is never half ``[MASK]`` and half kept;
            a randomly replaced word still gets a random id per token, as in fairseq. The
            same as ``"token"`` (bit for bit) when ``unit="token"``.
        max_predictions: Cap on predictions per sequence for ``count="exact"``, an int >= 1
            (BERT used 20 for 128-token and 80 for 512-token sequences; ``True`` is refused,
            not read as 1). ``None`` means no cap.
        span_geometric_p: Parameter of the span-length distribution, a geometric distribution
            truncated to ``1..max_span_words`` and renormalised (SpanBERT: p=0.2, mean 3.8).
        max_span_words: Longest span, in words, 1..65536 (SpanBERT: 10).
    """

    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    unit: Unit = "token"
    count: Count = "bernoulli"
    corruption_per: CorruptionPer = "token"
    max_predictions: int | None = None
    span_geometric_p: float = 0.2
    max_span_words: int = 10

    def __post_init__(self) -> None:
        for name in ("mlm_probability", "mask_replace_prob", "random_replace_prob"):
            value = getattr(self, name)
            if _not_a_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"MaskingConfig.{name} must be a number in [0, 1]; got {value!r}.")
        if self.mask_replace_prob + self.random_replace_prob > 1.0 + 1e-9:
            raise ValueError(
                "MaskingConfig: mask_replace_prob + random_replace_prob must not exceed 1 "
                f"(got {self.mask_replace_prob} + {self.random_replace_prob}); the remainder is "
                "the share of selected tokens left unchanged. BERT uses 0.8 and 0.1."
            )
        if not isinstance(self.unit, str) or self.unit not in _UNITS:
            raise ValueError(f"MaskingConfig.unit must be one of {_UNITS}; got {self.unit!r}.")
        if not isinstance(self.count, str) or self.count not in _COUNTS:
            raise ValueError(f"MaskingConfig.count must be one of {_COUNTS}; got {self.count!r}.")
        if not isinstance(self.corruption_per, str) or self.corruption_per not in _CORRUPTION_PER:
            raise ValueError(
                f"MaskingConfig.corruption_per must be one of {_CORRUPTION_PER} (one 80/10/10 "
                f"decision per token, or per selected word/span); got {self.corruption_per!r}."
            )
        if self.max_predictions is not None and (
            isinstance(self.max_predictions, bool)  # True is an int, not a count
            or not isinstance(self.max_predictions, int)
            or self.max_predictions < 1
        ):
            raise ValueError(
                f"MaskingConfig.max_predictions must be a positive int or None; got {self.max_predictions!r}."
            )
        if self.max_predictions is not None and self.count != "exact":
            raise ValueError(
                "MaskingConfig.max_predictions only applies to count='exact' (BERT's scheme); "
                f"got count={self.count!r}: set count='exact' or leave max_predictions=None."
            )
        p = self.span_geometric_p
        if _not_a_number(p) or not 0.0 < p <= 1.0:
            raise ValueError(f"MaskingConfig.span_geometric_p must be a number in (0, 1]; got {p!r}.")
        if (
            isinstance(self.max_span_words, bool)
            or not isinstance(self.max_span_words, int)
            or not 1 <= self.max_span_words <= MAX_SPAN_WORDS
        ):
            raise ValueError(
                f"MaskingConfig.max_span_words must be an int in [1, {MAX_SPAN_WORDS}]; "
                f"got {self.max_span_words!r}."
            )

    @property
    def keep_prob(self) -> float:
        """Share of selected tokens left unchanged (the last "10" of 80/10/10)."""
        return max(0.0, 1.0 - self.mask_replace_prob - self.random_replace_prob)

    @property
    def mean_span_words(self) -> float:
        """Mean span length in words of the truncated geometric distribution (3.8 for SpanBERT)."""
        q = 1.0 - self.span_geometric_p
        weights = [q ** (k - 1) for k in range(1, self.max_span_words + 1)]
        return sum(k * w for k, w in enumerate(weights, start=1)) / sum(weights)

    def to_dict(self) -> dict:
        """Plain dict of the fields (for JSON results and widgets)."""
        return asdict(self)

    def replace(self, **changes) -> MaskingConfig:
        """Copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> MaskingConfig:
        """A named preset, optionally with fields overridden.

        Args:
            name: One of :data:`MASKING_PRESETS` (``"roberta"``, ``"bert"``, ``"bert-wwm"``,
                ``"spanbert"``, ``"hf-default"``, ``"fairseq"``, ``"fairseq-wwm"``).
            **overrides: Fields to change on top of the preset.
        """
        try:
            preset = MASKING_PRESETS[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name (a list) is no preset either
            raise ValueError(
                f"Unknown masking preset {name!r}; choose one of {sorted(MASKING_PRESETS)}."
            ) from None
        return replace(preset, **overrides)


MASKING_PRESETS: dict[str, MaskingConfig] = {
    # RoBERTa: 15% of tokens, 80/10/10 (fairseq's count is int(p*n + U[0,1)), preset "fairseq";
    # Bernoulli has the same mean and is what Hugging Face's RoBERTa recipes use).
    "roberta": MaskingConfig(),
    # Hugging Face DataCollatorForLanguageModeling defaults (same sampling scheme as fairseq).
    "hf-default": MaskingConfig(),
    # BERT's create_pretraining_data.py: an exact count per sequence, capped (128-token setup).
    "bert": MaskingConfig(count="exact", max_predictions=20),
    # BERT's later whole-word-masking release: the same, with whole words as units.
    "bert-wwm": MaskingConfig(unit="word", count="exact", max_predictions=20),
    # fairseq's MaskTokensDataset, as RoBERTa was trained: int(p * n + U[0, 1)) tokens.
    "fairseq": MaskingConfig(count="fairseq"),
    # The same with --mask-whole-words: whole words, one 80/10/10 decision per word.
    "fairseq-wwm": MaskingConfig(unit="word", count="fairseq", corruption_per="unit"),
    # SpanBERT: contiguous whole-word spans, geometric lengths (p=0.2, at most 10 words), and
    # 80/10/10 decided per span, not per token (paper section 3.1; the published pretraining
    # command's --replacement-method span), random replacements drawn per token.
    "spanbert": MaskingConfig(unit="span", corruption_per="unit"),
}
