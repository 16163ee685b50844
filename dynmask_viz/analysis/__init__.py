"""Data that figures, widgets and tests share, computed with the core layers.

* :mod:`.encoding`: texts tokenized for the masking engine, with word ids.
* :mod:`.epoch_grids`: one sequence's MLM masks over epochs (:class:`EpochGrid`, built one
  way, by :meth:`EpochGrid.build`), static and dynamic grids side by side.
* :mod:`.collator_runs`: what a collator fed the model, epoch by epoch, in a real DataLoader
  (the seeded-workers trap).
* :mod:`.attention_views`: one layer's attention (a head or the mean) and its applied mask.
* :mod:`.layer_mask_views`: what a layer mask keeps in every layer of a classifier, for one
  text, and the prediction with and without it (:class:`LayerMaskView`).
* :mod:`.padding`, :mod:`.padding_side`: a padded batch against each text alone (masks,
  row differences, pooling), and a decoder's next-token prediction per padding side (chapter 08).
* :mod:`.flex_views`: a rule's FlexAttention blocks (skipped, partial, full) and its time
  against SDPA with the dense mask at growing lengths (chapter 10).
* :mod:`.mask_rules`: the attention-mask rules the explorers offer, built from their controls.
* :mod:`.fill_mask`: each masked LM's top-k predictions at masked positions (fed as
  ``[MASK]`` or as in training), and (:mod:`.fill_mask_masks`) the masks and inputs a training
  run drew (trained vs fresh).
* :mod:`.mlm_attention`: an MLM-masked sentence run through a model: ``[MASK]`` tokens are keys
  like any other (MLM masking leaves the attention mask alone).
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
from .fill_mask import FillMaskView, ModelPredictions, fill_mask_view
from .fill_mask_masks import draw_mask, draw_training_input, mask_index, times_seen
from .flex_views import BlockSparsityView, FlexTimings, block_sparsity_view, time_attention
from .layer_mask_views import LayerMaskView, layer_mask_view
from .mask_rules import PARAMS, RULES, AppliedRule, build_rule
from .mlm_attention import WHOLE_WORDS_AS_MASK, MaskedTextAttention, mlm_masked_attention
from .padding import (
    PADDING_SIDES,
    PaddedBatchView,
    encode_padded,
    key_padding_mask,
    masked_mean,
    padded_batch_view,
)
from .padding_side import (
    NEXT_TOKEN_SETTINGS,
    NextTokenReading,
    PaddingSideComparison,
    greedy_continuations,
    padding_side_comparison,
)
from .word_masks import WordSelection, corruption_shares, row_coverage, word_selection

__all__ = [
    "BlockSparsityView",
    "FlexTimings",
    "block_sparsity_view",
    "time_attention",
    "PARAMS",
    "RULES",
    "AppliedRule",
    "CollatedEpochs",
    "EncodedText",
    "EpochGrid",
    "FillMaskView",
    "ModelPredictions",
    "draw_mask",
    "draw_training_input",
    "fill_mask_view",
    "mask_index",
    "times_seen",
    "LayerMaskView",
    "MaskedTextAttention",
    "WHOLE_WORDS_AS_MASK",
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
    "NEXT_TOKEN_SETTINGS",
    "PADDING_SIDES",
    "NextTokenReading",
    "PaddedBatchView",
    "PaddingSideComparison",
    "encode_padded",
    "greedy_continuations",
    "key_padding_mask",
    "masked_mean",
    "padded_batch_view",
    "padding_side_comparison",
    "attention_view",
    "mask_view",
    "masks_in_batches",
    "mlm_masked_attention",
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
