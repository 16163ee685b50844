"""The memorization of the two fill-mask models, over many training sequences at once."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._style import REFERENCE_LINE, SCHEME_COLORS

__all__ = ["plot_memorization_distribution"]


def plot_memorization_distribution(result: dict, *, bins: int = 30) -> Figure:
    """Per training sequence, the right token's probability under a trained vs a fresh mask.

    Left: one dot per sequence and model, fresh mask (x) against trained mask (y); a dot above
    the diagonal is a sequence the model does better on under the mask it trained on. Right:
    the distribution of the per-sequence drop (trained - fresh) for each model.

    Args:
        result: What :func:`dynmask_viz.experiments.memorization.memorization_by_sequence`
            returns (``result["models"][name] = {"trained": [n], "fresh": [n]}``).
        bins: Histogram bins.

    Returns:
        The figure (two axes).
    """
    models = result["models"]
    fig = Figure(figsize=(10.5, 4.2), layout="constrained")
    scatter, hist = fig.subplots(1, 2)
    drops = {}
    for i, (name, probs) in enumerate(models.items()):
        trained, fresh = np.asarray(probs["trained"]), np.asarray(probs["fresh"])
        color = SCHEME_COLORS.get(name, f"C{i}")
        scatter.scatter(fresh, trained, s=7, alpha=0.45, color=color, label=f"{name} masking", linewidths=0)
        drops[name] = trained - fresh
    scatter.plot([0, 1], [0, 1], color=REFERENCE_LINE, lw=1, ls="--", label="no difference")
    scatter.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="under a fresh mask",
        ylabel="under a mask it trained on",
        title=f"P(right token), {result['sequences']} training sequences",
    )
    scatter.legend(loc="lower right", fontsize=8)
    edges = np.histogram_bin_edges(np.concatenate(list(drops.values())), bins=bins)
    for i, (name, drop) in enumerate(drops.items()):
        color = SCHEME_COLORS.get(name, f"C{i}")
        hist.hist(drop, bins=edges, alpha=0.55, color=color, label=f"{name}: median {np.median(drop):+.3f}")
        hist.axvline(float(np.median(drop)), color=color, lw=1.5)
    hist.axvline(0.0, color=REFERENCE_LINE, lw=1, ls="--")
    hist.set(
        xlabel="drop: trained-mask minus fresh-mask probability",
        ylabel="training sequences",
        title="How much each model relies on having seen the mask",
    )
    hist.legend(fontsize=8)
    return fig
