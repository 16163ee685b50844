"""LayerMaskExplorer driven programmatically: views per (review, rule), cached; clear errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _layer_mask_helpers import tiny_classifier as tiny_bert
from matplotlib.figure import Figure
from transformers import BertForSequenceClassification

from dynmask_viz.analysis import layer_mask_view
from dynmask_viz.hf import DynamicMaskAttention, FullAttention, TokenKeep, TopKKeys, install_layer_mask
from dynmask_viz.widgets import LayerMaskExplorer, LayerMaskState

TEXTS = [
    "A quiet, moving story of two brothers.",
    "The plot is thin and the jokes fall flat, but the cast tries hard.",
    "Gorgeous to look at and impossible to forget.",
]
RULES = {"full": FullAttention(), "topk_4": TopKKeys(4), "drop_stopwords": TokenKeep("drop_stopwords")}


@pytest.fixture(scope="module")
def model(tokenizer) -> BertForSequenceClassification:
    """A random 3-layer, 4-head, 2-label BERT over the tokenizer's vocabulary, full attention installed."""
    return install_layer_mask(tiny_bert(layers=3, vocab_size=len(tokenizer), positions=64), FullAttention())


@pytest.fixture
def ex(model, tokenizer):
    return LayerMaskExplorer(model, tokenizer, TEXTS, RULES, dpi=50)


@pytest.fixture
def calls(model):
    """Counts the model's forward passes (the wrapper is removed after the test)."""
    counted = []
    forward = model.forward

    def counting(*args, **kwargs):
        counted.append(1)
        return forward(*args, **kwargs)

    model.forward = counting
    yield counted
    del model.forward


def test_the_first_state_and_figure(ex):
    s = ex.state
    assert isinstance(s, LayerMaskState) and (s.review, s.rule, s.layer, s.head) == (0, "full", None, None)
    assert s.view.text == TEXTS[0] and s.kept_share == 1.0 and s.prediction_full == s.view.prediction_full
    assert isinstance(ex.figure, Figure) and len(ex.figure.axes) == 3 + 1  # a map per layer, a colour bar
    assert ex.image.value[:4] == b"\x89PNG"
    assert "P(positive)" in ex.status.value and "100 % of the attention pairs kept" in ex.status.value


def test_set_changes_the_state_and_the_figure(ex, model, tokenizer):
    image, figure = ex.image.value, ex.figure
    s = ex.set(review=1, rule="topk_4", layer=2)
    assert s is ex.state and (s.review, s.rule, s.layer, s.head) == (1, "topk_4", 2, None)
    assert s.view.text == TEXTS[1] and s.view.rule_name == "topk_keys(k=4)"
    expected = layer_mask_view(model, tokenizer, TEXTS[1], TopKKeys(4))
    np.testing.assert_array_equal(s.view.keep, expected.keep)
    assert s.kept_share == pytest.approx(expected.share_kept) and s.prediction == expected.prediction
    assert ex.figure is not figure and len(ex.figure.axes) == 2 and ex.image.value != image
    assert "layer 2" in ex.figure.get_suptitle()
    line = ex.summary_line()
    assert re.fullmatch(
        r"P\(positive\): \d\.\d\d with full attention -> \d\.\d\d with topk_keys\(k=4\); "
        r"\d+ % of the attention pairs kept",
        line,
    ), line
    assert f"{100 * s.kept_share:.0f} %" in line and f"{s.view.probabilities[1]:.2f} with" in line
    s = ex.set(head=3)
    assert s.head == 3 and "head 3" in ex.figure.get_suptitle()


def test_moving_the_layer_or_head_never_runs_the_model(ex, calls):
    ex.set(review=2, rule="topk_4")
    assert len(calls) == 2  # one view: the rule and full attention
    ex.set(layer=1)
    ex.controls["head"].value = 2  # like the slider in the browser
    ex.set(layer=-1, head=-1)
    assert len(calls) == 2 and ex.state.layer is None and ex.state.head is None
    ex.set(rule="drop_stopwords")
    assert len(calls) == 4
    ex.set(rule="topk_4", layer=0)  # back to a view already made
    assert len(calls) == 4 and ex.forward_calls == 3  # full on review 0, then two views here


def test_bad_values_raise_and_change_nothing(ex, model, tokenizer):
    before = ex.state
    for values, message in [
        ({"rule": "nope"}, r"rule must be one of \['full', 'topk_4', 'drop_stopwords'\]; got 'nope'"),
        ({"layer": 3}, r"layer must be an int in \[-1, 2\]; got 3"),
        ({"head": 4}, r"head must be an int in \[-1, 3\]"),
        ({"review": 3}, r"review must be one of \[0, 1, 2\]"),
        ({"layers": 1}, "Unknown control"),
    ]:
        with pytest.raises(ValueError, match=message):
            ex.set(**values)
        assert ex.state is before
    assert (ex.controls["rule"].value, ex.controls["layer"].value) == ("full", -1)
    for kwargs, message in [
        ({"rule": "nope"}, "rule must be one of"),
        ({"layer": 5}, r"layer must be an int in \[-1, 2\]"),
        ({"texts": []}, "texts must be a non-empty list"),
        ({"texts": ["fine", ""]}, r"texts\[1\]"),
        ({"rules": {}}, "rules must be a non-empty dict"),
        ({"rules": {"topk": 4}}, "LayerMask"),
        ({"labels": ("a", "b", "c")}, "labels must be 2 str"),
    ]:
        args = {"texts": TEXTS, "rules": RULES, **kwargs}
        with pytest.raises(ValueError, match=message):
            LayerMaskExplorer(model, tokenizer, args.pop("texts"), args.pop("rules"), **args)


def test_a_failing_update_is_shown_in_the_widget(model, tokenizer):
    # A learned rule needs the scorers it was trained with: this model has none.
    ex = LayerMaskExplorer(model, tokenizer, TEXTS, {**RULES, "dma": DynamicMaskAttention(2)})
    before = ex.state
    ex.controls["rule"].value = "dma"  # like the dropdown in the browser
    assert "Could not update" in ex.status.value and "no scorer" in ex.status.value
    assert ex.state is before
    with pytest.raises(RuntimeError, match="no scorer"):
        ex.set(rule="dma")
