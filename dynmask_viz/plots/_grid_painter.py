"""Draw one :class:`~dynmask_viz.analysis.EpochGrid` on an Axes, and repaint it in place.

Rows = epochs, columns = tokens; each cell shows the token as fed to the model, coloured by
what happened to it (the palette of :mod:`._style`). The painter keeps its artists so that a
widget can repaint a grid of the same shape cheaply (see :class:`GridPainter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import to_rgba

from ..analysis import EpochGrid
from ..masking import UNCHANGED
from ._style import CORRUPTION_COLORS, INK, NOT_SEEN, OVERLAY_RGBA, TEXT_COLORS, renderable, short_token

__all__ = ["GridLayout", "GridPainter"]


@dataclass(frozen=True)
class GridLayout:
    """Cell size (inches) and text settings, so up to ~64 tokens stay readable."""

    cell_w: float
    cell_h: float
    rotate: bool
    fontsize: float
    max_chars: int

    @classmethod
    def for_columns(cls, n_cols: int) -> GridLayout:
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

    def __init__(self, ax, grid: EpochGrid, layout: GridLayout, *, title: str | None = None) -> None:
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
        self.overlay = ax.imshow(
            np.zeros((n_rows, n_cols, 4)), extent=extent, aspect="auto", interpolation="nearest", zorder=2
        )
        # Thin lines between cells; thick white gaps only between *words*, so pieces stay joined.
        words = grid.word_ids.tolist()
        cuts = [c for c in range(1, n_cols) if words[c] < 0 or words[c] != words[c - 1]]
        self.lines = [
            ax.hlines(np.arange(1, n_rows) - 0.5, -0.5, n_cols - 0.5, color="white", lw=1.0),
            ax.vlines(np.arange(1, n_cols) - 0.5, -0.5, n_rows - 0.5, color="white", lw=0.4),
            ax.vlines(np.array(cuts) - 0.5, -0.5, n_rows - 0.5, color="white", lw=2.0),
        ]
        self.texts = [
            [ax.text(c, r, "", zorder=4, fontweight="bold", visible=False, **kw) for c in range(n_cols)]
            for r in range(n_rows)
        ]
        transform = ax.get_yaxis_transform()  # x in axes coordinates, y in rows
        self.row_labels = [
            ax.text(1.005, r, "", transform=transform, ha="left", va="center", fontsize=7)
            for r in range(n_rows)
        ]
        ax.set_xticks(
            range(n_cols),
            [short_token(renderable(t), 12) for t in grid.tokens],
            fontsize=8,
            rotation=90 if n_cols > 8 else 0,
        )
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
        return [
            *([self.overlay] if overlay else []),
            *self.lines,
            *self._period_lines,
            *texts,
            *self.row_labels,
            self.title,
        ]

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
        self._period_lines = [self.ax.axhline(b - 0.5, color=INK, lw=2.2, zorder=3) for b in starts]
        if title is not None:
            self.title.set_text(title)
