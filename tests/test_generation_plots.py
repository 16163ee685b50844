"""Tests for dynmask_viz.plots.generation: figures of the label shift, the is_causal rows and the
attention of each generated token (what each panel holds, not how it looks)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from dynmask_viz.causal_lm import PRESETS, build_model, train_bpe
from dynmask_viz.formulas import demo_is_causal_decoding
from dynmask_viz.hf import generate_with_cache, next_token_view
from dynmask_viz.plots import plot_generation_attention, plot_is_causal_rows, plot_label_shift
from dynmask_viz.plots._style import MASK_CMAP


@pytest.fixture(scope="module")
def lm():
    tokenizer = train_bpe(["the cat sat on the mat. the dog sat on the log."] * 4, 300)
    model = build_model(
        PRESETS["fast"].replace(vocab_size=300, block_size=64), tokenizer, attn_implementation="eager"
    )
    return model.eval(), tokenizer


def test_generation_attention_rows_grow_by_one(lm):
    model, tokenizer = lm
    trace = generate_with_cache(model, tokenizer, "the cat", steps=4)
    fig = plot_generation_attention(trace, layer=0)
    assert isinstance(fig, Figure)
    mask_ax, weight_ax = fig.axes[:2]
    allowed = mask_ax.get_images()[0].get_array()
    weights = weight_ax.get_images()[0].get_array()
    prompt = len(trace.prompt_ids)
    assert mask_ax.get_images()[0].cmap is MASK_CMAP
    assert allowed.shape == weights.shape == (4, prompt + 3)
    for s in range(4):  # row s: prompt + s keys exist, the rest is not cached yet
        assert np.asarray(allowed[s]).tolist() == [1.0] * (prompt + s) + [0.0] * (3 - s)
        assert weights.mask[s].tolist() == [False] * (prompt + s) + [True] * (3 - s)
        np.testing.assert_allclose(weights[s, : prompt + s], trace.steps[s].attention[0].mean(0), rtol=1e-6)
    labels = [t.get_text() for t in mask_ax.get_yticklabels()]
    assert labels[1].startswith("1: ") and trace.steps[1].token in labels[1]
    assert "(layer 0, " in weight_ax.get_title()
    n_layers = trace.steps[0].attention.shape[0]
    last = plot_generation_attention(trace).axes[1].get_title()  # layer=-1: named by its index
    assert f"(last layer ({n_layers - 1}), " in last and "-1" not in last


def test_label_shift_shows_labels_one_to_the_left(lm):
    model, tokenizer = lm
    view = next_token_view(model, tokenizer, "the dog sat on the log.")
    fig = plot_label_shift(view, max_tokens=5)
    texts = {
        (round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in fig.axes[0].texts
    }
    for t in range(4):
        assert texts[(t, 2)] == texts[(t + 1, 3)]  # the label of t is the input of t + 1
    assert "(none)" not in texts.values() or len(view.tokens) <= 5
    with pytest.raises(ValueError, match="max_tokens"):
        plot_label_shift(view, max_tokens=1)


def test_is_causal_rows():
    fig = plot_is_causal_rows(demo_is_causal_decoding(6))
    top, bottom = (ax.get_images()[0].get_array() for ax in fig.axes[:2])
    assert np.asarray(top).tolist() == [[1.0] + [0.0] * 6]
    assert np.asarray(bottom).tolist() == [[1.0] * 7]
