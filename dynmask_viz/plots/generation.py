"""Figures of a causal LM step by step: the label shift, the decoding mask rows, and the attention
of each generated token over the KV cache.

They draw results computed elsewhere (:mod:`dynmask_viz.hf.generation`, :mod:`dynmask_viz.formulas`)
and take them by their attributes. Boolean convention: True = *the query may attend to the key*.
Every function returns a ``Figure`` and never shows it.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from ._heatmap import annotate_cells, draw_mask, grid_lines, label_fontsize, mask_legend, token_labels
from ._style import (
    BAD_COLOR,
    BLOCKED_EDGE,
    INK,
    LINE_COLORS,
    MASK_CMAP,
    MASK_COLORS,
    NotebookFigure,
    font_families,
    renderable,
    short_token,
)

__all__ = ["plot_generation_attention", "plot_is_causal_rows", "plot_label_shift"]

_RIGHT, _WRONG = LINE_COLORS[2], LINE_COLORS[1]  # green / vermilion of the colour-blind-safe set


def _label(token: str) -> str:
    return short_token(renderable(str(token)), 10)


def plot_label_shift(view, *, max_tokens: int = 10, title: str | None = None) -> Figure:
    """Next-token prediction of one text: each position's input, its label (the *next* input)
    and the model's top guess, with the probability it gave the label.

    Args:
        view: A :class:`dynmask_viz.hf.NextTokenView` (``tokens``, ``targets``,
            ``predicted_tokens``, ``target_probs``).
        max_tokens: Positions shown (the first ones).
        title: Figure title (default: the two losses).
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
        raise ValueError(f"max_tokens must be an int >= 2; got {max_tokens!r}.")
    n = min(len(view.tokens), max_tokens)
    inputs = [_label(t) for t in view.tokens[:n]]
    labels = [_label(t) for t in view.tokens[1 : n + 1]]
    guesses = [_label(t) for t in view.predicted_tokens[:n]]
    fig = NotebookFigure(figsize=(1.0 + 0.95 * n, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(-1.9, n - 0.4)
    ax.set_ylim(-0.6, 3.6)
    ax.axis("off")
    family, size = font_families(), label_fontsize(n) + 0.5
    rows = {3: "input  t", 2: "label = input t+1", 1: "model's top guess", 0: "p(label)"}
    for y, name in rows.items():
        ax.text(-1.85, y, name, ha="left", va="center", fontsize=8.5, color=INK)
    for t in range(n):
        ax.text(t, 3.3 + 0.02, str(t), ha="center", va="bottom", fontsize=7, color=BLOCKED_EDGE)
        ax.text(
            t,
            3,
            inputs[t],
            ha="center",
            va="center",
            fontsize=size,
            fontfamily=family,
            bbox={"boxstyle": "round,pad=0.25", "fc": MASK_COLORS["blocked"], "ec": BLOCKED_EDGE},
        )
        if t < len(labels) and t < len(view.targets):
            ax.text(
                t,
                2,
                labels[t],
                ha="center",
                va="center",
                fontsize=size,
                fontfamily=family,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": INK},
            )
            # The label of position t is the input of position t + 1: the shift by one.
            ax.annotate(
                "",
                xy=(t + 0.1, 2.22),
                xytext=(t + 0.9, 2.78),
                arrowprops={"arrowstyle": "->", "color": BLOCKED_EDGE, "lw": 0.9},
            )
            right = int(view.predicted[t]) == int(view.targets[t])
            ax.text(
                t,
                1,
                guesses[t],
                ha="center",
                va="center",
                fontsize=size,
                fontfamily=family,
                color=_RIGHT if right else _WRONG,
                fontweight="bold" if right else "normal",
            )
            ax.text(
                t, 0, f"{float(view.target_probs[t]):.2f}", ha="center", va="center", fontsize=8, color=INK
            )
        else:
            ax.text(t, 2, "(none)", ha="center", va="center", fontsize=8, color=BLOCKED_EDGE)
    ax.set_title(
        title
        or (
            f"labels = inputs shifted by one; loss: model {view.loss_model:.3f}, "
            f"by hand {view.loss_by_hand:.3f}"
        ),
        fontsize=10,
    )
    return fig


def plot_generation_attention(
    trace, *, layer: int = -1, head: int | None = None, title: str | None = None
) -> Figure:
    """Generation with a KV cache, one row per step: the mask row the model received (left) and
    the attention of the step's query over the cache and itself (right).

    Row ``s`` is the query of step ``s`` (the last prompt token on step 0, then the token
    generated on step ``s - 1``) predicting the token after the arrow. Each row is one key
    longer than the one above it: the cache grows by one token per step. Grey cells are
    keys that do not exist yet.

    Args:
        trace: A :class:`dynmask_viz.hf.GenerationTrace`.
        layer: Layer shown (negative counts from the end).
        head: One head, or None for the mean over heads.
        title: Title of the attention panel.
    """
    rows = trace.attention_rows(layer, head).numpy().astype(float)
    n_layers = trace.steps[0].attention.shape[0]
    # Name the real layer: "layer -1" means nothing to a student.
    shown = layer % n_layers
    layer_name = f"last layer ({shown})" if shown == n_layers - 1 else f"layer {shown}"
    n_steps, width = rows.shape
    prompt = len(trace.prompt_ids)
    tokens = trace.tokens
    fed = [tokens[prompt - 1 + s] for s in range(n_steps)]
    y_labels = [f"{s}: {_label(fed[s])} \u2192 {_label(s_.token)}" for s, s_ in enumerate(trace.steps)]
    x_labels = token_labels(tokens[:width], width)
    allowed = np.zeros((n_steps, width), dtype=bool)
    for s, step in enumerate(trace.steps):
        row = torch.as_tensor(step.mask_row).numpy()
        allowed[s, : len(row)] = row
    fig = NotebookFigure(figsize=(2 * (0.32 * width + 1.6) + 1.2, 0.32 * n_steps + 2.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(allowed.astype(float), cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    cmap = colormaps["viridis"].with_extremes(bad=BAD_COLOR)
    top = float(np.nanmax(rows)) if np.isfinite(rows).any() else 1.0
    image = right.imshow(
        np.ma.masked_invalid(rows), cmap=cmap, vmin=0, vmax=top, interpolation="nearest", aspect="auto"
    )
    fig.colorbar(image, ax=right, shrink=0.85, label="attention weight")
    size, family = label_fontsize(max(width, n_steps)), font_families()
    for ax, name in ((left, "mask row received (True = may attend)"), (right, None)):
        grid_lines(ax, n_steps, width)
        ax.set_xticks(range(width), x_labels, rotation=90, fontsize=size, fontfamily=family)
        ax.set_yticks(range(n_steps), y_labels if ax is left else [], fontsize=size, fontfamily=family)
        ax.tick_params(length=0)
        ax.axvline(prompt - 0.5, color=INK, lw=1.2)  # prompt | generated
        ax.set_xlabel("key: the cached tokens and the query's own", fontsize=9)
        if name:
            ax.set_title(name, fontsize=9.5)
    left.set_ylabel("step: query \u2192 token it predicts", fontsize=9)
    which = "mean over heads" if head is None else f"head {head}"
    right.set_title(title or f"attention of each step's query ({layer_name}, {which})", fontsize=9.5)
    if max(width, n_steps) <= 12:
        annotate_cells(right, rows, 0.0, top)
    return fig


def plot_is_causal_rows(demo) -> Figure:
    """The mask row of a 1-query decoding step two ways: ``is_causal=True`` (top-left aligned:
    key 0 only) and the row it needs (bottom-right aligned: the whole cache and itself).

    Args:
        demo: A :class:`dynmask_viz.formulas.IsCausalDemo`.
    """
    rows = [torch.as_tensor(demo.top_left_row).numpy(), torch.as_tensor(demo.bottom_right_row).numpy()]
    n = len(rows[0])
    keys = [str(i) for i in range(n)]
    fig = NotebookFigure(figsize=(0.35 * n + 2.4, 2.9), layout="constrained")
    axes = fig.subplots(2, 1)
    titles = ["is_causal=True (top-left): the query sees key 0 only", "needed (bottom-right): cache + itself"]
    for ax, row, name in zip(axes, rows, titles, strict=True):
        draw_mask(ax, row[None, :], name, ["query"], keys, bottom=ax is axes[-1])
    axes[-1].set_xlabel(f"key position (0..{n - 2} cached, {n - 1} = the new token)", fontsize=9)
    mask_legend(fig)
    return fig
