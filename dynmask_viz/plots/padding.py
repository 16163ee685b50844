"""Figures of a padded batch (chapter 08): the batch, its masks, and what padding changed.

Plots draw what :mod:`dynmask_viz.analysis.padding` and :mod:`~dynmask_viz.analysis.padding_side`
computed, given as plain tensors and lists (or the result objects, read by attribute); they
compute no masks. Every function returns a ``Figure`` and never shows it.

Boolean conventions: ``attention_mask`` True/1 = real token; masks True = *the query (row) may
attend to the key (column)*, drawn blue, blocked light grey, as everywhere in the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._heatmap import MASK_CMAP, draw_mask, grid_lines, label_fontsize, mask_legend, panel_side, token_labels
from ._style import BLOCKED_EDGE, INK, LINE_COLORS, MASK_COLORS, REFERENCE_LINE, NotebookFigure

__all__ = [
    "plot_batch_masks",
    "plot_key_padding_broadcast",
    "plot_next_token_readings",
    "plot_padded_batch",
    "plot_row_values",
]

MATCH_COLORS = {True: LINE_COLORS[2], False: LINE_COLORS[1]}  # bluish green / vermillion
_FLOOR = 1e-9  # an exact 0 on a log axis is drawn at this height, labelled "0"


def _bool_2d(x, name: str) -> np.ndarray:
    t = torch.as_tensor(x).detach().cpu()
    if t.ndim != 2:
        raise ValueError(f"{name} must be [B, L] (1/True = real token); got shape {tuple(t.shape)}.")
    return t.bool().numpy()


def _row_tokens(tokens, batch: int, length: int) -> list[list[str]]:
    if tokens is None:
        return [[str(i) for i in range(length)] for _ in range(batch)]
    if len(tokens) != batch or any(len(row) != length for row in tokens):
        raise ValueError(f"tokens must hold {batch} rows of {length} token strings (padding included).")
    return [token_labels(row, length) for row in tokens]


def plot_padded_batch(tokens: Sequence[Sequence[str]], attention_mask, *, title: str | None = None) -> Figure:
    """The padded batch as a grid: one row per text, one cell per slot, padding in grey.

    Args:
        tokens: ``B`` rows of ``L`` token strings, padding included.
        attention_mask: ``[B, L]`` 1/True = real token (blue), 0 = padding (grey).
        title: Axes title.
    """
    real = _bool_2d(attention_mask, "attention_mask")
    batch, length = real.shape
    labels = _row_tokens(tokens, batch, length)
    fig = NotebookFigure(figsize=(min(0.62 * length + 1.4, 16), 0.5 * batch + 1.3), layout="constrained")
    ax = fig.subplots()
    ax.imshow(real.astype(float), cmap=MASK_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    grid_lines(ax, batch, length)
    size = max(5.5, label_fontsize(length) - 1.5)
    for (b, i), is_real in np.ndenumerate(real):
        ax.text(
            i, b, labels[b][i], ha="center", va="center", fontsize=size, color="white" if is_real else INK
        )
    ax.set_xticks(range(length), [str(i) for i in range(length)], fontsize=8)
    ax.set_yticks(range(batch), [f"row {b}: {int(n)} real" for b, n in enumerate(real.sum(1))], fontsize=8)
    ax.tick_params(length=0)
    ax.set_xlabel("slot", fontsize=9)
    handles = [
        Patch(facecolor=MASK_COLORS["allowed"], label="real token (attention_mask = 1)"),
        Patch(facecolor=MASK_COLORS["blocked"], edgecolor=BLOCKED_EDGE, label="padding (attention_mask = 0)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    ax.set_title(title or "a padded batch", fontsize=10)
    return fig


def plot_key_padding_broadcast(key_padding, *, heads: int, tokens=None) -> Figure:
    """The key-padding mask ``[B, 1, 1, K]`` and what broadcasting makes of it, ``[B, H, Q, K]``.

    Top row: each example's one mask row ``[1, K]``. Bottom row: the same row repeated for
    every query (and, not drawn, every one of the ``heads`` heads): a padding key is blocked
    for every query; a padding query (a row) still attends to the real keys.

    Args:
        key_padding: bool ``[B, 1, 1, K]``, True = may attend.
        heads: The model's number of heads (named in the titles).
        tokens: Optional ``B`` rows of ``K`` token strings (padding included).
    """
    mask = torch.as_tensor(key_padding).detach().cpu()
    if mask.ndim != 4 or mask.shape[1:3] != (1, 1) or mask.dtype != torch.bool:
        raise ValueError(
            "key_padding must be a bool [B, 1, 1, K] mask (True = may attend); got "
            f"{mask.dtype} {tuple(mask.shape)}. Build it with key_padding_mask(attention_mask)."
        )
    batch, keys = mask.shape[0], mask.shape[-1]
    labels = _row_tokens(tokens, batch, keys)
    side = panel_side(keys)
    fig = NotebookFigure(figsize=(batch * (side + 0.6), side + 2.3), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12)  # room between the strip and the title below it
    axes = fig.subplots(2, batch, squeeze=False, height_ratios=[1, keys])
    for b in range(batch):
        row = mask[b, 0].numpy()  # [1, K]
        top = axes[0, b]
        top.imshow(row.astype(float), cmap=MASK_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        grid_lines(top, 1, keys)
        top.set_xticks([]), top.set_yticks([])
        top.set_title(f"key_padding[{b}]: one row, [1, 1, {keys}]", fontsize=9)
        draw_mask(
            axes[1, b],
            np.broadcast_to(row, (keys, keys)),
            f"x {keys} queries (x {heads} heads)",
            labels[b],
            labels[b],
            left=b == 0,
        )
    mask_legend(fig)
    return fig


def plot_batch_masks(masks, tokens=None, *, titles: Sequence[str] | None = None) -> Figure:
    """One panel per example: the ``[L, L]`` mask it got (e.g. padding and causality combined).

    Args:
        masks: bool ``[B, 1, L, L]`` (or ``[B, L, L]``), True = may attend.
        tokens: Optional ``B`` rows of ``L`` token strings (padding included).
        titles: Optional one title per example.
    """
    m = torch.as_tensor(masks).detach().cpu()
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3 or m.shape[1] != m.shape[2] or m.dtype != torch.bool:
        raise ValueError(
            f"masks must be bool [B, 1, L, L] (True = may attend); got {m.dtype} {tuple(m.shape)}."
        )
    batch, length = m.shape[0], m.shape[-1]
    labels = _row_tokens(tokens, batch, length)
    if titles is not None and len(titles) != batch:
        raise ValueError(f"titles must hold one title per example ({batch}); got {len(titles)}.")
    cols = min(batch, 3)
    rows = math.ceil(batch / cols)
    side = panel_side(length)
    fig = NotebookFigure(figsize=(cols * (side + 0.7), rows * (side + 0.9) + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for b in range(batch):
        title = titles[b] if titles is not None else f"row {b}"
        draw_mask(axes[b], m[b].numpy(), title, labels[b], labels[b], left=b % cols == 0)
    for ax in axes[batch:]:
        ax.set_axis_off()
    mask_legend(fig)
    return fig


def plot_row_values(
    values: Mapping[str, Sequence[float]],
    labels: Sequence[str],
    *,
    ylabel: str = "max |difference| to the text alone",
    log: bool = True,
    reference: float | None = None,
    reference_label: str = "",
    title: str | None = None,
) -> Figure:
    """Grouped bars: one group per example, one bar per setting, the value written on each bar.

    Args:
        values: Setting name -> one value per example.
        labels: One label per example (e.g. ``"row 0 (5 tokens)"``).
        ylabel: Y axis label.
        log: Log scale (an exact 0 is drawn at 1e-9 and labelled "0").
        reference: Optional horizontal line (e.g. a tolerance), with ``reference_label``.
        title: Axes title.
    """
    if not values:
        raise ValueError("values must name at least one setting.")
    data = {
        name: [float(v) for v in torch.as_tensor(vals).reshape(-1).tolist()] for name, vals in values.items()
    }
    if any(len(v) != len(labels) for v in data.values()):
        raise ValueError(f"every setting needs one value per label ({len(labels)}).")
    fig = NotebookFigure(
        figsize=(max(5.5, 1.6 * len(labels) * len(data) ** 0.5 + 2), 3.6), layout="constrained"
    )
    ax = fig.subplots()
    width = 0.8 / len(data)
    x = np.arange(len(labels))
    for i, (name, vals) in enumerate(data.items()):
        heights = [max(v, _FLOOR) if log else v for v in vals]
        bars = ax.bar(
            x + (i - (len(data) - 1) / 2) * width,
            heights,
            width,
            color=LINE_COLORS[i % len(LINE_COLORS)],
            label=name,
        )
        for bar, v in zip(bars, vals):
            text = "0" if v == 0 else f"{v:.2g}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    if log:
        ax.set_yscale("log")
        ax.set_ylim(_FLOOR / 3, max(max(max(v) for v in data.values()), _FLOOR) * 30)
    if reference is not None:
        ax.axhline(reference, color=REFERENCE_LINE, ls="--", lw=0.9, label=reference_label or None)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or "", fontsize=10)
    return fig


def plot_next_token_readings(comparison) -> Figure:
    """A table of next-token readings: one row per prompt, one column per setting.

    Each cell names the top-1 token (decoded and quoted when the readings have ``texts``, so a
    space or a line break shows) and its probability, green where it is the prompt's
    prediction alone, vermillion where padding changed it.

    Args:
        comparison: A ``PaddingSideComparison`` (``padding_side_comparison(...)``), read by
            attribute: ``prompts``, ``readings`` (setting -> ``tokens``, optional ``texts``,
            ``probabilities``, ``matches_alone``).
    """
    readings = comparison.readings
    settings = list(readings)
    prompts = list(comparison.prompts)
    fig = NotebookFigure(figsize=(2.0 * len(settings) + 2.8, 0.6 * len(prompts) + 1.6), layout="constrained")
    ax = fig.subplots()
    for c, name in enumerate(settings):
        r = readings[name]
        for p in range(len(prompts)):
            ok = bool(r.matches_alone[p])
            ax.add_patch(_cell(c, p, MATCH_COLORS[ok]))
            shown = getattr(r, "texts", None)  # decoded, e.g. " and" or "\n", when given
            token = token_labels([repr(shown[p]) if shown is not None else r.tokens[p]], 1)[0]
            ax.text(
                c,
                p,
                f"{token}\n{float(r.probabilities[p]):.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white",
            )
    ax.set_xlim(-0.5, len(settings) - 0.5)
    ax.set_ylim(len(prompts) - 0.5, -0.5)
    ax.set_xticks(range(len(settings)), [s.replace("padding, ", "padding,\n") for s in settings], fontsize=8)
    short = [p if len(p) <= 34 else p[:33] + "\u2026" for p in prompts]
    ax.set_yticks(range(len(prompts)), short, fontsize=8)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for spine in ax.spines.values():
        spine.set_visible(False)
    handles = [
        Patch(facecolor=MATCH_COLORS[True], label="same top-1 token as the prompt alone"),
        Patch(facecolor=MATCH_COLORS[False], label="padding changed it"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    return fig


def _cell(x: float, y: float, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.48, y - 0.46), 0.96, 0.92, facecolor=color, edgecolor="white")
