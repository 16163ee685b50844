"""Statistics figures of MLM masking: the 80/10/10 split, exposure over epochs, counts.

Data come from :mod:`dynmask_viz.masking` (its measures) and :func:`dynmask_viz.masking.exposure`;
each function returns a ``Figure`` and never shows it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ..masking import KEPT, MASKED, RANDOM, CorruptionBreakdown, corruption_breakdown, times_masked_pmf
from ._style import CORRUPTION_COLORS, LINE_COLORS, SCHEME_COLORS, THEORY_COLORS, NotebookFigure

__all__ = ["plot_corruption_breakdown", "plot_exposure", "plot_exposure_histogram", "plot_selection_counts"]

THEORY_MARKERS = {"static": "D", "dynamic": "o"}  # theory points of the times-masked histogram


def plot_corruption_breakdown(result, config=None, *, candidates=None, title: str | None = None) -> Figure:
    """Measured vs configured shares of [MASK] / random / kept among selected tokens.

    Args:
        result: A :class:`CorruptionBreakdown`, a :class:`MaskedBatch` or a list of them.
        config: The ``MaskingConfig`` used (for MaskedBatch input).
        candidates: ``[B, L]`` bool candidate tokens, to report the selected share.
        title: Axes title.

    Error bars are 95% binomial intervals of the measured shares.
    """
    b = result
    if not isinstance(result, CorruptionBreakdown):
        b = corruption_breakdown(result, config, candidates=candidates)
    fig = NotebookFigure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    names, x = list(b.counts), np.arange(3)
    measured = np.array([b.shares[n] for n in names])
    err = 1.96 * np.sqrt(measured * (1 - measured) / max(b.n_selected, 1))
    colors = [CORRUPTION_COLORS[c] for c in (MASKED, RANDOM, KEPT)]
    ax.bar(x - 0.2, measured, 0.4, yerr=err, color=colors, edgecolor="#333333", capsize=3, label="measured")
    ax.bar(
        x + 0.2,
        [b.configured[n] for n in names],
        0.4,
        color="white",
        edgecolor=colors,
        hatch="///",
        lw=1.5,
        label="configured",
    )
    for xi, m, e in zip(x, measured, err):  # above the error bar, not on it
        ax.annotate(
            f"{m:.1%}", (xi - 0.2, m + e), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8
        )
    ax.set(xticks=x, ylabel="share of selected tokens", ylim=(0, 1.0))
    ax.set_xticklabels(names)
    ax.legend(loc="upper right")
    note = f"{b.n_selected:,} selected tokens"
    if b.selected_share is not None:
        note += f" = {b.selected_share:.1%} of {b.n_candidates:,} (configured {b.mlm_probability:.0%})"
    ax.set_title(title or note, fontsize=10)
    if title:
        ax.text(0.5, 0.97, note, transform=ax.transAxes, ha="center", va="top", fontsize=8)
    return fig


def plot_exposure(stats_static, stats_dynamic, *, title: str | None = None) -> Figure:
    """Share of tokens masked at least once vs epoch: measured (solid) and theory (dashed).

    Args:
        stats_static: ``ExposureStats`` of static masking (``exposure(StaticMasking(...), ...)``).
        stats_dynamic: ``ExposureStats`` of dynamic masking over the same data and epochs.
        title: Axes title.

    The final theoretical values are annotated; RoBERTa's setup (p=0.15, 40 epochs,
    dupe_factor=10) gives 0.803 (static) and 0.998 (dynamic).
    """
    fig = NotebookFigure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for stats, kind in ((stats_static, "static"), (stats_dynamic, "dynamic")):
        x = np.arange(1, stats.epochs + 1)
        k = int(stats.distinct_masks)
        name = f"static (dupe_factor={k})" if kind == "static" else "dynamic"
        color = SCHEME_COLORS[kind]
        ax.plot(x, stats.ever_masked_curve.numpy(), "o-", ms=3, color=color, label=f"{name}, measured")
        theory = stats.theory_curve().numpy()
        ax.plot(
            x,
            theory,
            "--",
            color=THEORY_COLORS[kind],
            lw=1.2,
            label=f"{name}, theory",
        )
        ax.annotate(
            f"{theory[-1]:.3f}",
            (x[-1], theory[-1]),
            xytext=(6, -14),
            textcoords="offset points",
            color=color,
            fontweight="bold",
        )
    s = stats_static
    roberta = s.epochs == 40 and int(s.distinct_masks) == 10 and abs(s.p - 0.15) < 1e-9
    if roberta:
        ax.text(
            0.98,
            0.42,
            "RoBERTa \u00a74.1 setup (p=0.15, 40 epochs):\nstatic with 10 masks 0.803, dynamic 0.998",
            transform=ax.transAxes,
            ha="right",
            fontsize=8.5,
        )
    ax.set(
        xlabel="epoch",
        ylabel="share of tokens masked at least once",
        ylim=(0, 1.05),
        xlim=(0.5, s.epochs + 4),
        title=title or f"Exposure over epochs (p={s.p:g})",
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_exposure_histogram(stats_static, stats_dynamic, *, title: str | None = None) -> Figure:
    """How many times each token was selected over the epochs: bars measured, markers theory.

    Under static masking a token selected in one of the ``k`` masks is selected again every
    time that mask comes back, so counts jump in steps of ``epochs / k``.
    """
    fig = NotebookFigure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.subplots()
    epochs = stats_static.epochs
    pmfs = [times_masked_pmf(s.p, s.epochs, int(s.distinct_masks)) for s in (stats_static, stats_dynamic)]
    counts = [s.counts[s.candidates] for s in (stats_static, stats_dynamic)]
    # Cut the long, invisible tail: stop where both measurement and theory fall below 0.2 %.
    shares = [torch.bincount(c, minlength=epochs + 1).double() / max(c.numel(), 1) for c in counts]
    top = max(int(((s >= 2e-3) | (p >= 2e-3)).nonzero().max()) for s, p in zip(shares, pmfs))
    x = np.arange(top + 1)
    for i, (stats, pmf) in enumerate(zip((stats_static, stats_dynamic), pmfs)):
        kind = "static" if i == 0 else "dynamic"
        name = f"static (dupe_factor={int(stats.distinct_masks)})" if kind == "static" else "dynamic"
        share = shares[i][: top + 1]
        ax.bar(
            x + (i - 0.5) * 0.4,
            share.numpy(),
            0.4,
            color=SCHEME_COLORS[kind],
            alpha=0.75,
            label=f"{name}, measured",
        )
        # Theory as large dark markers with a white rim, visible on the bars and on white.
        # Counts theory gives probability 0 (static: only multiples of epochs / k) are left out.
        theory = pmf[: top + 1].numpy()
        shown = theory > 0
        ax.plot(
            (x + (i - 0.5) * 0.4)[shown],
            theory[shown],
            THEORY_MARKERS[kind],
            ls="none",
            ms=7,
            mfc=THEORY_COLORS[kind],
            mec="white",
            mew=1.2,
            zorder=3,
            label=f"{name}, theory",
        )
    ax.set(
        xlabel=f"times a token was selected in {epochs} epochs",
        ylabel="share of tokens",
        title=title or f"Times masked per token (p={stats_static.p:g})",
        xticks=x[:: max(1, math.ceil(len(x) / 20))],
    )
    ax.legend(fontsize=8)
    return fig


def plot_selection_counts(
    n_candidates: torch.Tensor, selected: dict, *, p: float = 0.15, title: str | None = None
) -> Figure:
    """Tokens selected per sequence vs sequence length, one panel per scheme.

    Args:
        n_candidates: ``[B]`` candidate tokens per sequence.
        selected: Scheme name -> ``[E, B]`` tokens selected per sequence and draw (from
            ``masking.selection_counts``), e.g. ``{"exact (BERT)": ..., "bernoulli": ...}``.
        p: Selection probability (draws the expected ``p * n`` line and its +-2 sd band).
        title: Figure title.
    """
    fig = NotebookFigure(figsize=(4.0 * len(selected), 3.6), layout="constrained")
    axes = fig.subplots(1, len(selected), sharey=True, squeeze=False)[0]
    n = np.arange(int(n_candidates.max()) + 2)
    rng = np.random.default_rng(0)  # jitter only, so overlapping points stay visible
    sd = np.sqrt(n * p * (1 - p))
    for ax, (name, counts) in zip(axes, selected.items()):
        xs = np.broadcast_to(n_candidates.numpy(), counts.shape).ravel() + rng.uniform(
            -0.3, 0.3, counts.numel()
        )
        ax.scatter(
            xs, counts.numpy().ravel(), s=6, alpha=0.35, color=LINE_COLORS[0], label="one sequence, one draw"
        )
        ax.plot(n, p * n, color="black", lw=1, label=f"{p:g} \u00d7 n")
        ax.fill_between(
            n,
            np.clip(p * n - 2 * sd, 0, None),
            p * n + 2 * sd,
            color="grey",
            alpha=0.2,
            label="\u00b12 sd of a Binomial(n, p)",
        )
        ax.set(title=name, xlabel="candidate tokens in the sequence (n)")
    axes[0].set_ylabel("tokens selected")
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
