"""Figures of attention masks and attention weights: heatmaps with token labels.

Boolean convention: a mask is ``True`` where the query (row) *may attend* to the key (column).
Rows are queries, columns are keys, in every panel. Token labels stay readable up to ~64
tokens (smaller fonts, a 2 x 2 layout instead of 1 x 4 above 24 tokens). Each function returns
a ``Figure`` and never shows it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..attention_masks import MaskRule, is_blocked
from ._heatmap import (
    annotate_cells,
    as_matrix,
    draw_mask,
    four_panel_layout,
    mask_legend,
    panel_side,
    token_axes,
    token_labels,
)
from ._style import BAD_COLOR, LINE_COLORS, REFERENCE_LINE, NotebookFigure

__all__ = [
    "plot_attention",
    "plot_attention_steps",
    "plot_layer_similarity",
    "plot_mask",
    "plot_mask_catalogue",
]


def plot_mask(mask_bool, tokens: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """One boolean mask as a two-colour grid (blue = may attend, grey = blocked).

    Args:
        mask_bool: bool ``[Q, K]`` (size-1 leading dims allowed), True = may attend, or a
            :class:`MaskRule` (materialized as a square mask over ``len(tokens)`` tokens).
        tokens: Token strings for both axes of a square mask (ignored otherwise), or None.
        title: Axes title (the count of allowed pairs is added below it).
    """
    if isinstance(mask_bool, MaskRule):
        if tokens is None:
            raise ValueError("plot_mask(rule) needs tokens (or pass rule.dense(1, 1, L)).")
        title = title or mask_bool.name
        mask_bool = mask_bool.dense(1, 1, len(tokens))
    mask = as_matrix(mask_bool, "mask_bool").astype(bool)
    n_q, n_k = mask.shape
    side = panel_side(max(n_q, n_k))
    fig = NotebookFigure(figsize=(side, side * n_q / n_k + 0.7), layout="constrained")
    ax = fig.subplots()
    labels = tokens if n_q == n_k else None  # tokens label both axes of a square mask only
    draw_mask(ax, mask, title, token_labels(labels, n_q), token_labels(labels, n_k))
    mask_legend(fig)
    return fig


def plot_attention(
    weights,
    tokens: Sequence[str] | None = None,
    *,
    title: str | None = None,
    mask=None,
    vmax: float | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Attention weights as a heatmap (rows = queries, each row sums to 1).

    Args:
        weights: float ``[Q, K]`` (size-1 leading dims allowed).
        tokens: Token strings (both axes when ``Q == K``) or None for indices.
        title: Axes title.
        mask: Optional bool ``[Q, K]`` (True = may attend): blocked cells are drawn grey, so a
            weight of 0 that was *forced* is told apart from one the model chose.
        vmax: Top of the colour scale (default: the largest weight).
        annotate: Write the values in the cells (default: up to 12 tokens).
    """
    w = as_matrix(weights, "weights").astype(float)
    n_q, n_k = w.shape
    shown = np.ma.masked_invalid(w)
    if mask is not None:
        shown = np.ma.masked_where(~as_matrix(mask, "mask").astype(bool), shown)
    side = panel_side(max(n_q, n_k))
    fig = NotebookFigure(figsize=(side + 0.9, side * n_q / n_k + 0.4), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad=BAD_COLOR)
    top = vmax if vmax is not None else max(float(np.nanmax(w)) if np.isfinite(w).any() else 1.0, 1e-9)
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    labels = tokens if n_q == n_k else None  # tokens label both axes of square weights only
    token_axes(ax, token_labels(labels, n_q), token_labels(labels, n_k))
    if annotate if annotate is not None else max(n_q, n_k) <= 12:
        annotate_cells(ax, w, 0.0, top)
    ax.set_title(title or "attention weights", fontsize=10)
    return fig


def _step_texts(values: np.ndarray) -> list[list[str]]:
    def one(v: float) -> str:
        if np.isnan(v):
            return "nan"
        if np.isneginf(v):
            return "-inf"
        return "min" if is_blocked(v) else f"{v:.2f}"

    return [[one(v) for v in row] for row in values]


