"""Attention figures: they draw what they are given, label the tokens and refuse bad input."""

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dynmask_viz.attention_masks import (
    causal,
    document,
    full,
    global_tokens,
    per_document,
    prefix_lm,
    random_drop,
    sliding_window,
)
from dynmask_viz.formulas import attention_steps, demo_minus_inf_row
from dynmask_viz.hf import AttentionResult
from dynmask_viz.plots import (
    MASK_COLORS,
    plot_attention,
    plot_attention_steps,
    plot_mask,
    plot_mask_catalogue,
    plot_mask_effect,
)

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]"]


def _images(fig: Figure) -> list:
    return [im for ax in fig.axes for im in ax.get_images()]


def _tick_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _fake_result(
    n: int, mask: torch.Tensor | None = None, *, seed: int = 0, layers: int = 2, heads: int = 3
) -> AttentionResult:
    """An AttentionResult with random row-stochastic weights that respect ``mask``."""
    gen = torch.Generator().manual_seed(seed)
    allowed = torch.ones(1, 1, n, n, dtype=torch.bool) if mask is None else mask.reshape(1, -1, n, n)
    logits = torch.randn(1, layers, heads, n, n, generator=gen)
    weights = torch.softmax(logits.masked_fill(~allowed[:, None], float("-inf")), dim=-1)
    tokens = [f"t{i}" for i in range(n)]
    return AttentionResult(
        tokens=[tokens],
        input_ids=torch.arange(n)[None],
        padding_mask=torch.ones(1, n, dtype=torch.bool),
        attentions=weights,
        applied_mask=allowed,
        model_mask=allowed,
        outputs=None,
        rule="causal" if mask is not None else "padding",
    )


def test_plot_mask_shows_the_mask_with_token_labels():
    mask = causal().dense(1, 1, 5)
    fig = plot_mask(mask, TOKENS, title="causal")
    assert isinstance(fig, Figure)
    (image,) = _images(fig)
    np.testing.assert_array_equal(np.asarray(image.get_array()), mask[0, 0].numpy().astype(float))
    assert _tick_texts(fig.axes[0]) == TOKENS
    assert "15/25 allowed" in fig.axes[0].get_title()
    # True is drawn in the "allowed" colour
    assert image.cmap(image.norm(1.0))[:3] == pytest.approx(
        tuple(int(MASK_COLORS["allowed"][i : i + 2], 16) / 255 for i in (1, 3, 5))
    )


def test_plot_mask_accepts_a_rule_and_reports_empty_rows():
    fig = plot_mask(causal(), TOKENS)
    assert "causal" in fig.axes[0].get_title()
    empty = torch.ones(3, 3, dtype=torch.bool)
    empty[1] = False
    assert "1 empty row" in plot_mask(empty).axes[0].get_title()
    with pytest.raises(ValueError, match="tokens"):
        plot_mask(causal())
    with pytest.raises(ValueError, match="4 tokens"):
        plot_mask(causal().dense(1, 1, 5), TOKENS[:4])


def test_plot_attention_greys_out_blocked_cells():
    mask = causal().dense(1, 1, 5)[0, 0]
    weights = torch.softmax(torch.randn(5, 5).masked_fill(~mask, float("-inf")), -1)
    fig = plot_attention(weights, TOKENS, mask=mask)
    (image,) = _images(fig)
    shown = image.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), ~mask.numpy())
    assert len(fig.axes) == 2  # heatmap + colorbar
    # values are written in small matrices only
    assert len(fig.axes[0].texts) == 25
    assert len(plot_attention(torch.rand(20, 20)).axes[0].texts) == 0
    with pytest.raises(ValueError, match=r"\[Q, K\]"):
        plot_attention(torch.rand(2, 5, 5))


