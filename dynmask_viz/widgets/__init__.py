"""Interactive explorers for the notebooks: plain classes, drivable from tests.

Each explorer has ``.controls`` (name -> ipywidget), ``.widget`` (what to display),
``.state`` (a snapshot of what is shown), ``.figure`` and ``.update()`` / ``.set(**values)``.
"""

from .attention_explorer import AttentionExplorer
from .masking_explorer import MaskingExplorer

__all__ = ["AttentionExplorer", "MaskingExplorer"]
