"""Figures of attention masks and attention weights: heatmaps with token labels.

Boolean convention: a mask is ``True`` where the query (row) *may attend* to the key (column).
Rows are queries, columns are keys, in every panel. Token labels stay readable up to ~64
tokens (smaller fonts, a 2 x 2 layout instead of 1 x 4 above 24 tokens). Each function returns
a ``Figure`` and never shows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..attention_masks import MaskRule
from ._style import NotebookFigure, renderable, short_token

__all__ = ["MASK_COLORS", "plot_attention", "plot_attention_steps", "plot_layer_similarity", "plot_mask",
           "plot_mask_catalogue", "plot_mask_effect"]  # fmt: skip

MASK_COLORS = {"allowed": "#0072B2", "blocked": "#ececec"}  # Okabe-Ito blue / light grey
_MASK_CMAP = ListedColormap([MASK_COLORS["blocked"], MASK_COLORS["allowed"]])
_BAD = "#bdbdbd"  # blocked (additive mask) or NaN cells in value heatmaps
_BLOCKED_BELOW = -1e4  # additive values at or below this count as blocked (as in hf_masks)


def _matrix(x, name: str) -> np.ndarray:
    """A ``[Q, K]`` numpy array from a tensor/array, size-1 leading dims dropped."""
    t = torch.as_tensor(x).detach().cpu()
    while t.ndim > 2 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2:
        raise ValueError(f"{name} must be [Q, K] (size-1 leading dims allowed); got {tuple(t.shape)}. "
                         "Pick one example and head first, e.g. x[0, 0].")  # fmt: skip
    return (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()


def _labels(tokens: Sequence[str] | None, n: int) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(n)]
    if len(tokens) != n:
        raise ValueError(f"{len(tokens)} tokens for a matrix with {n} rows/columns.")
    return [short_token(renderable(str(t)), 12) for t in tokens]


def _fontsize(n: int) -> float:
    """Tick label size: 9 pt up to 16 tokens, down to 5.5 pt at 64 tokens and beyond."""
    return 9.0 if n <= 16 else max(5.5, 9.0 - (n - 16) / 13.7)


def _side(n: int) -> float:
    """Panel side in inches: ~0.12 in per token so 64 rotated labels still fit."""
    return min(max(2.6, 0.12 * n + 0.9), 8.5)


def _token_axes(ax, q_labels: list[str], k_labels: list[str], *, left: bool = True, bottom: bool = True) -> None:
    size = _fontsize(max(len(q_labels), len(k_labels)))
    ax.set_xticks(range(len(k_labels)), k_labels if bottom else [], rotation=90, fontsize=size)
    ax.set_yticks(range(len(q_labels)), q_labels if left else [], fontsize=size)
    ax.tick_params(length=0)
    if bottom:
        ax.set_xlabel("key (attended to)", fontsize=9)
    if left:
        ax.set_ylabel("query (attending)", fontsize=9)


def _grid_lines(ax, n_rows: int, n_cols: int) -> None:
    if max(n_rows, n_cols) <= 32:  # thin cell borders; above that they would hide the cells
        ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=0.6)
        ax.tick_params(which="minor", length=0)


def _annotate(ax, values: np.ndarray, lo: float, hi: float, *, diverging: bool = False,
              texts: list[list[str]] | None = None) -> None:  # fmt: skip
    """Write each cell's value (small matrices only), white on dark cells of the colormap."""
    for (r, c), v in np.ndenumerate(values):
        text = texts[r][c] if texts is not None else f"{v:.2f}"
        if not np.isfinite(v):
            dark = False  # grey "bad" cell
        elif diverging:  # RdBu: dark at both ends
            dark = abs(v) > 0.55 * max(abs(lo), abs(hi))
        else:  # viridis: dark below about the middle
            dark = (v - lo) / max(hi - lo, 1e-12) < 0.5
        ax.text(c, r, text, ha="center", va="center", fontsize=7.5, color="white" if dark else "#222222")


def _draw_mask(ax, mask: np.ndarray, title: str | None, q_labels, k_labels, *, left=True, bottom=True) -> None:
    ax.imshow(mask.astype(float), cmap=_MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
    _grid_lines(ax, *mask.shape)
    _token_axes(ax, q_labels, k_labels, left=left, bottom=bottom)
    empty = int((~mask.any(-1)).sum())
    note = f"{int(mask.sum())}/{mask.size} allowed" + (f", {empty} empty row(s)" if empty else "")
    ax.set_title(f"{title}\n{note}" if title else note, fontsize=9.5)


def _mask_legend(fig: Figure) -> None:
    handles = [Patch(facecolor=MASK_COLORS["allowed"], label="may attend (True)"),
               Patch(facecolor=MASK_COLORS["blocked"], edgecolor="#9a9a9a", label="blocked (False)")]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)


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
    mask = _matrix(mask_bool, "mask_bool").astype(bool)
    n_q, n_k = mask.shape
    side = _side(max(n_q, n_k))
    fig = NotebookFigure(figsize=(side, side * n_q / n_k + 0.7), layout="constrained")
    ax = fig.subplots()
    labels = tokens if n_q == n_k else None  # tokens label both axes of a square mask only
    _draw_mask(ax, mask, title, _labels(labels, n_q), _labels(labels, n_k))
    _mask_legend(fig)
    return fig


