"""Teaching helpers: the shared first cell of every notebook, and the exercise checks.

* :mod:`.notebook`: :func:`setup_notebook` (seeds, device, FAST mode, style, versions).
* :mod:`.checks`: the :class:`CheckResult` contract every check follows.
* :mod:`.exercises_masking`: chapter 02 (:mod:`.exercises_fill_mask`: its fill-in-the-blank
  section); :mod:`.exercises_attention`: chapters 01 and 03;
  :mod:`.exercises_explorer`: chapter 05;
  :mod:`.exercises_chinese`: chapter 06 (feedback in Chinese); :mod:`.exercises_padding`: chapter 08;
  :mod:`.exercises_pretraining`: chapter 04; :mod:`.exercises_mask_finetuning`: chapter 07;
  :mod:`.exercises_causal_lm`: chapter 09;
  :mod:`.exercises_flex`: chapter 10.
"""

from .checks import CheckResult
from .exercises_attention import (
    check_blocked_weight_factor,
    check_empty_row_weights,
    check_keys_per_row,
    check_model_mask,
    check_previous_and_self_mask,
)
from .exercises_causal_lm import (
    check_decoding_mask_row,
    check_decoding_shapes,
    check_next_token_labels,
)
from .exercises_chinese import (
    ZhCheckResult,
    check_hf_mask_share,
    check_hf_offset_word_count,
    check_jieba_word_ids,
    check_whole_word_tokens,
)
from .exercises_explorer import check_local_window_without, check_previous_token_head
from .exercises_fill_mask import check_trained_vs_fresh
from .exercises_flex import check_causal_skipped_share, check_mask_mod, check_table_mib, mask_mod_target
from .exercises_mask_finetuning import (
    check_significant,
    check_stopword_keep,
    check_test_time_cost,
    check_topk_share,
)
from .exercises_masking import (
    check_bert_config,
    check_repeating_epochs,
    check_share_never_masked,
    check_times_each_mask_seen,
)
from .exercises_padding import (
    check_key_padding_mask,
    check_last_real_positions,
    check_left_padding_position_ids,
    check_padding_side,
)
from .exercises_pretraining import (
    check_first_epoch_below_floor,
    check_memorization_gap,
    check_parting_epoch,
    check_share_memorized,
    check_unigram_loss,
)
from .notebook import NotebookContext, fast_from_env, setup_notebook

__all__ = [
    "CheckResult",
    "NotebookContext",
    "ZhCheckResult",
    "check_bert_config",
    "check_causal_skipped_share",
    "check_decoding_mask_row",
    "check_decoding_shapes",
    "check_blocked_weight_factor",
    "check_empty_row_weights",
    "check_first_epoch_below_floor",
    "check_hf_mask_share",
    "check_hf_offset_word_count",
    "check_key_padding_mask",
    "check_last_real_positions",
    "check_left_padding_position_ids",
    "check_padding_side",
    "check_parting_epoch",
    "check_share_memorized",
    "check_jieba_word_ids",
    "check_keys_per_row",
    "check_local_window_without",
    "check_mask_mod",
    "check_memorization_gap",
    "check_model_mask",
    "check_next_token_labels",
    "check_previous_and_self_mask",
    "check_previous_token_head",
    "check_repeating_epochs",
    "check_share_never_masked",
    "check_significant",
    "check_stopword_keep",
    "check_table_mib",
    "check_test_time_cost",
    "check_times_each_mask_seen",
    "check_topk_share",
    "check_trained_vs_fresh",
    "check_unigram_loss",
    "check_whole_word_tokens",
    "fast_from_env",
    "mask_mod_target",
    "setup_notebook",
]
