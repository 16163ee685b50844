"""Figures of one sequence's MLM masks over epochs: rows = epochs, columns = tokens.

Each cell shows the token as fed to the model (``[MASK]``, a random replacement, or the
original token), coloured by what happened to it (see :mod:`._style` for the palette).
Data come from :mod:`dynmask_viz.analysis`; each function returns a ``Figure`` and never
shows it. The statistics figures (80/10/10, exposure) live in :mod:`.masking_stats`;
:class:`~._grid_painter.GridPainter` draws (and repaints) one grid.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from ..analysis import EpochGrid, grid_from_results
from ._grid_painter import GridLayout, GridPainter
from ._style import NotebookFigure, legend_handles

__all__ = [
    "build_grid_figure",
    "plot_epoch_grid",
    "plot_epoch_grids",
    "plot_static_vs_dynamic",
]


def build_grid_figure(
    grids: Sequence[EpochGrid],
    titles: Sequence[str | None],
    *,
    suptitle=None,
    layout: str = "auto",
    upto: int | None = None,
) -> tuple[Figure, list[GridPainter]]:
    """Figure with one panel per grid (side by side when they fit, else stacked) + painters.

    Rows are labelled epoch 1..E, as every figure and chapter counts epochs; ``upto`` and the
    grids' tensors use the code's 0-based index (row ``r`` is epoch ``r + 1``). The "mask j"
    labels right of a row are mask indices, numbered from 0 as in the code.
    """
    n_rows, n_cols = grids[0].corruption.shape
    if n_cols == 0:
        raise ValueError("Nothing to draw: the sequence has no tokens that can be masked.")
    lay = GridLayout.for_columns(n_cols)
    header = 0.085 * min(12, max(map(len, grids[0].tokens), default=1)) + 0.3  # rotated token labels
    panel_w, panel_h = n_cols * lay.cell_w + 1.6, n_rows * lay.cell_h + header + (0.35 if titles[0] else 0)
    if layout == "auto":
        layout = "columns" if len(grids) * panel_w <= 15.5 else "rows"
    if layout not in ("columns", "rows"):
        raise ValueError(f"layout must be 'auto', 'columns' or 'rows'; got {layout!r}.")
    across = len(grids) if layout == "columns" else 1
    height = (len(grids) // across) * panel_h + 0.5 + (0.3 if suptitle else 0)
    fig = NotebookFigure(figsize=(across * panel_w, height), layout="constrained")
    axes = fig.subplots(len(grids) // across, across, squeeze=False).flatten()
    painters = [GridPainter(ax, g, lay, title=t) for ax, g, t in zip(axes, grids, titles)]
    for ax in axes:  # readers count epochs from 1 (row r is the code's epoch index r)
        ax.set_yticks(range(n_rows), [str(e + 1) for e in range(n_rows)], fontsize=8)
    for painter, grid in zip(painters, grids):
        if upto is not None:
            painter.paint(grid, upto)
    fig.legend(handles=legend_handles(), loc="outside lower center", ncol=4, fontsize=8)
    # Constrained layout ignores the "mask j again" labels right of each grid: keep room for them.
    room = 0.85  # inches
    fig.get_layout_engine().set(
        rect=(0, 0, 1 - room / fig.get_figwidth(), 1),
        wspace=room / (n_cols * lay.cell_w) if across > 1 else 0.02,
    )
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, painters


def plot_epoch_grids(
    grids: Sequence[EpochGrid],
    titles: Sequence[str] | None = None,
    *,
    suptitle=None,
    layout: str = "auto",
    upto: int | None = None,
) -> Figure:
    """Several :class:`EpochGrid` panels (rows = epochs, columns = tokens) in one figure.

    Args:
        grids: Grids of the same sequence (same shape), e.g. static and dynamic.
        titles: One title per panel.
        suptitle: Figure title.
        layout: ``"columns"`` (side by side), ``"rows"`` (stacked) or ``"auto"`` (side by
            side when they fit in ~15 inches).
        upto: Show rows ``0..upto`` only (0-based; later rows blank): epochs 1..``upto + 1``.
    """
    if not grids:
        raise ValueError("plot_epoch_grids needs at least one grid.")
    if len({tuple(g.corruption.shape) for g in grids}) != 1:
        raise ValueError("All grids must have the same shape (same sequence, same number of epochs).")
    titles = list(titles or [None] * len(grids))
    return build_grid_figure(grids, titles, suptitle=suptitle, layout=layout, upto=upto)[0]


def plot_epoch_grid(
    tokens: Sequence[str] | None, results, *, title: str | None = None, tokenizer=None
) -> Figure:
    """One sequence over epochs: rows = epochs, columns = tokens, cells = the token as fed.

    Args:
        tokens: ``L`` original token strings (``None`` when ``results`` is an EpochGrid).
        results: An :class:`EpochGrid` (from ``epoch_grid_data``), or one entry per epoch: a
            one-row :class:`MaskedBatch` (``[1, L]``) or an ``[L]`` tensor of corruption codes.
        title: Panel title.
        tokenizer: Turns the fed ids of MaskedBatch results into text (random replacements).
    """
    grid = results if isinstance(results, EpochGrid) else grid_from_results(tokens, results, tokenizer)
    return build_grid_figure([grid], [title])[0]


def plot_static_vs_dynamic(
    static: EpochGrid,
    dynamic: EpochGrid,
    *,
    title: str | None = None,
    layout: str = "auto",
    upto: int | None = None,
) -> Figure:
    """Static (``dupe_factor`` masks, cycled) next to dynamic masking of the same sentence.

    Thick lines in the static panel mark where the cycle restarts: rows repeat with period
    ``dupe_factor``. Mask ``j`` of static is epoch ``j`` of dynamic (the same keys).
    """
    k = static.dupe_factor
    titles = [f"static, dupe_factor={k}: rows repeat every {k} epochs", "dynamic: a fresh mask every epoch"]
    return plot_epoch_grids([static, dynamic], titles, suptitle=title, layout=layout, upto=upto)