def plot_attention(weights, tokens: Sequence[str] | None = None, *, title: str | None = None, mask=None,
                   vmax: float | None = None, annotate: bool | None = None) -> Figure:  # fmt: skip
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
    w = _matrix(weights, "weights").astype(float)
    n_q, n_k = w.shape
    shown = np.ma.masked_invalid(w)
    if mask is not None:
        shown = np.ma.masked_where(~_matrix(mask, "mask").astype(bool), shown)
    side = _side(max(n_q, n_k))
    fig = NotebookFigure(figsize=(side + 0.9, side * n_q / n_k + 0.4), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad=_BAD)
    top = vmax if vmax is not None else max(float(np.nanmax(w)) if np.isfinite(w).any() else 1.0, 1e-9)
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    labels = tokens if n_q == n_k else None  # tokens label both axes of square weights only
    _token_axes(ax, _labels(labels, n_q), _labels(labels, n_k))
    if annotate if annotate is not None else max(n_q, n_k) <= 12:
        _annotate(ax, w, 0.0, top)
    ax.set_title(title or "attention weights", fontsize=10)
    return fig


def _head_view(result, index: int, layer: int, head) -> np.ndarray:
    example = result.example(index)  # [layers, heads, n, n]
    layers, heads = example.shape[:2]
    if not -layers <= layer < layers:
        raise ValueError(f"layer {layer} out of range: the model has {layers} layers.")
    if head == "mean":
        return example[layer].mean(0).numpy()
    if isinstance(head, bool) or not isinstance(head, int) or not -heads <= head < heads:
        raise ValueError(f"head must be 'mean' or an int in [-{heads}, {heads}); got {head!r}.")
    return example[layer, head].numpy()


def _layout(n: int, panels: int = 4) -> tuple[Figure, np.ndarray, int]:
    rows, cols = (1, panels) if n <= 24 else (math.ceil(panels / 2), 2)
    side = _side(n)
    fig = NotebookFigure(figsize=(cols * (side + 0.75), rows * (side + 0.55) + 0.5), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False).ravel(), cols


