"""MLM input masking, static vs dynamic (RoBERTa section 4.1), keyed and vectorized.

Boolean convention: in every mask returned here, True = *selected for MLM prediction*.

Public API:
    MaskingConfig, MASKING_PRESETS: what to select (token/word/span; bernoulli, exact or
        fairseq counts) and the 80/10/10 corruption (decided per token or per unit).
    mask_batch: mask a padded ``[B, L]`` batch; a pure function of (seed, example id, epoch).
    StaticMasking, DynamicMasking: BERT's cycled fixed masks vs a fresh mask per epoch.
    MLMCollator: drop-in for DataCollatorForLanguageModeling: fresh masks every call until
        ``set_epoch`` is called, then masks keyed on (seed, example id, epoch) (the Trainer
        callback that sets its epoch is :class:`dynmask_viz.hf.MaskingEpochCallback`).
    MaskingVocab: the token ids the engine needs, read from a tokenizer once.
    JiebaSegmenter, word_ids_for_text: word boundaries from a word segmenter (Chinese
        whole-word masking), for ``MLMCollator(word_boundaries="chinese")`` or precomputed.
    exposure, theoretical_ever_masked: how often tokens are masked over epochs, vs theory.
    corruption_breakdown, selection_counts, times_masked_pmf: the measures the figures show.
"""

from .collator import MLMCollator
from .config import MASKING_PRESETS, MaskingConfig
from .core import (
    CORRUPTION_NAMES,
    IGNORE_INDEX,
    KEPT,
    MASKED,
    RANDOM,
    UNCHANGED,
    MaskedBatch,
    candidate_mask,
    mask_batch,
)
from .exposure import ExposureStats, exposure, theoretical_ever_masked
from .measures import (
    CorruptionBreakdown,
    corruption_breakdown,
    corruption_from_labels,
    selection_counts,
    times_masked_pmf,
)
from .schedules import DynamicMasking, StaticMasking, make_masking
from .segmentation import TokenPieces, is_cjk_char, segment_characters, word_ids_for_text
from .segmenters import JiebaSegmenter, MaxMatchSegmenter
from .units import (
    normalize_word_ids,
    span_ids_from_words,
    word_ids_from_offsets,
    word_ids_from_starts,
    word_ids_from_vocab,
)
from .vocab import MaskingVocab, as_vocab

__all__ = [
    "CORRUPTION_NAMES",
    "CorruptionBreakdown",
    "DynamicMasking",
    "ExposureStats",
    "IGNORE_INDEX",
    "JiebaSegmenter",
    "KEPT",
    "MASKED",
    "MASKING_PRESETS",
    "MLMCollator",
    "MaskedBatch",
    "MaskingConfig",
    "MaskingVocab",
    "MaxMatchSegmenter",
    "RANDOM",
    "StaticMasking",
    "TokenPieces",
    "UNCHANGED",
    "as_vocab",
    "candidate_mask",
    "corruption_breakdown",
    "corruption_from_labels",
    "exposure",
    "is_cjk_char",
    "make_masking",
    "mask_batch",
    "normalize_word_ids",
    "segment_characters",
    "selection_counts",
    "span_ids_from_words",
    "theoretical_ever_masked",
    "times_masked_pmf",
    "word_ids_for_text",
    "word_ids_from_offsets",
    "word_ids_from_starts",
    "word_ids_from_vocab",
]
