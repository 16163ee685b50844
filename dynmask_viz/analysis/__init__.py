"""Data that figures, widgets and tests share, computed with the core layers.

* :mod:`.epoch_grids`: one sequence's MLM masks over epochs (:class:`EpochGrid`, built one
  way, by :meth:`EpochGrid.build`), encoded texts, static and dynamic grids side by side.
* :mod:`.collator_runs`: what a collator fed the model, epoch by epoch, in a real DataLoader
  (the seeded-workers trap).
* :mod:`.mask_rules`: the attention-mask rules the explorers offer, built from their controls.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*; in
attention masks True = *may attend*.
"""

from .collator_runs import CollatedEpochs, collate_epochs, masks_in_batches
from .epoch_grids import (
    EncodedText,
    EpochGrid,
    encode_texts,
    epoch_grid_data,
    grid_from_results,
    sentences_with_word_pieces,
    static_and_dynamic_grids,
    token_strings,
)
from .mask_rules import PARAMS, RULES, AppliedRule, build_rule

__all__ = [
    "PARAMS",
    "RULES",
    "AppliedRule",
    "CollatedEpochs",
    "EncodedText",
    "EpochGrid",
    "build_rule",
    "collate_epochs",
    "encode_texts",
    "epoch_grid_data",
    "grid_from_results",
    "masks_in_batches",
    "sentences_with_word_pieces",
    "static_and_dynamic_grids",
    "token_strings",
]
