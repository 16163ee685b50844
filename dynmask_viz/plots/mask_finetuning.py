"""Figures of the mask fine-tuning experiment (:mod:`dynmask_viz.mask_finetuning`).

:func:`plot_accuracy_vs_kept` draws the summary table (``summary.json``): accuracy against the
share of attention kept, per condition. :func:`plot_layer_keep` draws one text's
:class:`~dynmask_viz.analysis.LayerMaskView`: which keys each query kept, layer by layer.
Every function returns a ``Figure`` and never shows it.

Boolean convention: a keep mask is True where the query (row) *may attend* to the key (column);
drawn blue (kept) and light grey (blocked), as every mask in the package.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ..analysis import LayerMaskView
from ._heatmap import MASK_CMAP, grid_lines, mask_legend, token_axes, token_labels
from ._style import INK, LINE_COLORS, REFERENCE_LINE, NotebookFigure
from .mask_effect import MASK_SHARE_CMAP

__all__ = ["plot_accuracy_vs_kept", "plot_layer_keep"]

TRAINED = "trained and tested with the mask"
TEST_ONLY = "mask at test time only (baseline model)"
_ROW_KEYS = ("condition", "median", "interval", "share_kept")
_TEST_ONLY_KEYS = ("test_time_only_interval", "test_time_only_share_kept")


def _checked_rows(summary) -> list[dict]:
    rows = summary.get("rows") if isinstance(summary, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(
            "summary must be the experiment's summary dict with a non-empty 'rows' list "
            "(mask_finetuning.summarize(load_records(folder)) or summary.json)."
        )
    for row in rows:
        needed = _ROW_KEYS + (_TEST_ONLY_KEYS if "test_time_only_median" in row else ())
        missing = [k for k in needed if k not in row]
        if missing:
            raise ValueError(f"summary row {row.get('condition', row)!r} lacks {missing}.")
        for median, key in (("median", "interval"), ("test_time_only_median", "test_time_only_interval")):
            if median in row and not row[key][0] <= row[median] <= row[key][1]:
                raise ValueError(
                    f"summary row {row['condition']!r}: {key} {row[key]} does not contain {median} "
                    f"{row[median]}; recompute the summary."
                )
    return rows


def _errorbar(ax, rows, x_key, y_key, interval_key, **style):
    x = [100 * r[x_key] for r in rows]
    y = [100 * r[y_key] for r in rows]
    below = [100 * (r[y_key] - r[interval_key][0]) for r in rows]
    above = [100 * (r[interval_key][1] - r[y_key]) for r in rows]
    return ax.errorbar(x, y, yerr=[below, above], linestyle="none", capsize=3, **style)


def _overlaps(box: Bbox, boxes: list[Bbox], pad: float = 2.0) -> bool:
    return any(box.padded(pad).overlaps(other) for other in boxes)


def _label_points(fig, ax, points: list[tuple[float, float, str]], obstacles: list) -> None:
    """Name each point, nudging a label up or down (in points) until it overlaps no other.

    Labels are placed against the laid-out figure (pixels): beside the point if there is
    room, else stepped up or down with a thin line back to the point.
    """
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()  # the layout the labels are placed against
    blocked = []
    for xy in obstacles:  # the markers: a label must not cover one
        px, py = ax.transData.transform(xy)
        blocked.append(Bbox.from_extents(px - 4, py - 4, px + 4, py + 4))
    frame = ax.get_window_extent(renderer)
    steps = [0] + [sign * 10 * k for k in range(1, 15) for sign in (1, -1)]  # points above or below
    # Beside the point first (right, then left), then stepped on one side, then on the other:
    # two neighbours nudged to opposite sides would cross their lines.
    candidates = [(7, 0), (-7, 0)] + [(dx, dy) for dx in (7, -7) for dy in steps[1:]]
    for x, y, name in sorted(points, key=lambda p: (p[0], p[1])):
        for dx, dy in candidates:
            text = _annotate(ax, name, (x, y), dx, dy)
            box = _text_box(text, renderer)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not _overlaps(box, blocked):
                break
            text.remove()
        else:  # nowhere free: the first place, overlapping (a label is never left out)
            box = _text_box(_annotate(ax, name, (x, y), *candidates[0]), renderer)
        blocked.append(box)


def _text_box(annotation, renderer) -> Bbox:
    """The pixels of an annotation's text alone (its line back to the point may cross markers)."""
    annotation.update_positions(renderer)
    return Text.get_window_extent(annotation, renderer)