def test_plot_mask_effect_four_panels_and_centred_difference():
    n = 6
    mask = sliding_window(2).dense(1, 1, n)
    before, after = _fake_result(n), _fake_result(n, mask, seed=1)
    fig = plot_mask_effect(before, after, layer=-1, head="mean")
    images = _images(fig)
    assert len(images) == 4
    np.testing.assert_array_equal(np.asarray(images[0].get_array()), mask[0, 0].numpy().astype(float))
    want_before = before.example()[-1].mean(0).numpy()
    want_after = after.example()[-1].mean(0).numpy()
    np.testing.assert_allclose(np.asarray(images[1].get_array()), want_before)
    np.testing.assert_allclose(np.asarray(images[2].get_array()), want_after)
    np.testing.assert_allclose(np.asarray(images[3].get_array()), want_after - want_before)
    assert images[1].get_clim() == images[2].get_clim()  # before/after share one scale
    lo, hi = images[3].get_clim()
    assert lo == pytest.approx(-hi) and images[3].cmap.name.startswith("RdBu")
    assert "causal" in fig.get_suptitle()
    # one head, and a per-head mask
    fig = plot_mask_effect(before, after, layer=0, head=2)
    np.testing.assert_allclose(np.asarray(_images(fig)[2].get_array()), after.example()[0, 2].numpy())


@pytest.mark.parametrize(
    "layer, name", [(-1, "last layer (2)"), (2, "last layer (2)"), (-3, "layer 0"), (1, "layer 1")]
)
def test_plot_mask_effect_titles_name_the_real_layer(layer, name):
    """A reader cannot look up "layer -1": the title gives the index (and says it is the last)."""
    before = _fake_result(5, layers=3)
    after = _fake_result(5, causal().dense(1, 1, 5), seed=1, layers=3)
    title = plot_mask_effect(before, after, layer=layer).get_suptitle()
    assert f"{name}," in title and "-" not in title.split(":")[1]


def test_plot_mask_effect_refuses_mismatches():
    before, other = _fake_result(5), _fake_result(6)
    with pytest.raises(ValueError, match="same text"):
        plot_mask_effect(before, other)
    with pytest.raises(ValueError, match="layer"):
        plot_mask_effect(before, before, layer=7)
    with pytest.raises(ValueError, match="head"):
        plot_mask_effect(before, before, head=3)


@pytest.mark.parametrize("n", [24, 64])
def test_token_labels_stay_readable_for_long_inputs(n):
    result = _fake_result(n, layers=1, heads=1)
    fig = plot_mask_effect(result, result, layer=0, head=0)
    for ax in (ax for ax in fig.axes if ax.get_images()):  # heatmaps, not colorbars
        labels = ax.get_yticklabels()
        if labels and labels[0].get_text():
            assert len(labels) == n and labels[0].get_fontsize() >= 5.5
    # one row of the heatmap is at least as tall as its label, after the layout is done
    fig.draw_without_rendering()
    ax = fig.axes[0]
    height_pt = ax.get_position().height * fig.get_figheight() * 72 / n
    assert height_pt >= ax.get_yticklabels()[0].get_fontsize()


def test_plot_attention_steps_marks_blocked_and_nan_cells():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(5, 4, generator=gen) for _ in range(3))
    steps = attention_steps(q, k, v, causal().dense(1, 1, 5)[0, 0])
    fig = plot_attention_steps(steps, ["a", "b", "c", "d", "e"])
    images = _images(fig)
    assert len(images) == 4
    np.testing.assert_allclose(np.asarray(images[0].get_array()), steps.scores.numpy(), rtol=1e-6)
    masked = images[2].get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(masked), ~causal().dense(1, 1, 5)[0, 0].numpy())
    assert "min" in [t.get_text() for t in fig.axes[2].texts]
    nan_fig = plot_attention_steps(demo_minus_inf_row())
    texts = [t.get_text() for ax in nan_fig.axes for t in ax.texts]
    assert "-inf" in texts and "nan" in texts
    # leading dims are selected with index=
    batched = attention_steps(q.expand(2, 3, 5, 4), k.expand(2, 3, 5, 4), v.expand(2, 3, 5, 4))
    with pytest.raises(ValueError, match=r"\[Q, K\]"):
        plot_attention_steps(batched)
    assert len(_images(plot_attention_steps(batched, index=(1, 2)))) == 4


