"""Figures for the notebooks. Every function returns a ``matplotlib.figure.Figure`` (never shows it).

* :mod:`.masking`: MLM input masking, static vs dynamic (epoch grids, 80/10/10, exposure).
* :mod:`.attention`: attention masks and weights (mask grids, before/after heatmaps, steps).
"""

from .attention import (
    plot_attention,
    plot_attention_steps,
    plot_layer_similarity,
    plot_mask,
    plot_mask_catalogue,
    plot_mask_effect,
)
from .masking import (
    CORRUPTION_COLORS,
    plot_corruption_breakdown,
    plot_epoch_grid,
    plot_epoch_grids,
    plot_exposure,
    plot_exposure_histogram,
    plot_selection_counts,
    plot_static_vs_dynamic,
)

__all__ = [
    "CORRUPTION_COLORS",
    "plot_attention",
    "plot_attention_steps",
    "plot_layer_similarity",
    "plot_mask",
    "plot_mask_catalogue",
    "plot_mask_effect",
    "plot_corruption_breakdown",
    "plot_epoch_grid",
    "plot_epoch_grids",
    "plot_exposure",
    "plot_exposure_histogram",
    "plot_selection_counts",
    "plot_static_vs_dynamic",
]