def plot_attention_steps(
    steps,
    tokens: Sequence[str] | None = None,
    *,
    index: tuple[int, ...] = (),
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """The four matrices of ``softmax(Q K^T * scale + M)``: scores, scaled, masked, weights.

    Blocked cells of "masked" (``finfo.min`` or ``-inf``) and NaN weights are drawn grey and
    labelled ``min`` / ``-inf`` / ``nan``; score panels use a diverging colormap centred at 0.

    Args:
        steps: :class:`~dynmask_viz.formulas.AttentionSteps`.
        tokens: Token strings or None for indices.
        index: Leading (batch, head) indices to select when the steps are not ``[Q, K]``.
        title: Figure title.
        annotate: Write the values in the cells (default: up to 10 tokens).
    """
    mats = [
        as_matrix(getattr(steps, name)[index], name).astype(float)
        for name in ("scores", "scaled", "masked", "weights")
    ]
    n = max(mats[0].shape)
    n_q, n_k = mats[0].shape
    labels_q, labels_k = (
        token_labels(tokens if n_q == n_k else None, n_q),
        token_labels(tokens if n_q == n_k else None, n_k),
    )
    fig, axes, cols = four_panel_layout(n)
    finite = np.concatenate([m[np.isfinite(m) & ~is_blocked(m)] for m in mats[:3]])
    span = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-9)
    scale = f"{steps.scale:.3g}"
    names = (
        r"scores = $QK^\top$",
        rf"scaled = scores $\times$ {scale}",
        "masked = scaled + M",
        "weights = softmax(masked)",
    )
    show = annotate if annotate is not None else n <= 10
    for i, (ax, data, name) in enumerate(zip(axes, mats, names)):
        blocked = ~np.isfinite(data) | is_blocked(data)
        is_weight = i == 3
        cmap = colormaps["viridis" if is_weight else "RdBu_r"].with_extremes(bad=BAD_COLOR)
        lo, hi = (0.0, 1.0) if is_weight else (-span, span)
        image = ax.imshow(
            np.ma.masked_where(blocked, data), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest"
        )
        token_axes(ax, labels_q, labels_k, left=i % cols == 0, bottom=i >= len(axes) - cols)
        ax.set_title(name, fontsize=9.5)
        if show:
            annotate_cells(
                ax, np.where(blocked, np.nan, data), lo, hi, diverging=not is_weight, texts=_step_texts(data)
            )
        if i in (2, 3):
            fig.colorbar(image, ax=ax, shrink=0.7, label="score (panels 1-3)" if i == 2 else "weight")
    fig.suptitle(title or "scaled dot-product attention, step by step", fontsize=11)
    return fig


def plot_mask_catalogue(
    rules: Mapping[str, MaskRule | torch.Tensor],
    length: int,
    *,
    tokens: Sequence[str] | None = None,
    cols: int | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of masks, one panel per rule, all over ``length`` tokens (blue = may attend).

    Args:
        rules: Display name -> :class:`MaskRule` (materialized with ``.dense(1, 1, length)``;
            a per-head rule shows head 0) or a bool ``[length, length]`` mask.
        length: Number of tokens (queries = keys).
        tokens: Optional token strings for the axes (else positions).
        cols: Panels per row (default: up to 4).
        title: Figure title.
    """
    if not rules:
        raise ValueError("plot_mask_catalogue needs at least one rule.")
    cols = cols or min(4, len(rules))
    rows = math.ceil(len(rules) / cols)
    side = min(max(2.3, 0.07 * length + 1.0), 5.0)
    # Whole titles, wrapped to the panel's width (a cut name hides the very parameters that
    # tell two rules apart): about 12.6 characters of 9.5 pt text per inch.
    width = max(12, int(side * 12.6))
    panels = []
    for name, rule in rules.items():
        if isinstance(rule, MaskRule):
            dense = rule.dense(1, 1, length)[0, 0]
            subtitle = rule.name if rule.name != name else None
        else:
            dense, subtitle = torch.as_tensor(rule).bool(), None
        mask = as_matrix(dense, f"rules[{name!r}]")
        if mask.shape != (length, length):
            raise ValueError(f"rules[{name!r}] has shape {mask.shape}, expected ({length}, {length}).")
        lines = [line for text in (name, subtitle) if text for line in _wrap(text, width)]
        panels.append((mask, "\n".join(lines)))
    # Each row is as tall as its panel plus its longest title (beyond the two lines the base
    # height has room for).
    extra = [max(t.count("\n") - 1 for _, t in panels[r * cols : (r + 1) * cols]) for r in range(rows)]
    height = rows * (side + 1.3) + 0.17 * sum(max(0, e) for e in extra) + 0.5
    fig = NotebookFigure(figsize=(cols * (side + 0.2), height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    labels = token_labels(tokens, length)
    for i, (ax, (mask, panel_title)) in enumerate(zip(axes, panels)):
        draw_mask(ax, mask, panel_title, labels, labels, left=i % cols == 0, bottom=True)
        if i < len(rules) - cols:  # axis titles only under the last panel of each column
            ax.set_xlabel("")
    for ax in axes[len(rules) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    mask_legend(fig)
    return fig


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken after spaces where possible."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [text]


def plot_layer_similarity(
    curves: Mapping[str, Sequence[float]], *, ylabel: str = "cosine similarity", title: str | None = None
) -> Figure:
    """One line per mask: a similarity (masked vs unmasked) for each layer's output.

    Args:
        curves: Mask name -> one value per hidden state (index 0 = the embeddings, before any
            attention, then layer 1..N).
        ylabel: Y axis label.
        title: Axes title.
    """
    if not curves:
        raise ValueError("plot_layer_similarity needs at least one curve.")
    fig = NotebookFigure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(range(len(values)), values, marker="o", color=LINE_COLORS[i % len(LINE_COLORS)], label=name)
    n = max(len(v) for v in curves.values())
    ax.set_xticks(range(n), ["emb"] + [str(i) for i in range(1, n)])
    ax.set(xlabel="hidden state (emb = embeddings, then layer)", ylabel=ylabel)
    ax.axhline(1.0, color=REFERENCE_LINE, lw=0.8, ls="--")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "masked vs unmasked, layer by layer", fontsize=10)
    return fig
