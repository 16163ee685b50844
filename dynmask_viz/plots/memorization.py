"""The memorization of the two fill-mask models, over many training sequences at once."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._style import REFERENCE_LINE, SCHEME_COLORS

__all__ = ["plot_memorization_distribution"]


def plot_memorization_distribution(result: dict, *, bins: int = 30) -> Figure:
    """Per training sequence, the loss on the right tokens under a trained vs a fresh mask.

    Left: one dot per sequence and model, fresh mask (x) against trained mask (y); a dot below
    the diagonal is a sequence the model does better on under the mask it trained on. Right:
    the distribution of the per-sequence gap (fresh - trained loss, nats) for each model.

    Args:
        result: What :func:`dynmask_viz.experiments.memorization.memorization_by_sequence`
            returns (``result["models"][name] = {"trained": [n], "fresh": [n]}``, losses in nats).
        bins: Histogram bins.

    Returns:
        The figure (two axes).
    """
    models = result["models"]
    fig = Figure(figsize=(10.5, 4.2), layout="constrained")
    scatter, hist = fig.subplots(1, 2)
    gaps = {}
    for i, (name, losses) in enumerate(models.items()):
        trained, fresh = np.asarray(losses["trained"]), np.asarray(losses["fresh"])
        color = SCHEME_COLORS.get(name, f"C{i}")
        scatter.scatter(fresh, trained, s=7, alpha=0.45, color=color, label=f"{name} masking", linewidths=0)
        gaps[name] = fresh - trained
    every = np.concatenate([np.asarray(v) for losses in models.values() for v in losses.values()])
    low, high = float(every.min()), float(every.max())
    scatter.plot([low, high], [low, high], color=REFERENCE_LINE, lw=1, ls="--", label="no difference")
    scatter.set(
        xlabel="loss under a fresh mask (nats)",
        ylabel="loss under a mask it trained on (nats)",
        title=f"{result['sequences']} training sequences, one dot each",
    )
    scatter.legend(loc="upper left", fontsize=8)
    edges = np.histogram_bin_edges(np.concatenate(list(gaps.values())), bins=bins)
    for i, (name, gap) in enumerate(gaps.items()):
        color = SCHEME_COLORS.get(name, f"C{i}")
        hist.hist(gap, bins=edges, alpha=0.55, color=color, label=f"{name}: median {np.median(gap):+.3f}")
        hist.axvline(float(np.median(gap)), color=color, lw=1.5)
    hist.axvline(0.0, color=REFERENCE_LINE, lw=1, ls="--")
    hist.set(
        xlabel="gap: fresh-mask loss minus trained-mask loss (nats)",
        ylabel="training sequences",
        title="What each model gains from having seen the mask",
    )
    hist.legend(fontsize=8)
    return fig
