"""Figures of chapter 08: the padded batch, the key-padding broadcast, per-example masks,
per-row bars and the next-token table. Inputs are small hand-made tensors (no model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dynmask_viz.plots import (
    plot_batch_masks,
    plot_key_padding_broadcast,
    plot_next_token_readings,
    plot_padded_batch,
    plot_row_values,
)
from dynmask_viz.plots._style import LINE_COLORS

REAL = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
TOKENS = [["[CLS]", "hi", "[SEP]", "[PAD]"], ["[CLS]", "a", "b", "[SEP]"]]


def _image(ax) -> np.ndarray:
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


def test_padded_batch_grid_shows_real_and_padding():
    fig = plot_padded_batch(TOKENS, REAL)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert np.array_equal(_image(ax), REAL.numpy())  # 1 = real (blue), 0 = padding (grey)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [t for row in TOKENS for t in row]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["row 0: 3 real", "row 1: 4 real"]


def test_key_padding_broadcast_repeats_the_row_for_every_query():
    key_padding = REAL.bool()[:, None, None, :]
    fig = plot_key_padding_broadcast(key_padding, heads=12, tokens=TOKENS)
    strips, squares = fig.axes[:2], fig.axes[2:4]  # subplots(2, B): the strips first
    for b in range(2):
        assert np.array_equal(_image(strips[b]), REAL[b : b + 1].numpy())
        square = _image(squares[b])
        assert square.shape == (4, 4) and (square == REAL[b].numpy()[None, :]).all()
        assert "12 heads" in squares[b].get_title()
    with pytest.raises(ValueError, match=r"\[B, 1, 1, K\]"):
        plot_key_padding_broadcast(REAL.bool(), heads=12)
    with pytest.raises(ValueError, match="bool"):
        plot_key_padding_broadcast(REAL[:, None, None, :], heads=12)


def test_batch_masks_one_panel_per_example():
    causal = torch.ones(4, 4, dtype=torch.bool).tril()
    masks = REAL.bool()[:, None, None, :] & causal  # [2, 1, 4, 4]
    fig = plot_batch_masks(masks, TOKENS, titles=["short", "long"])
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2
    for b, ax in enumerate(panels):
        assert np.array_equal(_image(ax), masks[b, 0].numpy().astype(float))
    assert panels[0].get_title().startswith("short")
    with pytest.raises(ValueError, match="titles"):
        plot_batch_masks(masks, TOKENS, titles=["one"])
    with pytest.raises(ValueError, match="bool"):
        plot_batch_masks(masks.float())
    with pytest.raises(ValueError, match="2 rows of 4"):
        plot_batch_masks(masks, TOKENS[:1])


def test_row_values_bars_label_exact_zeros_on_a_log_axis():
    values = {"right": [1e-6, 0.0], "left, no position_ids": [2.5, 0.0]}
    fig = plot_row_values(values, ["row 0", "row 1"], reference=1e-4, reference_label="tolerance")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([1e-6, 1e-9, 2.5, 1e-9])  # zeros drawn at the floor ...
    assert [t.get_text() for t in ax.texts] == ["1e-06", "0", "2.5", "0"]  # ... and labelled 0
    with pytest.raises(ValueError, match="one value per label"):
        plot_row_values(values, ["row 0"])
    linear = plot_row_values({"cos": [0.5, 1.0]}, ["a", "b"], log=False, ylabel="cosine")
    assert linear.axes[0].get_yscale() == "linear"


def test_next_token_table_colours_matches():
    reading = lambda ok: SimpleNamespace(
        tokens=["the", "sea"], probabilities=torch.tensor([0.5, 0.25]), matches_alone=torch.tensor(ok)
    )
    comparison = SimpleNamespace(
        prompts=["The storm", "A longer prompt"],
        readings={"alone": reading([True, True]), "right padding, logits[:, -1]": reading([False, True])},
    )
    fig = plot_next_token_readings(comparison)
    cells = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    colours = [p.get_facecolor() for p in cells]
    green, red = to_rgba(LINE_COLORS[2]), to_rgba(LINE_COLORS[1])
    assert colours == [green, green, red, green]  # column by column
    assert "the\n0.50" in [t.get_text() for t in fig.axes[0].texts]
    comparison.readings["alone"].texts = [" the", "\n"]  # decoded: shown quoted
    shown = [t.get_text() for t in plot_next_token_readings(comparison).axes[0].texts]
    assert shown[:2] == ["' the'\n0.50", "'\\n'\n0.25"]
