"""FlexAttention figures: which blocks of a mask are skipped, and the time against dense SDPA.

Both take results computed in :mod:`dynmask_viz.analysis.flex_views` (``BlockSparsityView``,
``FlexTimings``) and return a ``Figure``; they compute no masks. Mask colours as everywhere
(blue = may attend, light grey = blocked); rows are queries, columns keys.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ._heatmap import MASK_CMAP, as_matrix
from ._style import BLOCK_COLORS, BLOCKED_EDGE, INK, LINE_COLORS, MASK_COLORS, REFERENCE_LINE, NotebookFigure

__all__ = ["plot_block_sparsity", "plot_flex_timings"]

# Block kinds (codes 0, 1, 2 of block_kinds): skipped blocks hatched grey, computed ones coloured.
_KIND_STYLE = {
    0: dict(
        label="skipped (never computed)",
        facecolor=BLOCK_COLORS["skipped"],
        edgecolor=REFERENCE_LINE,
        hatch="///",
    ),
    1: dict(label="partial (mask_mod applied)", facecolor=BLOCK_COLORS["partial"], edgecolor="white"),
    2: dict(label="full (no mask needed)", facecolor=BLOCK_COLORS["full"], edgecolor="white"),
}


def plot_block_sparsity(view, *, title: str | None = None) -> Figure:
    """A mask with FlexAttention's block grid over it (left) and the kind of each block (right).

    Args:
        view: A ``BlockSparsityView`` (``analysis.block_sparsity_view``): ``mask`` bool
            ``[Q, K]`` (True = may attend), ``kinds`` int ``[Q blocks, K blocks]`` (0 skipped,
            1 partial, 2 full), ``block_size``, ``sparsity`` (shares) and ``rule``.
        title: Figure title; default the rule's name. The shares are added below it.
    """
    mask = as_matrix(view.mask, "view.mask").astype(bool)
    kinds = as_matrix(view.kinds, "view.kinds").astype(int)
    n_q, n_k = mask.shape
    bs = int(view.block_size)
    if kinds.shape != (-(-n_q // bs), -(-n_k // bs)):
        raise ValueError(f"view.kinds {kinds.shape} does not tile a {n_q} x {n_k} mask in blocks of {bs}.")
    fig = NotebookFigure(figsize=(9.0, 4.6 * n_q / n_k + 1.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(mask.astype(float), cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
    for edge in range(0, n_q, bs):  # the block grid
        left.axhline(edge - 0.5, color=INK, lw=0.7)
    for edge in range(0, n_k, bs):
        left.axvline(edge - 0.5, color=INK, lw=0.7)
    left.set_title(f"the mask, {n_q} x {n_k}, blocks of {bs}", fontsize=9.5)
    for (r, c), kind in np.ndenumerate(kinds):  # one cell per block, in token coordinates
        style = {k: v for k, v in _KIND_STYLE[kind].items() if k != "label"}
        w, h = min(bs, n_k - c * bs), min(bs, n_q - r * bs)
        right.add_patch(Rectangle((c * bs - 0.5, r * bs - 0.5), w, h, lw=1.0, **style))
    right.set_xlim(left.get_xlim())
    right.set_ylim(left.get_ylim())
    right.set_aspect("equal")
    s = view.sparsity
    right.set_title(f"skipped {s.skipped:.0%}, full {s.full:.0%}, partial {s.partial:.0%}", fontsize=9.5)
    for ax in (left, right):
        ax.set_xlabel("key (attended to)")
    left.set_ylabel("query (attending)")
    fig.suptitle(title or view.rule, fontsize=11)
    handles = [Patch(**st) for st in _KIND_STYLE.values()]
    handles += [
        Patch(facecolor=MASK_COLORS["allowed"], label="may attend (True)"),
        Patch(facecolor=MASK_COLORS["blocked"], edgecolor=BLOCKED_EDGE, label="blocked (False)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    return fig


def plot_flex_timings(timings, *, title: str | None = None) -> Figure:
    """Milliseconds per attention call against sequence length, one line per path (log-log).

    Args:
        timings: A ``FlexTimings`` (``analysis.time_attention``): ``lengths``, ``seconds``
            (path -> median seconds per length), ``first_call_seconds``, ``skipped``,
            ``threads``, ``shape`` and ``rule``.
        title: Axes title; default names the rule, the shape and the threads.
    """
    lengths = np.asarray(timings.lengths)
    if not timings.seconds or any(len(v) != len(lengths) for v in timings.seconds.values()):
        raise ValueError("timings.seconds must map each path to one time per length.")
    fig = NotebookFigure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for color, (path, seconds) in zip(LINE_COLORS, timings.seconds.items()):
        ax.plot(lengths, 1e3 * np.asarray(seconds), marker="o", color=color, label=path)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.set_xlabel("sequence length (queries = keys)")
    ax.set_ylabel("ms per call (median)")
    batch, heads, dim = timings.shape
    threads = "torch's threads" if timings.threads is None else f"{timings.threads} thread(s)"
    ax.set_title(
        title or f"{timings.rule}: batch {batch}, {heads} heads of {dim}, {threads}, CPU", fontsize=10
    )
    flex = next(iter(timings.seconds.values()))  # flex_attention comes first
    for n, share, y in zip(lengths, timings.skipped, flex):
        note = f"{share:.0%} skipped"
        ax.annotate(note, (n, 1e3 * y), textcoords="offset points", xytext=(0, 8), fontsize=7, ha="center")
    ax.legend(fontsize=8)
    return fig