def _annotate(ax, name: str, xy: tuple[float, float], dx: float, dy: float):
    """``name`` beside the point ``xy``, offset by ``(dx, dy)`` points; a line back if moved up or down."""
    return ax.annotate(
        name,
        xy,
        xytext=(dx, dy + 3),
        textcoords="offset points",
        ha="left" if dx > 0 else "right",
        va="bottom" if dy >= 0 else "top",
        fontsize=8.5,
        color=INK,
        arrowprops={"arrowstyle": "-", "color": REFERENCE_LINE, "lw": 0.6, "shrinkB": 3} if dy else None,
    )


def plot_accuracy_vs_kept(summary: dict, *, title: str | None = None, chance: float | None = 0.5) -> Figure:
    """Test accuracy against the share of attention pairs kept, one point per condition.

    Two series: the models trained and tested with each mask (their median over seeds and
    95 % bootstrap interval), and the baseline's models scored with the mask at test time only
    (at the share of pairs the mask kept there). The full-attention baseline is a line with its
    interval as a band. The y axis spans every interval (and chance level) with a margin, so no
    difference is blown up by a cut axis.

    Args:
        summary: The experiment's summary (``summary.json`` or
            :func:`~dynmask_viz.mask_finetuning.summarize`): ``rows`` with ``condition``,
            ``median``, ``interval``, ``share_kept`` and, where scored, ``test_time_only_*``.
        title: Axes title (default: says what is compared and over how many seeds).
        chance: Accuracy of guessing (0.5 for the balanced two classes), drawn dashed and kept
            in view; None leaves it out.

    Raises:
        ValueError: ``summary`` without rows, a row missing a field, or an interval that does
            not contain its median.
    """
    rows = _checked_rows(summary)
    if chance is not None and not (isinstance(chance, float | int) and 0 < chance < 1):
        raise ValueError(f"chance must be None or an accuracy in (0, 1), e.g. 0.5; got {chance!r}.")
    fig = NotebookFigure(figsize=(7.4, 4.6), layout="constrained")
    ax = fig.subplots()
    base = next((r for r in rows if r["condition"] == "full"), None)
    lows = [r["interval"][0] for r in rows] + [r.get("test_time_only_interval", (1, 1))[0] for r in rows]
    highs = [r["interval"][1] for r in rows] + [r.get("test_time_only_interval", (0, 0))[1] for r in rows]
    if base is not None:
        lo, hi = base["interval"]
        ax.axhspan(100 * lo, 100 * hi, color=REFERENCE_LINE, alpha=0.25, lw=0)
        ax.axhline(
            100 * base["median"], color=REFERENCE_LINE, lw=1.2, label="full attention: median, 95 % CI"
        )
    if chance is not None:
        ax.axhline(100 * chance, color=INK, lw=0.8, ls="--", label=f"chance ({100 * chance:.0f} %)")
        lows.append(chance)
    _errorbar(
        ax, rows, "share_kept", "median", "interval", fmt="o", color=LINE_COLORS[0], label=TRAINED, zorder=3
    )
    tested = [r for r in rows if "test_time_only_median" in r]
    if tested:
        _errorbar(
            ax,
            tested,
            "test_time_only_share_kept",
            "test_time_only_median",
            "test_time_only_interval",
            fmt="D",
            color=LINE_COLORS[1],
            markerfacecolor="white",
            label=TEST_ONLY,
            zorder=4,
        )
        for r in tested:  # pair each test-time-only point with its condition's trained point
            ax.plot(
                [100 * r["share_kept"], 100 * r["test_time_only_share_kept"]],
                [100 * r["median"], 100 * r["test_time_only_median"]],
                color=LINE_COLORS[1],
                lw=0.7,
                ls=":",
                zorder=2,
            )
    bottom, top = 100 * min(lows), 100 * max(highs)
    margin = max(2.0, 0.12 * (top - bottom))
    ax.set_ylim(max(0.0, bottom - margin), min(100.0, top + margin))
    ax.set_xlim(-2, 110)
    ax.set_xlabel("attention pairs kept, % (all layers, heads and test reviews together)")
    ax.set_ylabel("test accuracy, % (median over seeds, 95 % CI)")
    ax.grid(alpha=0.3)
    seeds = max(len(r.get("seeds", ())) for r in rows)
    ax.set_title(title or f"Accuracy vs attention kept ({seeds} seeds per condition)", fontsize=11)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5)
    points = [(100 * r["share_kept"], 100 * r["median"], r["condition"]) for r in rows]
    obstacles = [(x, y) for x, y, _ in points] + [
        (100 * r["test_time_only_share_kept"], 100 * r["test_time_only_median"]) for r in tested
    ]
    _label_points(fig, ax, points, obstacles)
    return fig