def test_plot_mask_catalogue_one_panel_per_rule():
    seg = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2]])
    rules = {
        "full": full(),
        "causal": causal(),
        "prefix-LM": prefix_lm(3),
        "documents": document(seg),
        "window & causal": causal() & sliding_window(3),
        "random": random_drop(0.3, seed=1),
    }
    fig = plot_mask_catalogue(rules, 8, title="catalogue")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(rules)
    for ax, (name, rule) in zip(visible, rules.items()):
        assert ax.get_title().startswith(name)
        np.testing.assert_array_equal(
            np.asarray(ax.get_images()[0].get_array()), rule.dense(1, 1, 8)[0, 0].numpy().astype(float)
        )
    assert fig.get_suptitle() == "catalogue"
    assert len(plot_mask_catalogue({"eye": torch.eye(4, dtype=torch.bool)}, 4).axes) == 1
    with pytest.raises(ValueError, match="at least one"):
        plot_mask_catalogue({}, 4)


def test_catalogue_titles_are_whole_and_fit_their_panel():
    """Chapter 01's catalogue: long rule names are wrapped, never cut with an ellipsis, and no
    title runs into its neighbour's."""
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]])
    rules = {
        "global token 0 | local band": sliding_window(2, causal=False) | global_tokens([0]),
        "causal & window": causal() & sliding_window(2, causal=False),
        "prefix-LM per document (n=2)": per_document(prefix_lm(2), segments),
        "a display name far too long to fit on one line of a panel": full(),
    }
    fig = plot_mask_catalogue(rules, 12, cols=2)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # runs the layout
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for ax, (name, rule) in zip(axes, rules.items()):
        title = ax.get_title()
        assert "\u2026" not in title and "..." not in title
        flat = "".join(title.split())
        assert "".join(name.split()) in flat
        if rule.name != name:
            assert "".join(rule.name.split()) in flat
    boxes = [ax.title.get_window_extent(renderer) for ax in axes]
    for left, right in ((boxes[0], boxes[1]), (boxes[2], boxes[3])):  # one row each
        assert left.x1 <= right.x0, "neighbouring titles overlap"
    assert all(fig.bbox.x0 <= b.x0 and b.x1 <= fig.bbox.x1 for b in boxes)


def test_figures_render_to_png():
    fig = plot_mask_catalogue({"causal": causal()}, 4)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


# --- exercise checks of chapters 01 and 03 (dynmask_viz.teaching.exercises_attention) ------------------


def test_exercise_checks_accept_right_answers_and_explain_wrong_ones():
    from dynmask_viz.teaching.exercises_attention import (
        check_blocked_weight_factor,
        check_empty_row_weights,
        check_previous_and_self_mask,
    )

    assert check_previous_and_self_mask(sliding_window(2))
    assert check_previous_and_self_mask(causal() & sliding_window(1, causal=False))
    assert check_previous_and_self_mask(sliding_window(2).dense(1, 1, 6)[0, 0])
    for wrong, words in (
        (causal(), "full causal"),
        (sliding_window(2).dense(1, 1, 6)[0, 0].T, "transpose"),
        (sliding_window(2).dense(1, 1, 6).int(), "bool"),
        (None, "No answer"),
        (torch.eye(6, dtype=torch.bool), "only itself"),
        ("causal", "MaskRule"),
    ):
        result = check_previous_and_self_mask(wrong)
        assert not result and words in str(result)
    assert check_empty_row_weights(0.2) and check_empty_row_weights([0.2] * 5)
    assert check_empty_row_weights(torch.full((5,), 0.2))
    assert "NaN" in str(check_empty_row_weights(float("nan")))
    assert "SDPA" in str(check_empty_row_weights([0.0] * 5))
    assert not check_empty_row_weights("uniform") and not check_empty_row_weights(None)
    assert check_blocked_weight_factor(2.718) and not check_blocked_weight_factor(0.0)
    assert "other way" in str(check_blocked_weight_factor(0.368))


