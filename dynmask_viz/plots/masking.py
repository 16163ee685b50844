"""Figures of one sequence's MLM masks over epochs: rows = epochs, columns = tokens.

Each cell shows the token as fed to the model (``[MASK]``, a random replacement, or the
original token), coloured by what happened to it (see :mod:`._style` for the palette).
Data come from :mod:`dynmask_viz.analysis`; each function returns a ``Figure`` and never
shows it. The statistics figures (80/10/10, exposure) live in :mod:`.masking_stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from ..analysis import EpochGrid, grid_from_results
from ..masking import UNCHANGED
from ._style import (
    CORRUPTION_COLORS,
    NOT_SEEN,
    NotebookFigure,
    OVERLAY_RGBA,
    TEXT_COLORS,
    legend_handles,
    renderable,
    short_token,
)

__all__ = ["GridPainter", "build_grid_figure", "plot_epoch_grid", "plot_epoch_grids", "plot_static_vs_dynamic"]


@dataclass(frozen=True)
class _Layout:
    """Cell size (inches) and text settings, so up to ~64 tokens stay readable."""

    cell_w: float
    cell_h: float
    rotate: bool
    fontsize: float
    max_chars: int

    @classmethod
    def for_columns(cls, n_cols: int) -> _Layout:
        if n_cols <= 22:
            return cls(0.62, 0.27, False, 6.8, 9)
        # Narrow columns: vertical cell text in taller rows, the figure at most ~15 in wide.
        return cls(max(0.21, min(0.5, 15.0 / n_cols)), 0.48, True, 6.5, 6)


class GridPainter:
    """Draws an :class:`EpochGrid` on an Axes and repaints it in place (cheap, for widgets).

    Layers, bottom to top: the grey axes background and every original token in faint text
    (never repainted: this is what a cell shows when nothing happened); an RGBA ``overlay``
    image, transparent on unchanged cells, coloured on selected ones, white on epochs after
    ``upto``; the cell borders; the bold text of selected cells (:meth:`dynamic_artists`).

    Args:
        ax: The Axes to draw on (its ticks, labels and title are set here).
        grid: The grid drawn first; later grids must have the same shape.
        layout: Cell size and text settings.
        title: Panel title.

    Attributes:
        codes: ``[E, L]`` int numpy array, the code shown in each cell (``NOT_SEEN`` after
            ``upto``).
        overlay: The ``AxesImage`` of selected / not-yet-seen cells.
        texts: ``E`` lists of ``L`` ``Text`` artists, visible on selected cells only.
    """

    def __init__(self, ax, grid: EpochGrid, layout: _Layout, *, title: str | None = None) -> None:
        self.ax, self.layout = ax, layout
        self.shape = tuple(grid.corruption.shape)
        n_rows, n_cols = self.shape
        ax.set_facecolor(CORRUPTION_COLORS[UNCHANGED])
        kw = dict(ha="center", va="center", fontsize=layout.fontsize, rotation=90 if layout.rotate else 0)
        originals = [short_token(renderable(t), layout.max_chars) for t in grid.tokens]
        for r in range(n_rows):
            for c, token in enumerate(originals):
                ax.text(c, r, token, color=TEXT_COLORS[UNCHANGED], zorder=1, **kw)
        extent = (-0.5, n_cols - 0.5, n_rows - 0.5, -0.5)
        self.overlay = ax.imshow(np.zeros((n_rows, n_cols, 4)), extent=extent, aspect="auto",
                                 interpolation="nearest", zorder=2)  # fmt: skip
        # Thin lines between cells; thick white gaps only between *words*, so pieces stay joined.
        words = grid.word_ids.tolist()
        cuts = [c for c in range(1, n_cols) if words[c] < 0 or words[c] != words[c - 1]]
        self.lines = [
            ax.hlines(np.arange(1, n_rows) - 0.5, -0.5, n_cols - 0.5, color="white", lw=1.0),
            ax.vlines(np.arange(1, n_cols) - 0.5, -0.5, n_rows - 0.5, color="white", lw=0.4),
            ax.vlines(np.array(cuts) - 0.5, -0.5, n_rows - 0.5, color="white", lw=2.0),
        ]
        self.texts = [[ax.text(c, r, "", zorder=4, fontweight="bold", visible=False, **kw) for c in range(n_cols)]
                      for r in range(n_rows)]  # fmt: skip
        transform = ax.get_yaxis_transform()  # x in axes coordinates, y in rows
        self.row_labels = [ax.text(1.005, r, "", transform=transform, ha="left", va="center", fontsize=7)
                           for r in range(n_rows)]  # fmt: skip
        ax.set_xticks(range(n_cols), [short_token(renderable(t), 12) for t in grid.tokens], fontsize=8,
                      rotation=90 if n_cols > 8 else 0)  # fmt: skip
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        ax.set_yticks(range(n_rows), [str(e) for e in range(n_rows)], fontsize=8)
        ax.set_ylabel("epoch")
        for spine in ax.spines.values():
            spine.set_visible(False)
        self.title = ax.set_title(title or "", loc="left", fontsize=10)
        self._period_lines: list = []
        self.paint(grid)

    def dynamic_artists(self, visible_only: bool = True, overlay: bool = True) -> list:
        """Artists that change on :meth:`paint`, in drawing order (for blitting: a widget
        draws the rest once, with these flagged animated, then only these on each change).

        Args:
            visible_only: Leave out the texts of cells that show nothing.
            overlay: Include the overlay image (leave it out when using :meth:`fill_cells`).
        """
        texts = [t for row in self.texts for t in row if t.get_visible() or not visible_only]
        return [*([self.overlay] if overlay else []), *self.lines, *self._period_lines, *texts,
                *self.row_labels, self.title]  # fmt: skip

    def cell_edges(self, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel edges of the cells in a rendered canvas of ``height`` pixels.

        Returns:
            ``(x [L + 1], y [E + 1])`` int arrays: column ``c`` spans pixel columns
            ``x[c]:x[c + 1]``, row ``r`` pixel rows ``y[r]:y[r + 1]`` (counted from the top).
        """
        n_rows, n_cols = self.shape
        to_pixels = self.ax.transData.transform
        xs = to_pixels(np.c_[np.arange(n_cols + 1) - 0.5, np.zeros(n_cols + 1)])[:, 0]
        ys = to_pixels(np.c_[np.zeros(n_rows + 1), np.arange(n_rows + 1) - 0.5])[:, 1]
        return np.round(xs).astype(int), np.round(height - ys).astype(int)

    def fill_cells(self, pixels: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> None:
        """Paint the overlay straight into an RGBA pixel buffer (what ``overlay`` would draw).

        Much faster than resampling the overlay image: only non-transparent cells are touched.
        """
        xs, ys = edges
        colors = np.round(OVERLAY_RGBA * 255).astype(np.uint8)
        unseen = np.flatnonzero((self.codes == NOT_SEEN).all(1))
        if unseen.size:  # later epochs: one white block (they are always the last rows)
            pixels[ys[unseen[0]] : ys[-1], xs[0] : xs[-1]] = colors[NOT_SEEN]
        rows, cols = np.nonzero((self.codes != UNCHANGED) & (self.codes != NOT_SEEN))
        for r, c in zip(rows.tolist(), cols.tolist()):
            pixels[ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = colors[self.codes[r, c]]

    def cell_colors(self) -> np.ndarray:
        """``[E, L, 4]`` RGBA colour each cell is drawn with."""
        rgba = np.asarray(self.overlay.get_array(), dtype=float).copy()
        rgba[rgba[..., 3] == 0] = to_rgba(self.ax.get_facecolor())
        return rgba

    def paint(self, grid: EpochGrid, upto: int | None = None, *, title: str | None = None) -> None:
        """Show ``grid`` (same shape as the first), epochs after ``upto`` blank.

        Raises:
            ValueError: If the grid's shape differs (build a new painter for another sentence).
        """
        if tuple(grid.corruption.shape) != self.shape:
            raise ValueError(f"grid shape {tuple(grid.corruption.shape)} differs from {self.shape}.")
        n_rows = self.shape[0]
        stop = n_rows if upto is None else upto + 1
        codes = grid.corruption.to("cpu", torch.int64).numpy().copy()
        codes[stop:] = NOT_SEEN
        self.codes = codes
        self.overlay.set_data(OVERLAY_RGBA[codes])
        for r, (row_texts, row_shown) in enumerate(zip(self.texts, grid.shown)):
            for text, shown, code in zip(row_texts, row_shown, codes[r].tolist()):
                selected = code not in (UNCHANGED, NOT_SEEN)
                text.set_visible(selected)
                if selected:
                    # bold glyphs are wider: one character less than the faint originals
                    text.set_text(short_token(renderable(shown), self.layout.max_chars - 1))
                    text.set_color(TEXT_COLORS[code])
        k = grid.dupe_factor if grid.kind == "static" else None
        labelled = grid.kind in ("static", "dynamic")  # other grids (collators) have no mask index
        for e, (label, j) in enumerate(zip(self.row_labels, grid.mask_epoch.tolist())):
            label.set_text(f"mask {j}" + (" again" if k and e >= k else "") if e < stop and labelled else "")
        for line in self._period_lines:
            line.remove()
        # Static masking: a thick line where the cycle of dupe_factor masks starts again.
        starts = range(k, min(stop, n_rows), k) if k else ()
        self._period_lines = [self.ax.axhline(b - 0.5, color="#222222", lw=2.2, zorder=3) for b in starts]
        if title is not None:
            self.title.set_text(title)


def build_grid_figure(grids: Sequence[EpochGrid], titles: Sequence[str | None], *, suptitle=None,
                      layout: str = "auto",
                      upto: int | None = None) -> tuple[Figure, list[GridPainter]]:  # fmt: skip
    """Figure with one panel per grid (side by side when they fit, else stacked) + painters."""
    n_rows, n_cols = grids[0].corruption.shape
    if n_cols == 0:
        raise ValueError("Nothing to draw: the sequence has no tokens that can be masked.")
    lay = _Layout.for_columns(n_cols)
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
    for painter, grid in zip(painters, grids):
        if upto is not None:
            painter.paint(grid, upto)
    fig.legend(handles=legend_handles(), loc="outside lower center", ncol=4, fontsize=8)
    # Constrained layout ignores the "mask j again" labels right of each grid: keep room for them.
    room = 0.85  # inches
    fig.get_layout_engine().set(rect=(0, 0, 1 - room / fig.get_figwidth(), 1),
                                wspace=room / (n_cols * lay.cell_w) if across > 1 else 0.02)  # fmt: skip
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, painters


def plot_epoch_grids(grids: Sequence[EpochGrid], titles: Sequence[str] | None = None, *, suptitle=None,
                     layout: str = "auto", upto: int | None = None) -> Figure:  # fmt: skip
    """Several :class:`EpochGrid` panels (rows = epochs, columns = tokens) in one figure.

    Args:
        grids: Grids of the same sequence (same shape), e.g. static and dynamic.
        titles: One title per panel.
        suptitle: Figure title.
        layout: ``"columns"`` (side by side), ``"rows"`` (stacked) or ``"auto"`` (side by
            side when they fit in ~15 inches).
        upto: Show epochs ``0..upto`` only (later rows blank).
    """
    if not grids:
        raise ValueError("plot_epoch_grids needs at least one grid.")
    if len({tuple(g.corruption.shape) for g in grids}) != 1:
        raise ValueError("All grids must have the same shape (same sequence, same number of epochs).")
    titles = list(titles or [None] * len(grids))
    return build_grid_figure(grids, titles, suptitle=suptitle, layout=layout, upto=upto)[0]


def plot_epoch_grid(tokens: Sequence[str] | None, results, *, title: str | None = None,
                    tokenizer=None) -> Figure:  # fmt: skip
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


def plot_static_vs_dynamic(static: EpochGrid, dynamic: EpochGrid, *, title: str | None = None,
                           layout: str = "auto", upto: int | None = None) -> Figure:  # fmt: skip
    """Static (``dupe_factor`` masks, cycled) next to dynamic masking of the same sentence.

    Thick lines in the static panel mark where the cycle restarts: rows repeat with period
    ``dupe_factor``. Mask ``j`` of static is epoch ``j`` of dynamic (the same keys).
    """
    k = static.dupe_factor
    titles = [f"static, dupe_factor={k}: rows repeat every {k} epochs",
              "dynamic: a fresh mask every epoch"]  # fmt: skip
    return plot_epoch_grids([static, dynamic], titles, suptitle=title, layout=layout, upto=upto)