def plot_mask_effect(result_without, result_with, layer: int = -1, head: int | str = "mean", *,
                     index: int = 0, title: str | None = None,
                     names: tuple[str, str] = ("before (no mask)", "after (masked)")) -> Figure:  # fmt: skip
    """What a mask does to a model's attention: mask, before, after, after - before.

    Args:
        result_without: :class:`~dynmask_viz.attention.AttentionResult` without the mask.
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
    before, after = _head_view(result_without, index, layer, head), _head_view(result_with, index, layer, head)
    applied = result_with.mask_of(index)  # [1|heads, n, n]
    if applied.shape[0] == 1:
        mask, mask_name = applied[0].numpy(), "applied mask"
    elif head == "mean":
        mask, mask_name = applied.all(0).numpy(), "applied mask (allowed in every head)"
    else:
        mask, mask_name = applied[head].numpy(), f"applied mask, head {head}"
    n = len(tokens)
    labels = _labels(tokens, n)
    fig, axes, cols = _layout(n)
    _draw_mask(axes[0], mask, mask_name, labels, labels, bottom=len(axes) == cols)
    top = max(float(before.max()), float(after.max()), 1e-9)
    head_txt = "mean of heads" if head == "mean" else f"head {head}"
    for i, (ax, data, name) in enumerate(zip(axes[1:3], (before, after), names)):
        image = ax.imshow(data, cmap="viridis", vmin=0, vmax=top, interpolation="nearest")
        _token_axes(ax, labels, labels, left=(i + 1) % cols == 0, bottom=i + 1 >= len(axes) - cols)
        ax.set_title(f"attention {name}", fontsize=9.5)
    fig.colorbar(image, ax=axes[2], shrink=0.7, label="weight (before and after)")
    diff = after - before
    span = max(float(np.abs(diff).max()), 1e-9)
    image = axes[3].imshow(diff, cmap="RdBu_r", vmin=-span, vmax=span, interpolation="nearest")
    _token_axes(axes[3], labels, labels, left=3 % cols == 0)
    axes[3].set_title(f"difference: {names[1].split(' (')[0]} - {names[0].split(' (')[0]}", fontsize=9.5)
    fig.colorbar(image, ax=axes[3], shrink=0.7, label="change of weight")
    fig.suptitle(title or f"{result_with.rule}: layer {layer}, {head_txt}", fontsize=11)
    _mask_legend(fig)
    return fig


def _step_texts(values: np.ndarray) -> list[list[str]]:
    def one(v: float) -> str:
        if np.isnan(v):
            return "nan"
        if np.isneginf(v):
            return "-inf"
        return "min" if v <= _BLOCKED_BELOW else f"{v:.2f}"

    return [[one(v) for v in row] for row in values]


def plot_attention_steps(steps, tokens: Sequence[str] | None = None, *, index: tuple[int, ...] = (),
                         title: str | None = None, annotate: bool | None = None) -> Figure:  # fmt: skip
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
    mats = [_matrix(getattr(steps, name)[index], name).astype(float)
            for name in ("scores", "scaled", "masked", "weights")]  # fmt: skip
    n = max(mats[0].shape)
    n_q, n_k = mats[0].shape
    labels_q, labels_k = _labels(tokens if n_q == n_k else None, n_q), _labels(tokens if n_q == n_k else None, n_k)
    fig, axes, cols = _layout(n)
    finite = np.concatenate([m[np.isfinite(m) & (m > _BLOCKED_BELOW)] for m in mats[:3]])
    span = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-9)
    scale = f"{steps.scale:.3g}"
    names = (r"scores = $QK^\top$", rf"scaled = scores $\times$ {scale}", "masked = scaled + M",
             "weights = softmax(masked)")  # fmt: skip
    show = annotate if annotate is not None else n <= 10
    for i, (ax, data, name) in enumerate(zip(axes, mats, names)):
        blocked = ~np.isfinite(data) | (data <= _BLOCKED_BELOW)
        is_weight = i == 3
        cmap = colormaps["viridis" if is_weight else "RdBu_r"].with_extremes(bad=_BAD)
        lo, hi = (0.0, 1.0) if is_weight else (-span, span)
        image = ax.imshow(np.ma.masked_where(blocked, data), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        _token_axes(ax, labels_q, labels_k, left=i % cols == 0, bottom=i >= len(axes) - cols)
        ax.set_title(name, fontsize=9.5)
        if show:
            _annotate(ax, np.where(blocked, np.nan, data), lo, hi, diverging=not is_weight, texts=_step_texts(data))
        if i in (2, 3):
            fig.colorbar(image, ax=ax, shrink=0.7, label="score (panels 1-3)" if i == 2 else "weight")
    fig.suptitle(title or "scaled dot-product attention, step by step", fontsize=11)
    return fig


def plot_mask_catalogue(rules: Mapping[str, MaskRule | torch.Tensor], length: int, *,
                        tokens: Sequence[str] | None = None, cols: int | None = None,
                        title: str | None = None) -> Figure:  # fmt: skip
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
    fig = NotebookFigure(figsize=(cols * (side + 0.2), rows * (side + 1.3) + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    labels = _labels(tokens, length)
    for i, (ax, (name, rule)) in enumerate(zip(axes, rules.items())):
        if isinstance(rule, MaskRule):
            dense = rule.dense(1, 1, length)[0, 0]
            subtitle = rule.name if rule.name != name else None
        else:
            dense, subtitle = torch.as_tensor(rule).bool(), None
        mask = _matrix(dense, f"rules[{name!r}]")
        if mask.shape != (length, length):
            raise ValueError(f"rules[{name!r}] has shape {mask.shape}, expected ({length}, {length}).")
        _draw_mask(ax, mask, name if subtitle is None else f"{name}\n{short_token(subtitle, 30)}",
                   labels, labels, left=i % cols == 0, bottom=True)  # fmt: skip
        if i < len(rules) - cols:  # axis titles only under the last panel of each column
            ax.set_xlabel("")
    for ax in axes[len(rules):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    _mask_legend(fig)
    return fig


def plot_layer_similarity(curves: Mapping[str, Sequence[float]], *, ylabel: str = "cosine similarity",
                          title: str | None = None) -> Figure:  # fmt: skip
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
    colors = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(range(len(values)), values, marker="o", color=colors[i % len(colors)], label=name)
    n = max(len(v) for v in curves.values())
    ax.set_xticks(range(n), ["emb"] + [str(i) for i in range(1, n)])
    ax.set(xlabel="hidden state (emb = embeddings, then layer)", ylabel=ylabel)
    ax.axhline(1.0, color="#9a9a9a", lw=0.8, ls="--")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "masked vs unmasked, layer by layer", fontsize=10)
    return fig
