"""AttentionExplorer driven programmatically: masks really applied, cached passes, controls."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from dynmask_viz.analysis import RULES, build_rule
from dynmask_viz.assets import is_cached
from dynmask_viz.widgets import AttentionExplorer

pytestmark = pytest.mark.skipif(
    not is_cached("minilm"), reason="offline default model missing: `make assets`"
)
TEXT = "The cat sat on the mat because it was tired."
LONG = (
    "Anarchism is a political philosophy that advocates self-governed societies based on voluntary "
    "institutions, often described as stateless societies, although several authors have defined them "
    "more specifically as institutions based on non-hierarchical free associations."
)


@pytest.fixture(scope="module")
def loaded():
    from dynmask_viz.hf import load_model, load_tokenizer

    return load_model(), load_tokenizer()


@pytest.fixture
def ex(loaded):
    model, tokenizer = loaded
    return AttentionExplorer(TEXT, model, tokenizer, rule="causal")


def test_causal_mask_is_applied(ex):
    s = ex.state
    n = len(s.tokens)
    assert s.tokens[0] == "[CLS]" and s.tokens[-1] == "[SEP]" and s.mask.shape == (n, n)
    assert torch.equal(s.mask.bool(), torch.ones(n, n, dtype=torch.bool).tril())
    assert float(s.with_mask.triu(1).abs().max()) == 0.0  # no weight on future keys
    assert float(s.without.triu(1).sum()) > 0.1  # the encoder itself attends both ways
    torch.testing.assert_close(s.with_mask.sum(-1), torch.ones(n))
    torch.testing.assert_close(s.difference, s.with_mask - s.without)
    assert isinstance(ex.figure, Figure) and ex.image.value[:4] == b"\x89PNG"


def test_layer_and_head_changes_run_no_forward_pass(ex):
    calls, image, before = ex.forward_calls, ex.image.value, ex.state.without.clone()
    ex.set(layer=3, head=7)
    assert ex.forward_calls == calls
    assert (ex.state.layer, ex.state.head) == (3, 7)
    assert not torch.allclose(ex.state.without, before) and ex.image.value != image
    ex.controls["head"].value = 2  # like the slider in the browser
    assert ex.state.head == 2 and ex.forward_calls == calls


def test_average_heads(ex, loaded):
    from dynmask_viz.hf import extract_attention

    s = ex.set(average_heads=True, layer=1)
    assert s.head is None
    base = extract_attention(*loaded, TEXT).example(0)[1]
    torch.testing.assert_close(s.without, base.mean(0))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_masks_what_it_says(ex, rule):
    s = ex.set(rule=rule, head=4)
    n = len(s.tokens)
    blocked = s.mask == 0
    assert float(s.with_mask[blocked].abs().sum()) == 0.0
    torch.testing.assert_close(s.with_mask.sum(-1), torch.ones(n))
    if rule not in ("topk_keys", "random_drop", "drop_stopwords"):  # data-free rules
        expected = build_rule(rule, {p: ex.controls[p].value for p in RULES[rule]}, s.tokens, None)
        assert torch.equal(s.mask.bool(), expected.dense(1, 1, n)[0, 0])
    if rule == "full":
        torch.testing.assert_close(s.with_mask, s.without)
    else:
        assert bool(blocked.any()) and float(s.difference.abs().max()) > 1e-3


def test_rule_parameters_show_only_their_controls(ex):
    ex.set(rule="sliding_window", window=2)
    assert ex.controls["window"].layout.display is None and ex.controls["k"].layout.display == "none"
    n = len(ex.state.tokens)
    q, k = torch.arange(n)[:, None], torch.arange(n)[None]
    assert torch.equal(ex.state.mask.bool(), (q - k >= 0) & (q - k < 2))
    ex.set(rule="topk_keys", k=2)
    assert ex.controls["k"].layout.display is None and ex.controls["window"].layout.display == "none"
    assert torch.equal(ex.state.mask.sum(-1), torch.full((n,), 2.0))


def test_dropping_tokens_hides_them_as_keys(ex):
    calls = ex.forward_calls
    s = ex.set(dropped=[2, 5])
    assert s.dropped == (2, 5) and ex.forward_calls == calls + 1
    assert float(s.with_mask[:, [2, 5]].abs().max()) == 0.0
    assert ex.token_buttons[2].button_style == "danger" and ex.token_buttons[3].button_style == ""
    ex.token_buttons[5].value = False  # a click on the toggle
    assert ex.state.dropped == (2,)
    ex.set(dropped=[2, 5])  # back to a mask seen before: the cached pass, no forward
    assert ex.forward_calls == calls + 2


def test_empty_rows_are_reported(ex):
    s = ex.set(rule="sliding_window", window=1, dropped=[3])  # query 3 may only see itself: dropped
    assert s.empty_rows == 1 and "no key" in ex.status.value
    assert float(s.with_mask[3, 3]) == pytest.approx(1.0)  # keep_self policy


def test_new_text_rebuilds_tokens_and_long_text_layout(ex):
    s = ex.set(text=LONG, dropped=[1])  # the new text's token 1
    assert len(s.tokens) > 24 and len(ex.token_buttons) == len(s.tokens) and s.dropped == (1,)
    assert [b.description for b in ex.token_buttons] == s.tokens
    axes = ex.figure.axes  # four heatmaps, then two colour bars
    assert len(axes) == 6 and axes[0].get_position().y0 > axes[2].get_position().y0  # 2 x 2
    labels = [t.get_text() for t in axes[2].get_xticklabels()]
    assert labels == s.tokens
    from dynmask_viz.plots import font_families

    assert axes[2].get_xticklabels()[0].get_fontfamily() == font_families()


def test_max_length_truncates(loaded):
    ex = AttentionExplorer(LONG * 3, *loaded, max_length=64)
    assert len(ex.state.tokens) == 64 and ex.state.tokens[-1] == "[SEP]"


def test_bad_input_gives_clear_errors(ex, loaded):
    with pytest.raises(ValueError, match="Unknown control"):
        ex.set(bogus=1)
    with pytest.raises(ValueError, match="out of range"):
        ex.set(dropped=[99])
    with pytest.raises(ValueError, match="rule must be one of"):
        AttentionExplorer(TEXT, *loaded, rule="nope")
    with pytest.raises(ValueError, match="tokenizer"):
        AttentionExplorer(TEXT, loaded[0])
    ex.controls["model"].value = "no-such-org/no-such-model"  # offline: fails, said in the widget
    assert "Could not update" in ex.status.value and "minilm" in ex.status.value


@pytest.mark.parametrize("text", [TEXT, LONG])
def test_painted_png_matches_a_full_matplotlib_draw(loaded, text):
    import io

    import numpy as np
    import PIL.Image

    ex = AttentionExplorer(text, *loaded, rule="causal", layer=1, head=3)
    ex.set(layer=4, head=0)  # a repaint of the cells into the cached background
    painted = np.asarray(PIL.Image.open(io.BytesIO(ex.image.value)).convert("RGB")).astype(int)
    ex.figure.canvas.draw()  # what matplotlib itself draws for the same state
    full = np.asarray(ex.figure.canvas.buffer_rgba())[..., :3].astype(int)
    diff = np.abs(painted - full).max(-1)
    assert painted.shape == full.shape
    assert (diff > 30).mean() < 0.02, "the painted heatmaps are misaligned with the axes"


@pytest.mark.parametrize("text", [TEXT, LONG])
def test_panel_titles_are_inside_the_painted_image(loaded, text):
    ex = AttentionExplorer(text, *loaded, rule="causal")
    ex.set(layer=2)
    fig = ex.figure
    titles = [ax.title for ax in fig.axes[:4]]  # the heatmaps (then their colour bars)
    assert [t.get_text().split("\n")[0] for t in titles] == [
        "mask (blue = may attend)",
        "without mask",
        "with mask",
        "with \u2212 without",
    ]
    renderer = fig.canvas.get_renderer()
    for title in titles:  # laid out with the titles in place: none is cut off at the top
        box = title.get_window_extent(renderer)
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, title.get_text()


def test_colour_bars_follow_each_view(loaded):
    """The explorer shows the scales of its attention and difference panels, and their ticks
    follow every repaint (the colour bars are redrawn with the titles)."""
    from matplotlib.colorbar import Colorbar

    from dynmask_viz.plots._style import MASK_SHARE_CMAP

    ex = AttentionExplorer(TEXT, *loaded, rule="causal", layer=0, head=0)
    bars = [ax._colorbar for ax in ex.figure.axes if isinstance(getattr(ax, "_colorbar", None), Colorbar)]
    assert [b.ax.get_ylabel() for b in bars] == ["attention weight", "change of weight"]
    assert ex._painter.images[0].cmap is MASK_SHARE_CMAP  # one mask colour map: plots and widgets

    def tops():
        return [round(b.ax.get_ylim()[1], 4) for b in bars]

    first = tops()
    assert first[0] == pytest.approx(
        max(float(ex.state.without.max()), float(ex.state.with_mask.max())), abs=1e-4
    )
    image = ex.image.value
    ex.set(layer=4, head=7)
    assert tops() != first and ex.image.value != image
    assert tops()[0] == pytest.approx(
        max(float(ex.state.without.max()), float(ex.state.with_mask.max())), abs=1e-4
    )
    # The painted frame shows the new ticks: its colour bars match a full matplotlib draw.
    import io

    import numpy as np
    import PIL.Image

    painted = np.asarray(PIL.Image.open(io.BytesIO(ex.image.value)).convert("RGB")).astype(int)
    ex.figure.canvas.draw()
    full = np.asarray(ex.figure.canvas.buffer_rgba())[..., :3].astype(int)
    height = full.shape[0]
    for bar in bars:
        box = bar.ax.get_tightbbox(ex.figure.canvas.get_renderer())  # bar, ticks, labels
        rows = slice(int(height - box.y1), int(height - box.y0))
        cols = slice(int(box.x0), int(box.x1))
        assert np.abs(painted[rows, cols] - full[rows, cols]).max(-1).mean() < 2, bar.ax.get_ylabel()


def test_state_repr_is_one_short_line(ex):
    """explorer.set(...) ending a notebook cell shows one line, not four [L, L] matrices."""
    text = repr(ex.set(layer=1, head=2))
    assert "\n" not in text and len(text) < 200
    assert "rule='causal'" in text and "layer=1" in text and "head=2" in text


def test_threads_are_restored_after_an_update(loaded):
    before = torch.get_num_threads()
    ex = AttentionExplorer(TEXT, *loaded, threads=1)
    ex.set(rule="random_drop", mask_seed=5)
    assert torch.get_num_threads() == before and ex.threads == 1


# ---- issue 9 section 3: set() refuses what the constructor refuses, never clamps -----------


@pytest.fixture(scope="module")
def shared_ex(loaded):
    """One explorer for the refusal tests: a refused value changes nothing, so they can share it."""
    return AttentionExplorer(TEXT, *loaded, rule="causal")


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"layer": 100}, r"layer must be an int in \[0, 5\]; got 100"),
        ({"head": 12}, r"head must be an int in \[0, 11\]"),
        ({"window": 0}, r"window must be an int in \[1, 16\]; got 0"),
        ({"window": 2.5}, r"window must be an int in \[1, 16\]"),
        ({"p": 0.95}, r"p must be a number in \[0.0, 0.9\]"),
        ({"k": 0}, r"k must be an int in \[1, 64\]"),
        ({"prefix_length": 65}, r"prefix_length must be an int in \[0, 64\]"),
        ({"mask_seed": -1}, r"mask_seed must be an int in \[0, 2147483647\]"),
        ({"rule": "nope"}, "rule must be one of"),
        ({"per_head": 1}, "per_head must be True or False"),
        ({"dropped": [1.5]}, "dropped must be a list of token indices"),
    ],
)
def test_set_refuses_out_of_range_values_and_changes_nothing(shared_ex, values, fragment):
    ex = shared_ex
    before = ex.set(layer=2, head=3, rule="sliding_window", window=3)
    controls = {name: w.value for name, w in ex.controls.items()}
    with pytest.raises(ValueError, match=fragment):
        ex.set(**{"average_heads": True, **values})  # the valid value beside it is not applied either
    assert {name: w.value for name, w in ex.controls.items()} == controls
    assert ex.state is before


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"layer": 100}, r"layer must be an int in \[0, 5\]; got 100"),
        ({"head": -1}, r"head must be an int in \[0, 11\]"),
        ({"max_length": 2}, r"max_length must be an int in \[3, 512\]"),
        ({"max_length": 1}, r"max_length must be an int in \[3, 512\]"),
        ({"max_length": 513}, r"max_length must be an int in \[3, 512\]"),
        ({"max_length": 2.5}, "max_length must be an int"),
        ({"threads": 0}, "threads must be an int >= 1 or None"),
        ({"dpi": 0.5}, "dpi must be an int >= 1"),
    ],
)
def test_constructor_refuses_like_set(loaded, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        AttentionExplorer(TEXT, *loaded, **kwargs)


def test_max_length_minimum_is_the_tokenizers_true_minimum(loaded):
    """max_length=2 passed the constructor, then failed at encoding (the minimum there is 3)."""
    with pytest.raises(ValueError, match=r"max_length must be an int in \[3, 512\].*got 2\.") as info:
        AttentionExplorer(TEXT, *loaded, max_length=2)
    assert "special tokens" in str(info.value)
    ex = AttentionExplorer(TEXT, *loaded, max_length=3)  # the true minimum works
    assert ex.state.tokens == ["[CLS]", "the", "[SEP]"]


def test_set_refuses_a_model_that_max_length_does_not_fit(loaded):
    model, tokenizer = loaded

    class NoRoom:  # the same tokenizer, but one that adds 3 special tokens per text
        def __init__(self, inner):
            self._inner = inner

        def num_special_tokens_to_add(self, pair=False):
            return 3

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def __call__(self, *args, **kwargs):
            return self._inner(*args, **kwargs)

    ex = AttentionExplorer(TEXT, model, tokenizer, max_length=3)
    ex._models["roomless"] = (model, NoRoom(tokenizer))
    before = {name: w.value for name, w in ex.controls.items()}
    with pytest.raises(ValueError, match=r"max_length \(3\) does not fit model 'roomless'.*\[4, 512\]"):
        ex.set(model="roomless")
    assert {name: w.value for name, w in ex.controls.items()} == before


def test_topk_larger_than_the_text_is_refused_not_clamped(ex):
    n = len(ex.state.tokens)
    with pytest.raises(ValueError, match=rf"topk_keys\(k\) must be <= the number of keys {n}"):
        ex.set(rule="topk_keys", k=n + 1)
    s = ex.set(rule="topk_keys", k=n)  # every key: the mask is full
    assert bool(s.mask.bool().all())
