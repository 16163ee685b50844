"""Figures for the notebooks. Every function returns a ``matplotlib.figure.Figure`` (never shows it).

Plots draw data computed elsewhere (:mod:`dynmask_viz.analysis`, :mod:`dynmask_viz.masking`'s
measures, extraction results, experiment records); they compute no masks and train nothing.

* :mod:`.masking`: one sequence's MLM masks over epochs (static vs dynamic).
* :mod:`.masking_stats`: 80/10/10, selection counts, exposure.
* :mod:`.attention`: attention masks and weights (mask grids, heatmaps, steps, catalogue).
* :mod:`.fill_mask`: the fill-in-the-blank table (HTML): each model's top-k at each masked position.
* :mod:`.flex`: FlexAttention's blocks of a mask (skipped, partial, full) and its time
  against SDPA with the dense mask.
* :mod:`.mask_effect`: what a mask does to attention (mask, without, with, difference).
* :mod:`.experiments`: the pretraining experiment's curves and downstream results.
* :mod:`.generation`: a causal LM step by step (label shift, is_causal rows, the attention of
  each generated token over the KV cache).
* :mod:`.sweep`: the dupe-factor sweep (memorization gap against k, validation curves with
  seed bands, paired differences static(k) - dynamic).
* :mod:`.mask_finetuning`: the mask fine-tuning experiment (accuracy vs attention kept) and
  the keys a layer mask keeps, layer by layer.
* :mod:`.padding`: a padded batch, its key-padding broadcast and per-example masks, per-row
  differences, next-token readings per padding side (chapter 08).
* :mod:`._style`: every palette, the fonts and the matplotlib style (:func:`apply_style`).
"""

from ._style import (
    CORRUPTION_COLORS,
    MASK_COLORS,
    SCHEME_COLORS,
    apply_style,
    font_families,
    register_cjk_font,
)
from .attention import (
    plot_attention,
    plot_attention_steps,
    plot_layer_similarity,
    plot_mask,
    plot_mask_catalogue,
)
from .experiments import plot_downstream, plot_learning_curves, plot_memorization_gap
from .fill_mask import fill_mask_table_html
from .flex import plot_block_sparsity, plot_flex_timings
from .generation import plot_generation_attention, plot_is_causal_rows, plot_label_shift
from .mask_effect import plot_mask_effect
from .mask_finetuning import plot_accuracy_vs_kept, plot_layer_keep
from .masking import plot_epoch_grid, plot_epoch_grids, plot_static_vs_dynamic
from .masking_stats import (
    plot_corruption_breakdown,
    plot_exposure,
    plot_exposure_histogram,
    plot_selection_counts,
)
from .memorization import plot_memorization_distribution
from .padding import (
    plot_batch_masks,
    plot_key_padding_broadcast,
    plot_next_token_readings,
    plot_padded_batch,
    plot_row_values,
)
from .sweep import plot_dupe_response, plot_paired_differences, plot_sweep_curves
from .word_groups import plot_word_groups

__all__ = [
    "plot_memorization_distribution",
    "CORRUPTION_COLORS",
    "MASK_COLORS",
    "SCHEME_COLORS",
    "apply_style",
    "font_families",
    "plot_accuracy_vs_kept",
    "plot_attention",
    "plot_block_sparsity",
    "plot_attention_steps",
    "plot_corruption_breakdown",
    "fill_mask_table_html",
    "plot_downstream",
    "plot_dupe_response",
    "plot_epoch_grid",
    "plot_epoch_grids",
    "plot_exposure",
    "plot_exposure_histogram",
    "plot_flex_timings",
    "plot_generation_attention",
    "plot_is_causal_rows",
    "plot_layer_keep",
    "plot_label_shift",
    "plot_layer_similarity",
    "plot_learning_curves",
    "plot_mask",
    "plot_mask_catalogue",
    "plot_mask_effect",
    "plot_memorization_gap",
    "plot_selection_counts",
    "plot_static_vs_dynamic",
    "plot_sweep_curves",
    "plot_word_groups",
    "plot_batch_masks",
    "plot_key_padding_broadcast",
    "plot_next_token_readings",
    "plot_padded_batch",
    "plot_paired_differences",
    "plot_row_values",
    "register_cjk_font",
]
