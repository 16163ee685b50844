"""FlexAttention figures: the block picture draws each block in its kind's colour with the
shares in the title; the timing figure draws one log-log line per path, in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dynmask_viz.analysis import FlexTimings, block_sparsity_view
from dynmask_viz.attention_masks import causal, random_drop, sliding_window
from dynmask_viz.plots import plot_block_sparsity, plot_flex_timings
from dynmask_viz.plots._style import LINE_COLORS


def _block_colours(fig: Figure) -> list[tuple]:
    right = fig.axes[1]
    return [p.get_facecolor() for p in right.patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize(
    "rule", [causal(), sliding_window(20) & random_drop(0.2, 0)], ids=["causal", "window_drop"]
)
def test_block_picture_colours_each_block_by_its_kind(rule):
    view = block_sparsity_view(rule, 70, block_size=16)  # a ragged last block (70 = 4 * 16 + 6)
    fig = plot_block_sparsity(view)
    assert isinstance(fig, Figure)
    kinds = view.kinds.flatten().tolist()
    colours = _block_colours(fig)
    assert len(colours) == len(kinds) == 5 * 5
    partial, full = to_rgba(LINE_COLORS[4]), to_rgba(LINE_COLORS[2])
    assert [c == partial for c in colours] == [k == 1 for k in kinds]
    assert [c == full for c in colours] == [k == 2 for k in kinds]
    s = view.sparsity
    assert f"skipped {s.skipped:.0%}, full {s.full:.0%}, partial {s.partial:.0%}" in fig.axes[1].get_title()
    assert fig.texts[0].get_text() == rule.name  # the suptitle
    assert np.array_equal(fig.axes[0].images[0].get_array(), view.mask.numpy().astype(float))


def test_random_drop_leaves_no_full_block():
    # Every block of a random drop holds a dropped pair, so none can skip mask_mod.
    view = block_sparsity_view(causal() & random_drop(0.1, 0), 64, block_size=16)
    assert view.sparsity.full == 0 and view.sparsity.partial > 0
    assert to_rgba(LINE_COLORS[2]) not in _block_colours(plot_block_sparsity(view))


def test_block_picture_rejects_kinds_that_do_not_tile_the_mask():
    view = block_sparsity_view(causal(), 32, block_size=8)
    bad = type(view)(view.rule, view.mask, view.kinds[:2], view.block_size, view.sparsity)
    with pytest.raises(ValueError, match="does not tile"):
        plot_block_sparsity(bad)


def _timings(**seconds) -> FlexTimings:
    return FlexTimings(
        rule="causal",
        lengths=(128, 256, 512),
        seconds=seconds,
        first_call_seconds=(5.0, 4.0, 4.5),
        skipped=(0.0, 0.25, 0.375),
        threads=1,
        repeats=3,
        shape=(1, 2, 16),
    )


def test_timing_figure_draws_one_line_per_path_in_ms():
    timings = _timings(**{"flex": (0.001, 0.003, 0.009), "SDPA + bool mask": (0.001, 0.004, 0.016)})
    fig = plot_flex_timings(timings)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.lines] == ["flex", "SDPA + bool mask"]
    assert np.allclose(ax.lines[1].get_ydata(), [1.0, 4.0, 16.0])
    assert [t.get_text() for t in ax.texts] == ["0% skipped", "25% skipped", "38% skipped"]
    assert "1 thread(s)" in ax.get_title()


def test_timing_figure_rejects_a_path_without_a_time_per_length():
    with pytest.raises(ValueError, match="one time per length"):
        plot_flex_timings(_timings(flex=(0.001, 0.002)))