def _check_index(name: str, value, size: int, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"{name} must be None ({what}) or an int in [0, {size - 1}]; got {value!r}.")


def _prediction_line(view: LayerMaskView) -> str:
    """``full attention: positive (P(positive) 0.83) -> with the mask: positive (0.71)``."""
    shown = view.labels[-1] if len(view.labels) == 2 else view.prediction_full
    p_full = view.probabilities_full[view.labels.index(shown)]
    p_rule = view.probabilities[view.labels.index(shown)]
    return (
        f"full attention: {view.prediction_full} (P({shown}) {p_full:.2f}) \u2192 "
        f"with the mask: {view.prediction} ({p_rule:.2f})"
    )


def plot_layer_keep(view: LayerMaskView, *, layer: int | None = None, head: int | None = None) -> Figure:
    """The keys each query kept in one layer, or in every layer side by side.

    Args:
        view: A :class:`~dynmask_viz.analysis.LayerMaskView` (one text, one rule).
        layer: The layer to show, or None for one small map per layer.
        head: The head to show (blue = kept, grey = blocked), or None for the share of heads
            keeping each (query, key) pair (blue = every head, grey = none; with a colour bar).

    Raises:
        ValueError: ``layer`` or ``head`` out of range (the message gives the range).
    """
    if not isinstance(view, LayerMaskView):
        raise TypeError(
            f"view must be a LayerMaskView (analysis.layer_mask_view); got {type(view).__name__}."
        )
    n_layers, n_heads, n = view.keep.shape[:3]
    _check_index("layer", layer, n_layers, "every layer")
    _check_index("head", head, n_heads, "the share of heads")
    layers = list(range(n_layers)) if layer is None else [int(layer)]
    maps = view.keep[layers].astype(float)
    maps = maps.mean(1) if head is None else maps[:, int(head)]  # [shown layers, L, L]
    labels = token_labels(view.tokens, n)
    cols = min(len(layers), 6)
    rows = math.ceil(len(layers) / cols)
    side = min(max(2.6, 0.12 * n + 0.9), 7.0) if len(layers) == 1 else min(max(1.9, 0.06 * n + 1.0), 3.6)
    width = max(cols * (side + 0.25) + 1.0, 5.6)  # room for the three title lines
    fig = NotebookFigure(figsize=(width, rows * (side + 0.8) + 1.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(layers) :]:
        ax.remove()
    image = None
    for i, (ax, index, data) in enumerate(zip(axes, layers, maps, strict=False)):
        if head is None:
            image = ax.imshow(data, cmap=MASK_SHARE_CMAP, vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(data, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        if len(layers) == 1:
            grid_lines(ax, n, n)
        token_axes(ax, labels, labels, left=i % cols == 0, bottom=i >= len(layers) - cols)
        ax.set_title(f"layer {index}: {data.mean():.0%} kept", fontsize=9.5)
    if head is None:
        fig.colorbar(image, ax=list(axes[: len(layers)]), shrink=0.8, label="share of heads keeping the pair")
    else:
        mask_legend(fig)
    heads = f"mean of {n_heads} heads" if head is None else f"head {head}"
    where = f"{'all layers' if layer is None else f'layer {layer}'}, {heads}"
    fig.suptitle(
        f"{view.rule_name}, {where}\n{view.share_kept:.0%} of the attention pairs kept (all layers)\n"
        f"{_prediction_line(view)}",
        fontsize=10,
    )
    return fig
