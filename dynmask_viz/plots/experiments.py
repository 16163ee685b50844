"""Figures of the static-vs-dynamic pretraining experiment (:mod:`dynmask_viz.experiments`).

Inputs are run records (``results.json`` dicts, see :func:`dynmask_viz.experiments.load_runs`);
every function returns a ``matplotlib.figure.Figure`` and never shows it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._style import INK, SCHEME_COLORS

LOSS_KEYS = ("train_loss", "val_loss")  # the two panels of plot_learning_curves


def _by_condition(runs: Sequence[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in runs:
        out.setdefault(r["condition"], []).append(r)
    if not out:
        raise ValueError("No runs to plot: pass the records of at least one run (load_runs(folder)).")
    return dict(sorted(out.items(), key=lambda kv: kv[0] != "static"))


def _curves(ax, runs: Sequence[dict], key: str, ylabel: str) -> None:
    """One thin line per seed, a thick line for the median over seeds (per condition)."""
    for cond, rs in _by_condition(runs).items():
        color = SCHEME_COLORS.get(cond, "gray")
        for r in rs:
            ax.plot(
                [e["epoch"] + 1 for e in r["epochs"]],
                [e[key] for e in r["epochs"]],
                color=color,
                alpha=0.3,
                lw=1,
            )
        n = min(len(r["epochs"]) for r in rs)
        med = [statistics.median(r["epochs"][i][key] for r in rs) for i in range(n)]
        ax.plot(range(1, n + 1), med, color=color, lw=2.2, label=f"{cond} (median of {len(rs)})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1..E: no tick at 2.5
    ax.set_ylabel(ylabel)


def _floors(baseline: float | Mapping[str, float] | None) -> dict[str, float]:
    """``baseline`` as ``{panel key: loss}``; a number applies to both panels."""
    if baseline is None:
        return {}
    if isinstance(baseline, Mapping):
        unknown = set(baseline) - set(LOSS_KEYS)
        if unknown:
            raise ValueError(
                f"baseline keys must be among {LOSS_KEYS} (the two panels); got {sorted(unknown)}."
            )
        floors = dict(baseline)
    else:
        floors = dict.fromkeys(LOSS_KEYS, baseline)
    for key, value in floors.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"baseline[{key!r}] must be a finite loss in nats; got {value!r}.")
    return {k: float(v) for k, v in floors.items()}


def plot_learning_curves(
    runs: Sequence[dict],
    *,
    baseline: float | Mapping[str, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Training loss and validation MLM loss (fixed evaluation masks) per epoch.

    Args:
        runs: Run records of one or both conditions (several seeds each).
        baseline: The floor each loss is read against, drawn as a dotted line: the unigram
            model's loss (``experiments.baselines.unigram_baseline``), one number for both panels
            or ``{"train_loss": ..., "val_loss": ...}`` (scored on each panel's own text; a panel
            not named gets no line).
        title: Figure title.

    Raises:
        ValueError: ``baseline`` names another panel or holds a non-finite value.
    """
    floors = _floors(baseline)
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    _curves(left, runs, "train_loss", "training MLM loss (its own masks)")
    _curves(right, runs, "val_loss", "validation MLM loss (fixed masks)")
    for ax, key in ((left, "train_loss"), (right, "val_loss")):
        if key in floors:
            ax.axhline(floors[key], color=INK, ls=":", lw=1.2, label=f"unigram baseline ({floors[key]:.2f})")
    left.set_title("training")
    right.set_title("held-out articles")
    right.legend()
    if "train_loss" in floors:
        left.legend()
    fig.suptitle(title or "Learning curves: static vs dynamic masking")
    fig.tight_layout()
    return fig


def plot_memorization_gap(runs: Sequence[dict], *, title: str | None = None) -> Figure:
    """Loss on fresh masks minus loss on the masks used in training, per epoch.

    A positive gap means the model does better on masks it has been trained on than on new
    masks of the same sequences: it has partly memorised *the masks*, not just the text.
    """
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    _curves(ax, runs, "memorization_gap", "fresh-mask loss - trained-mask loss")
    ax.axhline(0, color="black", lw=0.8)
    dupe = runs[0]["config"].get("dupe_factor") if runs else None
    if dupe and any(r["condition"] == "static" for r in runs):
        n = max(len(r["epochs"]) for r in runs)
        for k in range(dupe, n, dupe):
            ax.axvline(k + 1, color=SCHEME_COLORS["static"], lw=0.6, ls=":")
        ax.text(
            0.01,
            0.97,
            f"dotted: static masks come round again (every {dupe} epochs)",
            transform=ax.transAxes,
            va="top",
            fontsize=9,
            color=SCHEME_COLORS["static"],
        )
    ax.legend(loc="lower right")
    ax.set_title(title or "Memorization gap on training sequences")
    fig.tight_layout()
    return fig


def plot_downstream(
    runs: Sequence[dict],
    *,
    baseline: float | None = None,
    roberta: dict | None = None,
    title: str | None = None,
) -> Figure:
    """Probe test accuracy per pretraining seed (dots) and median (bar), next to RoBERTa's Table 1.

    The accuracy axis runs from 0 to 100 %, so bar heights compare honestly; the dots show the
    spread between seeds and the labels give the medians.

    Args:
        runs: Run records with a ``probe`` entry.
        baseline: Median test accuracy of the probe on an untrained encoder (a dashed line).
        roberta: ``{condition: {task: score}}`` (default :data:`ROBERTA_TABLE1`), shown as a table.
    """
    from ..experiments.results import ROBERTA_TABLE1  # here: importing plots loads no training code

    roberta = roberta or ROBERTA_TABLE1
    groups = _by_condition([r for r in runs if r.get("probe")])
    fig = Figure(figsize=(10, 3.8))
    ax, tab = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    for x, (cond, rs) in enumerate(groups.items()):
        accs = [100 * r["probe"]["median_test_accuracy"] for r in rs]
        color = SCHEME_COLORS.get(cond, "gray")
        ax.bar(x, statistics.median(accs), color=color, alpha=0.35, width=0.6)
        ax.scatter([x] * len(accs), accs, color=color, zorder=3)
        ax.text(
            x, max(accs) + 2, f"median {statistics.median(accs):.1f}", ha="center", va="bottom", fontsize=9
        )
    if baseline is not None:
        ax.axhline(100 * baseline, color="black", ls="--", lw=1, label="no pretraining")
        ax.legend(loc="upper right")
    # From 0: a cut axis would blow differences of a few points (noise, here) up into towers.
    ax.set_ylim(0, 100)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set_ylabel("Rotten Tomatoes test accuracy, %")
    ax.set_title("This miniature (dots: pretraining seeds)")
    tasks = list(next(iter(roberta.values())))
    tab.axis("off")
    table = tab.table(
        cellText=[[f"{roberta[c][t]:.1f}" for t in tasks] for c in roberta],
        rowLabels=list(roberta),
        colLabels=tasks,
        loc="center",
        cellLoc="center",
    )
    table.scale(1, 1.8)
    tab.set_title("RoBERTa Table 1 (BERT-base, 1M steps)")
    fig.suptitle(title or "Downstream: static vs dynamic masking")
    fig.tight_layout()
    return fig
