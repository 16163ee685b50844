"""Data that figures, widgets and tests share, computed with the core layers.

* :mod:`.encoding`: texts tokenized for the masking engine, with word ids.
* :mod:`.epoch_grids`: one sequence's MLM masks over epochs (:class:`EpochGrid`, built one
  way, by :meth:`EpochGrid.build`), static and dynamic grids side by side.
* :mod:`.collator_runs`: what a collator fed the model, epoch by epoch, in a real DataLoader
  (the seeded-workers trap).
* :mod:`.attention_views`: one layer's attention (a head or the mean) and its applied mask.
* :mod:`.layer_mask_views`: what a layer mask keeps in every layer of a classifier, for one
  text, and the prediction with and without it (:class:`LayerMaskView`).
* :mod:`.mask_rules`: the attention-mask rules the explorers offer, built from their controls.
* :mod:`.chinese_words`, :mod:`.word_masks`: words of Chinese text over its tokens by each rule
  (tokenizer, Hugging Face's offsets, a segmenter), the features a collator reads, and what
  masks did to the words (chapter 06).

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*; in
attention masks True = *may attend*.
"""

from .attention_views import attention_view, mask_view
from .chinese_words import (
    chinese_features,
    chinese_ref_from_word_ids,
    offset_word_ids,
    word_groups,
    word_segment_ids,
    words_per_row,
)
from .collator_runs import CollatedEpochs, collate_epochs, masks_in_batches
from .encoding import EncodedText, encode_texts, sentences_with_word_pieces, token_strings
from .epoch_grids import EpochGrid, epoch_grid_data, grid_from_results, static_and_dynamic_grids
from .layer_mask_views import LayerMaskView, layer_mask_view
from .mask_rules import PARAMS, RULES, AppliedRule, build_rule
from .word_masks import WordSelection, corruption_shares, row_coverage, word_selection

__all__ = [
    "PARAMS",
    "RULES",
    "AppliedRule",
    "CollatedEpochs",
    "EncodedText",
    "EpochGrid",
    "LayerMaskView",
    "WordSelection",
    "build_rule",
    "chinese_features",
    "chinese_ref_from_word_ids",
    "collate_epochs",
    "corruption_shares",
    "encode_texts",
    "epoch_grid_data",
    "grid_from_results",
    "layer_mask_view",
    "attention_view",
    "mask_view",
    "masks_in_batches",
    "offset_word_ids",
    "row_coverage",
    "sentences_with_word_pieces",
    "static_and_dynamic_grids",
    "token_strings",
    "word_groups",
    "word_segment_ids",
    "word_selection",
    "words_per_row",
]
