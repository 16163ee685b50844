"""Figures for the notebooks. Every function returns a ``matplotlib.figure.Figure`` (never shows it).

Plots draw data computed elsewhere (:mod:`dynmask_viz.analysis`, :mod:`dynmask_viz.masking`'s
measures, extraction results, experiment records); they compute no masks and train nothing.

* :mod:`.masking`: one sequence's MLM masks over epochs (static vs dynamic).
* :mod:`.masking_stats`: 80/10/10, selection counts, exposure.
* :mod:`.attention`: attention masks and weights (mask grids, heatmaps, steps, catalogue).
* :mod:`.mask_effect`: what a mask does to attention (mask, without, with, difference).
* :mod:`.experiments`: the pretraining experiment's curves and downstream results.
* :mod:`.mask_finetuning`: the mask fine-tuning experiment (accuracy vs attention kept) and
  the keys a layer mask keeps, layer by layer.
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
from .mask_effect import plot_mask_effect
from .mask_finetuning import plot_accuracy_vs_kept, plot_layer_keep
from .masking import plot_epoch_grid, plot_epoch_grids, plot_static_vs_dynamic
from .masking_stats import (
    plot_corruption_breakdown,
    plot_exposure,
    plot_exposure_histogram,
    plot_selection_counts,
)
from .word_groups import plot_word_groups

__all__ = [
    "CORRUPTION_COLORS",
    "MASK_COLORS",
    "SCHEME_COLORS",
    "apply_style",
    "font_families",
    "plot_accuracy_vs_kept",
    "plot_attention",
    "plot_attention_steps",
    "plot_corruption_breakdown",
    "plot_downstream",
    "plot_epoch_grid",
    "plot_epoch_grids",
    "plot_exposure",
    "plot_exposure_histogram",
    "plot_layer_keep",
    "plot_layer_similarity",
    "plot_learning_curves",
    "plot_mask",
    "plot_mask_catalogue",
    "plot_mask_effect",
    "plot_memorization_gap",
    "plot_selection_counts",
    "plot_static_vs_dynamic",
    "plot_word_groups",
    "register_cjk_font",
]
