"""Figures of the dupe-factor sweep (:func:`dynmask_viz.experiments.sweep.sweep`).

Inputs are the sweep's ``summary.json`` (means, 95% t-intervals, paired differences, baselines)
and its ``runs.jsonl`` lines (per-epoch curves); every function returns a ``Figure`` and never
shows it. Static with k distinct masks per sequence is drawn in shades of the static colour
(darkest: k = 1, the most static), dynamic in the dynamic colour, as in every experiment figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._style import INK, REFERENCE_LINE, SCHEME_COLORS, NotebookFigure

__all__ = ["plot_dupe_response", "plot_paired_differences", "plot_sweep_curves", "static_shade"]

LABELS = {
    "memorization_gap": "memorization gap (nats)\nfresh-mask loss - trained-mask loss",
    "val_loss": "validation MLM loss (nats)",
    "val_accuracy": "validation MLM accuracy, %",
    "probe_test_accuracy": "linear-probe test accuracy, %",
}
_PERCENT = {"val_accuracy", "probe_test_accuracy"}
# RoBERTa Table 1: static minus dynamic was -0.4 (SQuAD 2.0), +0.3 (MNLI-m), -0.4 (SST-2) points.
ROBERTA_DIFFERENCE = 0.4


# Line styles of the static k's in curve figures, smallest k first (shades alone are hard to tell apart).
STATIC_STYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))


def static_shade(index: int, count: int) -> tuple[float, float, float]:
    """The static colour for the ``index``-th of ``count`` dupe factors (0: darkest, last: lightest)."""
    base = np.array(to_rgb(SCHEME_COLORS["static"]))
    t = 0.0 if count <= 1 else -0.35 + 0.9 * index / (count - 1)  # < 0: towards black, > 0: white
    mixed = base * (1 + t) if t < 0 else base + (1.0 - base) * t
    return tuple(float(v) for v in mixed)


def _checked(summary) -> dict:
    conditions = summary.get("conditions") if isinstance(summary, dict) else None
    if not isinstance(conditions, dict) or not conditions:
        raise ValueError(
            "summary must be the sweep's summary dict with a non-empty 'conditions' "
            "(summary.json, or the return value of sweep(...))."
        )
    return conditions


def _static_and_dynamic(conditions: dict) -> tuple[list[dict], dict | None]:
    static = [c for c in conditions.values() if c["condition"] == "static"]
    static.sort(key=lambda c: c["dupe_factor"])
    return static, conditions.get("dynamic")


def _scale(metric: str) -> float:
    return 100.0 if metric in _PERCENT else 1.0


def _dots_and_interval(ax, x: float, stat: dict, color, scale: float, label: str | None = None) -> None:
    """Per-seed dots (spread a little sideways), the mean and its 95% interval as an error bar."""
    values = scale * np.array(stat["values"])
    offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
    ax.scatter(x + offsets, values, s=14, color=color, alpha=0.55, zorder=3, linewidths=0)
    if stat["ci95"] is not None:
        lo, hi = (scale * v for v in stat["ci95"])
        ax.errorbar(
            x,
            scale * stat["mean"],
            yerr=[[scale * stat["mean"] - lo], [hi - scale * stat["mean"]]],
            fmt="o",
            color=INK,
            mfc=color,
            capsize=4,
            zorder=4,
            label=label,
        )
    else:
        ax.plot([x], [scale * stat["mean"]], "o", color=INK, mfc=color, zorder=4, label=label)


def plot_dupe_response(
    summary: dict, metric: str = "memorization_gap", *, title: str | None = None
) -> Figure:
    """A metric against k (static, k masks per sequence), dynamic as its own point and band.

    Dots: seeds; black-edged point and bar: mean and 95% t-interval. The dynamic mean's
    interval is also drawn as a band across the axes, to read every static k against it.

    Args:
        summary: The sweep's summary (``summary.json``).
        metric: ``"memorization_gap"``, ``"val_loss"``, ``"val_accuracy"`` or ``"probe_test_accuracy"``.

    Raises:
        ValueError: ``summary`` is not a sweep summary, or ``metric`` is not one of those.
    """
    if metric not in LABELS:
        raise ValueError(f"metric must be one of {sorted(LABELS)}; got {metric!r}.")
    static, dynamic = _static_and_dynamic(_checked(summary))
    scale = _scale(metric)
    fig = NotebookFigure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, cond in enumerate(static):
        if metric in cond:
            _dots_and_interval(ax, i, cond[metric], static_shade(i, len(static)), scale)
    ticks = [f"static\nk={c['dupe_factor']}" for c in static]
    if dynamic is not None and metric in dynamic:
        x = len(static)
        stat = dynamic[metric]
        if stat["ci95"] is not None:
            ax.axhspan(*(scale * v for v in stat["ci95"]), color=SCHEME_COLORS["dynamic"], alpha=0.12, lw=0)
        ax.axhline(scale * stat["mean"], color=SCHEME_COLORS["dynamic"], lw=1, ls="--")
        _dots_and_interval(ax, x, stat, SCHEME_COLORS["dynamic"], scale)
        ticks.append("dynamic\n(new mask\nevery epoch)")
    if metric == "memorization_gap":
        ax.axhline(0, color=REFERENCE_LINE, lw=0.8)
    unigram_key = {"val_loss": "loss", "val_accuracy": "accuracy"}.get(metric)
    base = (summary.get("unigram_baseline") or {}).get(unigram_key)
    if base is not None:
        ax.axhline(scale * base, color=INK, ls=":", lw=1.2, label="unigram baseline (no context)")
        ax.legend(loc="best")
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlim(-0.6, len(ticks) - 0.4)
    ax.set_ylabel(LABELS[metric])
    n = max((len(c.get(metric, {}).get("values", [])) for c in summary["conditions"].values()), default=0)
    ax.set_title(title or f"Dose-response over k ({n} paired seeds: dots; mean and 95% t-interval)")
    return fig


def plot_sweep_curves(
    lines: Sequence[dict], *, unigram: dict | None = None, title: str | None = None
) -> Figure:
    """Validation loss and accuracy per epoch: mean over seeds per condition, seed range as a band.

    Static with k masks and dynamic draw the same masks in epochs 1..k, so their curves coincide
    up to epoch k (a control built into the design; a dotted line marks each k); they part after.

    Args:
        lines: The sweep's ``runs.jsonl`` records (each with ``curves``).
        unigram: The unigram baseline (``summary["unigram_baseline"]``): a dotted line.

    Raises:
        ValueError: No line, or a line without curves.
    """
    if not lines or any("curves" not in line for line in lines):
        raise ValueError("lines must be the sweep's runs.jsonl records, each with its 'curves'.")
    groups: dict[tuple, list[dict]] = {}
    for line in lines:
        groups.setdefault((line["condition"] == "dynamic", line["dupe_factor"] or 0), []).append(line)
    keys = sorted(groups)
    n_static = sum(1 for k in keys if not k[0])
    fig = NotebookFigure(figsize=(12.5, 4.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric, base_key in zip(axes, ("val_loss", "val_accuracy"), ("loss", "accuracy")):
        scale = _scale(metric)
        for i, key in enumerate(keys):
            rows = groups[key]
            n = min(len(r["curves"][metric]) for r in rows)
            values = scale * np.array([r["curves"][metric][:n] for r in rows])  # [seeds, epochs]
            epochs = rows[0]["curves"]["epoch"][:n]
            color = SCHEME_COLORS["dynamic"] if key[0] else static_shade(i, n_static)
            label = "dynamic" if key[0] else f"static k={key[1]}"
            style = "-" if key[0] else STATIC_STYLES[i % len(STATIC_STYLES)]
            ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.15, lw=0)
            ax.plot(epochs, values.mean(0), color=color, lw=2, ls=style, label=f"{label} ({len(rows)} seeds)")
            if not key[0] and key[1] < epochs[-1]:  # where static k starts repeating its masks
                ax.axvline(key[1], color=color, ls=":", lw=0.8)
        if unigram is not None:
            ax.axhline(scale * unigram[base_key], color=INK, ls=":", lw=1.2, label="unigram baseline")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(LABELS[metric])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=9)
    axes[0].set_title("loss on the fixed validation masks")
    axes[1].set_title("accuracy (line: mean; band: seed range)")
    fig.suptitle(title or "Validation curves: static k and dynamic coincide until epoch k by construction")
    return fig


def plot_paired_differences(summary: dict, *, title: str | None = None) -> Figure:
    """``static(k) - dynamic``, seed by seed: memorization gap, validation loss, probe accuracy.

    Dots: the paired seeds; point and bar: mean and 95% t-interval; zero: no difference.
    The probe panel shades RoBERTa's Table 1 scale (static - dynamic within ±0.4 points).

    Raises:
        ValueError: ``summary`` is not a sweep summary or has no paired difference.
    """
    _checked(summary)
    paired = sorted(summary.get("paired_differences", {}).values(), key=lambda r: r["dupe_factor"])
    if not paired:
        raise ValueError(
            "summary has no paired differences: it needs static and dynamic runs of the same seeds."
        )
    metrics = ("memorization_gap", "val_loss", "probe_test_accuracy")
    fig = NotebookFigure(figsize=(12.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, metrics):
        scale = _scale(metric)
        for i, row in enumerate(paired):
            if metric in row:
                _dots_and_interval(ax, i, row[metric], static_shade(i, len(paired)), scale)
        ax.axhline(0, color=REFERENCE_LINE, lw=0.8)
        if metric == "probe_test_accuracy":
            ax.axhspan(
                -ROBERTA_DIFFERENCE,
                ROBERTA_DIFFERENCE,
                color=REFERENCE_LINE,
                alpha=0.2,
                lw=0,
                label="RoBERTa Table 1 scale (±0.4 points)",
            )
        ax.set_xticks(range(len(paired)), [f"k={row['dupe_factor']}" for row in paired])
        ax.set_xlim(-0.6, len(paired) - 0.4)
        unit = "points" if metric in _PERCENT else "nats"
        ax.set_ylabel(f"static - dynamic, {unit}")
        title_text = LABELS[metric].split("\n")[0].replace(", %", "")
        if metric == "probe_test_accuracy":  # a title line, not a legend over the error bars
            title_text += "\n(grey: RoBERTa Table 1's differences, ±0.4 points)"
        ax.set_title(title_text)
    fig.suptitle(title or "Paired differences static(k) - dynamic (dots: seeds; mean and 95% t-interval)")
    return fig
