"""Heatmap helpers shared by the attention figures and the explorers: labels, axes, masks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._style import (
    BLOCKED_EDGE,
    INK,
    MASK_CMAP,  # imported from here by other plot modules: the one object of _style
    MASK_COLORS,
    NotebookFigure,
    font_families,
    renderable,
    short_token,
)


def as_matrix(x, name: str) -> np.ndarray:
    """A ``[Q, K]`` numpy array from a tensor/array, size-1 leading dims dropped."""
    t = torch.as_tensor(x).detach().cpu()
    while t.ndim > 2 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be [Q, K] (size-1 leading dims allowed); got {tuple(t.shape)}. "
            "Pick one example and head first, e.g. x[0, 0]."
        )
    return (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()


def token_labels(tokens: Sequence[str] | None, n: int) -> list[str]:
    """Axis labels: the tokens, shortened and made renderable, or the positions."""
    if tokens is None:
        return [str(i) for i in range(n)]
    if len(tokens) != n:
        raise ValueError(f"{len(tokens)} tokens for a matrix with {n} rows/columns.")
    return [short_token(renderable(str(t)), 12) for t in tokens]


def label_fontsize(n: int) -> float:
    """Tick label size: 9 pt up to 16 tokens, down to 5.5 pt at 64 tokens and beyond."""
    return 9.0 if n <= 16 else max(5.5, 9.0 - (n - 16) / 13.7)


def panel_side(n: int) -> float:
    """Panel side in inches: ~0.12 in per token so 64 rotated labels still fit."""
    return min(max(2.6, 0.12 * n + 0.9), 8.5)


def token_axes(
    ax, q_labels: list[str], k_labels: list[str], *, left: bool = True, bottom: bool = True
) -> None:
    """Token labels on both axes of a heatmap (queries = rows, keys = columns)."""
    size, family = label_fontsize(max(len(q_labels), len(k_labels))), font_families()
    ax.set_xticks(
        range(len(k_labels)), k_labels if bottom else [], rotation=90, fontsize=size, fontfamily=family
    )
    ax.set_yticks(range(len(q_labels)), q_labels if left else [], fontsize=size, fontfamily=family)
    ax.tick_params(length=0)
    if bottom:
        ax.set_xlabel("key (attended to)", fontsize=9)
    if left:
        ax.set_ylabel("query (attending)", fontsize=9)


def grid_lines(ax, n_rows: int, n_cols: int) -> None:
    """Thin white borders between the cells of a small heatmap."""
    if max(n_rows, n_cols) <= 32:  # thin cell borders; above that they would hide the cells
        ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=0.6)
        ax.tick_params(which="minor", length=0)


def annotate_cells(
    ax,
    values: np.ndarray,
    lo: float,
    hi: float,
    *,
    diverging: bool = False,
    texts: list[list[str]] | None = None,
) -> None:
    """Write each cell's value (small matrices only), white on dark cells of the colormap."""
    for (r, c), v in np.ndenumerate(values):
        text = texts[r][c] if texts is not None else f"{v:.2f}"
        if not np.isfinite(v):
            dark = False  # grey "bad" cell
        elif diverging:  # RdBu: dark at both ends
            dark = abs(v) > 0.55 * max(abs(lo), abs(hi))
        else:  # viridis: dark below about the middle
            dark = (v - lo) / max(hi - lo, 1e-12) < 0.5
        ax.text(c, r, text, ha="center", va="center", fontsize=7.5, color="white" if dark else INK)


def draw_mask(ax, mask: np.ndarray, title: str | None, q_labels, k_labels, *, left=True, bottom=True) -> None:
    """One bool mask (True = may attend) in blue and light grey, with its count of allowed pairs."""
    ax.imshow(mask.astype(float), cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
    grid_lines(ax, *mask.shape)
    token_axes(ax, q_labels, k_labels, left=left, bottom=bottom)
    empty = int((~mask.any(-1)).sum())
    note = f"{int(mask.sum())}/{mask.size} allowed" + (f", {empty} empty row(s)" if empty else "")
    ax.set_title(f"{title}\n{note}" if title else note, fontsize=9.5)


def mask_legend(fig: Figure) -> None:
    """The figure legend of the mask colours."""
    handles = [
        Patch(facecolor=MASK_COLORS["allowed"], label="may attend (True)"),
        Patch(facecolor=MASK_COLORS["blocked"], edgecolor=BLOCKED_EDGE, label="blocked (False)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)


def four_panel_layout(
    n: int, panels: int = 4, *, side: float | None = None, gap: float = 0.75, room: float = 0.55
) -> tuple[Figure, np.ndarray, int]:
    """A figure of ``panels`` square heatmaps over ``n`` tokens: one row up to 24 tokens, else 2 x 2.

    Args:
        n: Tokens per axis.
        panels: Number of heatmaps.
        side: Panel side in inches (default: grows with ``n``).
        gap: Width in inches beside each panel (labels, a colour bar).
        room: Height in inches above and below each panel row (titles, rotated token labels).

    Returns:
        ``(figure, axes, columns)``.
    """
    rows, cols = (1, panels) if n <= 24 else (math.ceil(panels / 2), 2)
    side = panel_side(n) if side is None else side
    fig = NotebookFigure(figsize=(cols * (side + gap), rows * (side + room) + 0.5), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False).ravel(), cols
