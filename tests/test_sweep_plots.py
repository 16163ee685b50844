"""Figures of the dupe-factor sweep: they build, and draw the numbers of the summary and lines given."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.patches import Rectangle

from dynmask_viz.experiments.sweep_stats import summarize_sweep
from dynmask_viz.plots import plot_dupe_response, plot_paired_differences, plot_sweep_curves
from dynmask_viz.plots.sweep import ROBERTA_DIFFERENCE

GAP = {1: 0.4, 2: 0.2, 5: 0.1, None: 0.0}  # k -> memorization gap of seed 0; seeds add 0.01 * seed


def _line(k: int | None, seed: int) -> dict:
    epochs = 3
    val = [7.0 - 0.1 * e - (0.02 * e if k is None else 0.0) + 0.01 * seed for e in range(epochs)]
    return {
        "condition": "dynamic" if k is None else "static",
        "dupe_factor": k,
        "seed": seed,
        "memorization_gap": GAP[k] + 0.01 * seed,
        "val_loss": val[-1],
        "val_accuracy": 0.1 + 0.01 * seed,
        "probe_test_accuracy": 0.60 + (0.01 if k is None else 0.0) + 0.002 * seed,
        "curves": {
            "epoch": [1, 2, 3],
            "val_loss": val,
            "val_accuracy": [0.05 + 0.01 * e + 0.001 * seed for e in range(epochs)],
        },
    }


LINES = [_line(k, s) for s in range(3) for k in (1, 2, 5, None)]
SUMMARY = summarize_sweep(LINES) | {"unigram_baseline": {"loss": 6.75, "accuracy": 0.043}}


def test_dupe_response_draws_seeds_means_and_the_dynamic_band():
    fig = plot_dupe_response(SUMMARY)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [sorted(np.round(c.get_offsets()[:, 1], 6)) for c in dots] == [
        sorted(round(GAP[k] + 0.01 * s, 6) for s in range(3)) for k in (1, 2, 5, None)
    ]
    means = [line.get_ydata()[0] for line in ax.get_lines() if line.get_marker() == "o"]
    assert means == pytest.approx([GAP[k] + 0.01 for k in (1, 2, 5, None)])
    band = [p for p in ax.patches if isinstance(p, Rectangle)]
    lo, hi = SUMMARY["conditions"]["dynamic"]["memorization_gap"]["ci95"]
    assert (
        len(band) == 1
        and band[0].get_y() == pytest.approx(lo)
        and band[0].get_height() == pytest.approx(hi - lo)
    )
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:3] == ["static\nk=1", "static\nk=2", "static\nk=5"] and labels[3].startswith("dynamic")


def test_dupe_response_loss_has_the_unigram_line_and_percent_axes():
    ax = plot_dupe_response(SUMMARY, "val_loss").axes[0]
    assert any(list(line.get_ydata()) == [6.75, 6.75] for line in ax.get_lines())
    ax = plot_dupe_response(SUMMARY, "val_accuracy").axes[0]
    assert any(list(line.get_ydata()) == pytest.approx([4.3, 4.3]) for line in ax.get_lines())
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_dupe_response(SUMMARY, "accuracy")
    with pytest.raises(ValueError, match="sweep's summary dict"):
        plot_dupe_response({"rows": []})


def test_curves_are_seed_means_from_epoch_one_with_bands():
    fig = plot_sweep_curves(LINES, unigram=SUMMARY["unigram_baseline"])
    loss_ax = fig.axes[0]
    curves = {
        line.get_label().split(" (")[0]: line for line in loss_ax.get_lines() if line.get_label()[0] != "_"
    }
    marks = [line.get_xdata()[0] for line in loss_ax.get_lines() if line.get_linestyle() == ":"]
    assert marks[:2] == [1, 2]  # where static k = 1 and k = 2 start repeating (k = 5 is past epoch 3)
    assert list(curves) == ["static k=1", "static k=2", "static k=5", "dynamic", "unigram baseline"]
    dyn = [line for line in LINES if line["condition"] == "dynamic"]
    assert list(curves["dynamic"].get_xdata()) == [1, 2, 3]
    assert curves["dynamic"].get_ydata() == pytest.approx(np.mean([r["curves"]["val_loss"] for r in dyn], 0))
    bands = [c for c in loss_ax.collections if isinstance(c, PolyCollection)]
    top = max(bands[-1].get_paths()[0].vertices[:, 1])
    assert len(bands) == 4 and top == pytest.approx(max(max(r["curves"]["val_loss"]) for r in dyn))
    assert list(curves["unigram baseline"].get_ydata()) == [6.75, 6.75]
    with pytest.raises(ValueError, match="each with its 'curves'"):
        plot_sweep_curves([{"condition": "dynamic"}])


def test_paired_differences_with_roberta_scale():
    fig = plot_paired_differences(SUMMARY)
    FigureCanvasAgg(fig).draw()
    gap_ax, _, probe_ax = fig.axes[:3]
    means = [line.get_ydata()[0] for line in gap_ax.get_lines() if line.get_marker() == "o"]
    assert means == pytest.approx([GAP[k] - GAP[None] for k in (1, 2, 5)])
    probe_means = [line.get_ydata()[0] for line in probe_ax.get_lines() if line.get_marker() == "o"]
    assert probe_means == pytest.approx([-1.0, -1.0, -1.0])  # points: static is 1 point below dynamic
    band = [p for p in probe_ax.patches if isinstance(p, Rectangle)][0]
    assert (band.get_y(), band.get_height()) == pytest.approx((-ROBERTA_DIFFERENCE, 2 * ROBERTA_DIFFERENCE))
    assert [t.get_text() for t in gap_ax.get_xticklabels()] == ["k=1", "k=2", "k=5"]
    with pytest.raises(ValueError, match="no paired differences"):
        plot_paired_differences(summarize_sweep([line for line in LINES if line["condition"] == "static"]))