def _layer0_scores(model, tokenizer, text):
    """Chapter 03's scores: layer-0 attention, mean of heads, ``[1, 1, L, L]``."""
    from dynmask_viz.hf import extract_attention

    return extract_attention(model, tokenizer, text).attentions[:, 0].mean(1, keepdim=True)


def test_check_keys_per_row_measures_the_count_itself(tokenizer):
    """Chapter 03, exercise 2: the call holds no expected value; the check runs the rule."""
    import inspect

    from _tiny_models import tiny_bert_for

    from dynmask_viz.teaching.exercises_attention import check_keys_per_row

    assert "expected" not in inspect.signature(check_keys_per_row).parameters
    model, text = tiny_bert_for(tokenizer), "The cat sat on the mat"
    scores = _layer0_scores(model, tokenizer, text)
    assert check_keys_per_row(2, model, tokenizer, text, scores)
    assert check_keys_per_row("3", model, tokenizer, text, scores, k=3)
    assert not check_keys_per_row(3, model, tokenizer, text, scores)  # k=2 by default: the exercise's
    assert "every key" in str(check_keys_per_row(8, model, tokenizer, text, scores))  # 8 tokens
    assert not check_keys_per_row("two", model, tokenizer, text, scores)
    assert not check_keys_per_row(None, model, tokenizer, text, scores)


def test_check_keys_per_row_uses_the_given_scores(tokenizer):
    """The rule is built from the notebook's scores, not rebuilt inside the check."""
    from _tiny_models import tiny_bert_for

    from dynmask_viz.attention_masks import MaskError
    from dynmask_viz.teaching.exercises_attention import check_keys_per_row

    model, text = tiny_bert_for(tokenizer), "The cat sat on the mat"
    other_text = torch.rand(1, 1, 9, 9, generator=torch.Generator().manual_seed(0))  # 9 keys, not 8
    with pytest.raises(MaskError, match="q_len=9"):  # the scores given, over 9 tokens
        check_keys_per_row(2, model, tokenizer, text, other_text)


def test_check_keys_per_row_refuses_a_premise_with_no_single_answer(tokenizer):
    """On a decoder the causal mask cuts future keys out of topk_keys' choice: row 0 keeps one
    key whatever k, so no count is right for every row. The notebook author is told (an error),
    for every answer, instead of students being refused whatever they answer."""
    from _tiny_models import tiny_gpt2

    from dynmask_viz.teaching.exercises_attention import check_keys_per_row

    model, text = tiny_gpt2(tokenizer), "The cat sat on the mat"
    scores = _layer0_scores(model, tokenizer, text)
    for answer in (None, 1, 2):
        with pytest.raises(ValueError, match=r"between 1 and 2 non-zero weights"):
            check_keys_per_row(answer, model, tokenizer, text, scores)


def test_check_model_mask_runs_the_mask_checker():
    from transformers import BertConfig, BertModel

    from dynmask_viz.hf import to_hf_mask
    from dynmask_viz.teaching.exercises_attention import check_model_mask

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        attn_implementation="eager",
    )
    model = BertModel(config).eval()
    ids = torch.arange(1, 8)[None]
    rule = sliding_window(3)
    assert check_model_mask(to_hf_mask(rule, model, ids), model, ids, rule)
    assert "problem" in str(check_model_mask(rule.dense(1, 1, 7)[0, 0].long(), model, ids, rule))
    assert "allows" in str(check_model_mask(to_hf_mask(causal(), model, ids), model, ids, rule))
    assert not check_model_mask(None, model, ids, rule) and not check_model_mask([1, 2], model, ids, rule)


def test_plot_layer_similarity_one_line_per_mask():
    from dynmask_viz.plots import plot_layer_similarity

    fig = plot_layer_similarity({"causal": [1.0, 0.9, 0.8], "window": [1.0, 0.7, 0.6]})
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in ("causal", "window")]
    assert [list(line.get_ydata()) for line in lines] == [[1.0, 0.9, 0.8], [1.0, 0.7, 0.6]]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["emb", "1", "2"]
    with pytest.raises(ValueError):
        plot_layer_similarity({})
