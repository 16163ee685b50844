"""What a mask does to attention, in four panels: the mask, without it, with it, the difference.

:class:`MaskEffectPainter` builds the panels once per token list and repaints them in place:
:func:`plot_mask_effect` paints it once for a notebook figure, and
:class:`~dynmask_viz.widgets.AttentionExplorer` repaints it on every control change (with
:meth:`MaskEffectPainter.fill_cells` writing the cells straight into a pixel buffer).

Boolean convention: a mask is ``True`` where the query (row) *may attend* to the key (column);
the mask panel shows the share of heads that may attend (1 = blue, 0 = light grey).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis import attention_view, mask_view
from ._heatmap import four_panel_layout, grid_lines, mask_legend, token_axes, token_labels
from ._style import MASK_SHARE_CMAP  # blocked (0) to allowed (1): a head average of a per-head mask

__all__ = ["MaskEffectPainter", "layer_name", "plot_mask_effect"]

_CMAPS = (MASK_SHARE_CMAP, "viridis", "viridis", "RdBu_r")


class MaskEffectPainter:
    """The four mask-effect panels for one token list, repainted in place.

    Args:
        tokens: The ``L`` token strings (both axes of every panel).
        colorbars: Add colour bars to the "with" panel (the attention scale, shared with
            "without") and to the difference panel. They follow every :meth:`paint` (a
            blitting renderer redraws their ticks, listed by :meth:`dynamic_artists`).
        cell_borders: Thin white lines between the mask's cells (up to 32 tokens); a widget
            that paints cells straight into pixels (:meth:`fill_cells`) leaves them out.
        side: Panel side in inches (default: grows with ``L``).
        room: Height in inches above and below the panels (titles, rotated token labels);
            default 0.55 with colour bars, 1.2 without.

    Attributes:
        figure: The ``Figure``; ``axes``: its four heatmap axes (mask, without, with,
            difference); ``images``: their ``AxesImage``; ``titles``: their title texts;
            ``colorbars``: the two ``Colorbar`` objects (empty without colour bars).
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        colorbars: bool = True,
        cell_borders: bool = True,
        side: float | None = None,
        room: float | None = None,
    ) -> None:
        n = len(tokens)
        if n == 0:
            raise ValueError("MaskEffectPainter needs at least one token.")
        self.n = n
        # Without colour bars the figure is narrower, and its panels, wider than `side`, need
        # more height for titles and token labels.
        gap = 0.75 if colorbars else 0.3
        room = room if room is not None else (0.55 if colorbars else 1.2)
        self.figure, axes, cols = four_panel_layout(n, side=side, gap=gap, room=room)
        self.axes = list(axes)
        labels = token_labels(tokens, n)
        zeros = np.zeros((n, n))
        self.images, self.titles = [], []
        for i, (ax, cmap) in enumerate(zip(self.axes, _CMAPS, strict=True)):
            image = ax.imshow(zeros, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            self.images.append(image)
            token_axes(ax, labels, labels, left=i % cols == 0, bottom=i >= len(self.axes) - cols)
            self.titles.append(ax.set_title("", fontsize=9.5))
        if cell_borders:
            grid_lines(self.axes[0], n, n)
        self.colorbars = []
        if colorbars:
            self.colorbars = [
                self.figure.colorbar(self.images[2], ax=self.axes[2], shrink=0.7, label="attention weight"),
                self.figure.colorbar(self.images[3], ax=self.axes[3], shrink=0.7, label="change of weight"),
            ]
        mask_legend(self.figure)
        self._boxes = None

    def paint(self, mask, without, with_mask, *, titles: Sequence[str], diff_floor: float = 1e-9) -> None:
        """Show new matrices (all ``[L, L]``); the "with" and "without" panels share one scale.

        Args:
            mask: Share of heads allowed to attend, in ``[0, 1]`` (a bool mask is 0/1).
            without, with_mask: Attention weights without and with the mask.
            titles: The four panel titles.
            diff_floor: Smallest half-range of the difference scale, so tiny changes stay
                faint instead of filling the colours.
        """
        mats = [np.asarray(m, dtype=float) for m in (mask, without, with_mask)]
        if any(m.shape != (self.n, self.n) for m in mats):
            raise ValueError(f"every matrix must be [{self.n}, {self.n}]; got {[m.shape for m in mats]}.")
        diff = mats[2] - mats[1]
        top = max(float(mats[1].max()), float(mats[2].max()), 1e-9)
        span = max(float(np.abs(diff).max()), diff_floor)
        for image, data, clim in zip(
            self.images, (*mats, diff), ((0, 1), (0, top), (0, top), (-span, span)), strict=True
        ):
            image.set_data(data)
            image.set_clim(*clim)
        for title, text in zip(self.titles, titles, strict=True):
            title.set_text(text)

    def dynamic_artists(self, images: bool = True) -> list:
        """The artists :meth:`paint` changes, in drawing order (for a blitting renderer).

        Args:
            images: Include the heatmap images (leave them out when using :meth:`fill_cells`).
        """
        # Of a colour bar only its axis (ticks, tick labels) follows the scale: its gradient fills
        # the bar whatever the limits.
        return [*(self.images if images else []), *self.titles, *(cb.ax.yaxis for cb in self.colorbars)]

    def fill_cells(self, pixels: np.ndarray) -> None:
        """Write every panel's cells into an ``[H, W, 4]`` RGBA buffer of the laid-out figure.

        What drawing the images would produce (nearest-neighbour), without Agg resampling.
        """
        if self._boxes is None:
            height = pixels.shape[0]
            self._boxes = [_pixel_box(ax, self.n, height) for ax in self.axes]
        for image, ((top, bottom, left, right), rows, cols) in zip(self.images, self._boxes, strict=True):
            rgba = image.to_rgba(np.asarray(image.get_array()), bytes=True)
            pixels[top:bottom, left:right] = rgba[rows][:, cols]


def _pixel_box(ax, n: int, height: float):
    """Buffer rows/columns inside ``ax`` (spines excluded) and the matrix cell of each."""
    b = ax.get_window_extent()  # display pixels, origin at the bottom left
    top, bottom = int(np.ceil(height - b.y1)) + 1, int(np.floor(height - b.y0)) - 1
    left, right = int(np.ceil(b.x0)) + 1, int(np.floor(b.x1)) - 1
    rows = ((np.arange(top, bottom) + 0.5 - (height - b.y1)) * n / b.height).astype(int).clip(0, n - 1)
    cols = ((np.arange(left, right) + 0.5 - b.x0) * n / b.width).astype(int).clip(0, n - 1)
    return (top, bottom, left, right), rows, cols


def layer_name(layer: int, layers: int) -> str:
    """``"layer 2"``, or ``"last layer (5)"`` for the last one however it was given (``-1``, ``5``).

    A reader cannot look up ``layer -1``: titles name the real index.

    Args:
        layer: A valid layer index (negative counts from the end).
        layers: Number of layers of the model.
    """
    index = layer % layers if -layers <= layer < layers else layer
    return f"last layer ({index})" if index == layers - 1 else f"layer {index}"


def plot_mask_effect(
    result_without,
    result_with,
    layer: int = -1,
    head: int | str = "mean",
    *,
    index: int = 0,
    title: str | None = None,
    names: tuple[str, str] = ("before (no mask)", "after (masked)"),
) -> Figure:
    """What a mask does to a model's attention: mask, before, after, after - before.

    Args:
        result_without: :class:`~dynmask_viz.hf.AttentionResult` without the mask.
        result_with: The same text with the mask (``extract_attention(..., mask=rule)``).
        layer: Layer index (negative counts from the end).
        head: Head index, or ``"mean"`` for the average over heads.
        index: Example of the batch.
        title: Figure title (default: the rule, layer and head).
        names: What the two results are, for the panel titles (e.g. two models on one text:
            ``("static model", "dynamic model")``).

    Returns:
        Four heatmaps; "before" and "after" share one colour scale, the difference uses a
        diverging colormap centred at 0 (red = gained weight, blue = lost weight).
    """
    tokens = result_with.tokens[index]
    if result_without.tokens[index] != tokens:
        raise ValueError("result_without and result_with are not the same text (their tokens differ).")
    before = attention_view(result_without, layer, head, index).numpy()
    after = attention_view(result_with, layer, head, index).numpy()
    mask = mask_view(result_with, head, index, reduce="all").numpy().astype(bool)
    if result_with.mask_of(index).shape[0] == 1:
        mask_name = "applied mask"
    elif head == "mean":
        mask_name = "applied mask (allowed in every head)"
    else:
        mask_name = f"applied mask, head {head}"
    empty = int((~mask.any(-1)).sum())
    note = f"{int(mask.sum())}/{mask.size} allowed" + (f", {empty} empty row(s)" if empty else "")
    painter = MaskEffectPainter(tokens)
    first, second = (name.split(" (")[0] for name in names)
    painter.paint(
        mask.astype(float),
        before,
        after,
        titles=(
            f"{mask_name}\n{note}",
            f"attention {names[0]}",
            f"attention {names[1]}",
            f"difference: {second} - {first}",
        ),
    )
    head_txt = "mean of heads" if head == "mean" else f"head {head}"
    painter.figure.suptitle(
        title or f"{result_with.rule}: {layer_name(layer, result_with.num_layers)}, {head_txt}", fontsize=11
    )
    return painter.figure
