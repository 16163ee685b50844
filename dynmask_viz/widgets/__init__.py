"""Interactive explorers and bertviz views for the notebooks: plain classes, drivable from tests.

Each explorer has ``.controls`` (name -> ipywidget), ``.widget`` (what to display),
``.state`` (a snapshot of what is shown), ``.figure`` and ``.update()`` / ``.set(**values)``.
Widgets draw with :mod:`dynmask_viz.plots` painters and get their data from
:mod:`dynmask_viz.analysis` and :mod:`dynmask_viz.hf`; they compute no masks themselves.
"""

from .attention_explorer import AttentionExplorer, AttentionState
from .bertviz import head_view, model_view
from .fill_mask import FillMaskExplorer, FillMaskState
from .layer_mask_explorer import LayerMaskExplorer, LayerMaskState
from .masking_explorer import MaskingExplorer

__all__ = [
    "AttentionExplorer",
    "AttentionState",
    "FillMaskExplorer",
    "FillMaskState",
    "LayerMaskExplorer",
    "LayerMaskState",
    "MaskingExplorer",
    "head_view",
    "model_view",
]
