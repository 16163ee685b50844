"""Figures of the pretraining experiment: whole epochs on the x axis, an honest accuracy axis."""

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dynmask_viz.plots.experiments import plot_downstream, plot_learning_curves, plot_memorization_gap


def _run(condition: str, seed: int, epochs: int = 4, accuracy: float = 0.66) -> dict:
    """A run record with the fields the figures read (see experiments.results)."""
    return {
        "condition": condition,
        "config": {"dupe_factor": 2, "seed": seed},
        "epochs": [
            {
                "epoch": e,
                "train_loss": 7.0 - 0.1 * e - 0.01 * seed,
                "val_loss": 7.1 - 0.05 * e,
                "memorization_gap": (0.1 * e if condition == "static" else 0.0) + 0.01 * seed,
            }
            for e in range(epochs)
        ],
        "probe": {"median_test_accuracy": accuracy + 0.01 * seed},
    }


RUNS = [_run(c, s) for c in ("static", "dynamic") for s in range(2)]


@pytest.mark.parametrize("plot", [plot_learning_curves, plot_memorization_gap])
def test_epoch_ticks_are_whole_epochs(plot):
    fig = plot(RUNS)  # 4 epochs: matplotlib's default locator would put ticks at 1.5, 2.5, ...
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
        assert all(list(line.get_xdata()) == [1, 2, 3, 4] for line in lines)  # epochs counted from 1


def test_downstream_axis_starts_at_zero():
    fig = plot_downstream(RUNS, baseline=0.65)
    ax = fig.axes[0]
    assert ax.get_ylim() == (0, 100)  # bars of 66 % against 67 % are not drawn as towers
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["median 66.5", "median 66.5"]
