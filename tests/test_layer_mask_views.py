"""layer_mask_view: what a layer mask keeps in every layer, equal to a recorded direct call; the
installed rule comes back; token rules hide exactly their tokens; the kept baseline model works."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _layer_mask_helpers import tiny_classifier as tiny_bert
from transformers import BertForSequenceClassification

from dynmask_viz.analysis import LayerMaskView, layer_mask_view
from dynmask_viz.assets import is_cached
from dynmask_viz.attention_masks import stopword_keep_mask
from dynmask_viz.hf import (
    DynamicMaskAttention,
    FullAttention,
    LayerMaskRecording,
    RandomKeyDrop,
    TokenKeep,
    TopKKeys,
    install_layer_mask,
)

TEXT = "The film is a quiet, moving story of two brothers and their father."


def tiny_classifier(tokenizer, *, layers: int = 3, install: bool = True) -> BertForSequenceClassification:
    """A random 2-label BERT (4 heads of 8 dims, 64 positions) over the tokenizer's vocabulary,
    with full attention installed as its layer mask; the global RNG is untouched."""
    model = tiny_bert(layers=layers, vocab_size=len(tokenizer), positions=64)
    return install_layer_mask(model, FullAttention()) if install else model


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_classifier(tokenizer)


def _installed(model) -> list:
    return [layer.attention.self.layer_mask for layer in model.bert.encoder.layer]


def _direct(model, tokenizer, text, rule, **extra):
    """The model called by hand with ``rule`` in every layer, recorded (the reference)."""
    installed = _installed(model)
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    for layer in model.bert.encoder.layer:
        layer.attention.self.layer_mask = rule
    try:
        with torch.no_grad(), LayerMaskRecording(model, keep_masks=True) as rec:
            logits = model(input_ids=ids, **extra).logits
    finally:
        for layer, rule_before in zip(model.bert.encoder.layer, installed):
            layer.attention.self.layer_mask = rule_before
    return rec, logits


def test_the_view_is_what_a_recorded_direct_call_sees(model, tokenizer):
    view = layer_mask_view(model, tokenizer, TEXT, TopKKeys(3))
    rec, logits = _direct(model, tokenizer, TEXT, TopKKeys(3))
    n = len(view.tokens)
    assert view.tokens == tokenizer.convert_ids_to_tokens(tokenizer(TEXT)["input_ids"])
    assert view.keep.shape == view.weights.shape == (3, 4, n, n) and view.keep.dtype == bool
    np.testing.assert_array_equal(view.keep, torch.stack([m[0] for m in rec.masks]).numpy())
    np.testing.assert_allclose(view.weights, torch.stack([w[0] for w in rec.weights]).numpy())
    np.testing.assert_allclose(view.probabilities, torch.softmax(logits[0], -1).numpy(), rtol=1e-6)
    assert view.probabilities.sum() == pytest.approx(1.0) and view.probabilities_full.sum() == pytest.approx(
        1.0
    )
    assert (view.keep.sum(-1) == 3).all()  # top-3 keys per query, in every layer and head
    assert view.share_kept_per_layer == pytest.approx([3 / n] * 3) and view.share_kept == pytest.approx(3 / n)
    assert view.rule_name == "topk_keys(k=3)" and view.text == TEXT and view.truncated == 0
    _, full_logits = _direct(model, tokenizer, TEXT, FullAttention())
    np.testing.assert_allclose(view.probabilities_full, torch.softmax(full_logits[0], -1).numpy(), rtol=1e-6)
    assert view.prediction == ("negative", "positive")[int(view.probabilities.argmax())]


def test_full_attention_keeps_every_pair(model, tokenizer):
    view = layer_mask_view(model, tokenizer, TEXT, FullAttention(), labels=("bad", "good"))
    assert view.keep.all() and view.share_kept == 1.0 and view.share_kept_per_layer == [1.0] * 3
    np.testing.assert_allclose(view.probabilities, view.probabilities_full)
    assert view.labels == ("bad", "good") and view.prediction == view.prediction_full
    np.testing.assert_allclose(view.weights.sum(-1), 1.0, rtol=1e-5)


def test_the_installed_rule_and_mode_come_back_also_after_an_error(tokenizer):
    model = tiny_classifier(tokenizer)
    installed = _installed(model)
    layer_mask_view(model, tokenizer, TEXT, TopKKeys(2))
    assert all(a is b for a, b in zip(_installed(model), installed)) and not model.training
    model.train()
    with pytest.raises(RuntimeError, match="no scorer"):  # a learned rule the model was not built with
        layer_mask_view(model, tokenizer, TEXT, DynamicMaskAttention(2))
    assert all(a is b for a, b in zip(_installed(model), installed)) and model.training


@pytest.mark.parametrize("name, stopwords", [("drop_stopwords", None), ("drop_punctuation", ())])
def test_token_rules_hide_exactly_their_tokens(model, tokenizer, name, stopwords):
    view = layer_mask_view(
        model, tokenizer, TEXT, TokenKeep(name, stopwords=stopwords)
    )  # its own list decides
    visible = stopword_keep_mask(view.tokens, tokenizer, stopwords=stopwords)[0].numpy()
    assert 0 < (~visible).sum() < len(visible) - 2  # something hidden, most words kept
    np.testing.assert_array_equal(view.keep, np.broadcast_to(visible, view.keep.shape))
    assert view.share_kept == pytest.approx(visible.mean())
    mine = np.zeros(len(view.tokens), dtype=bool)
    mine[[0, 2]] = True  # a key_keep given: that one is used
    assert (layer_mask_view(model, tokenizer, TEXT, TokenKeep(name), key_keep=mine).keep == mine).all()


def test_a_random_rule_repeats_with_its_draw(model, tokenizer):
    a, b, c = (
        layer_mask_view(model, tokenizer, TEXT, RandomKeyDrop(0.5, seed=1), mask_draw=draw)
        for draw in (0, 0, 1)
    )
    np.testing.assert_array_equal(a.keep, b.keep)
    assert not np.array_equal(a.keep, c.keep)
    # by default the pattern the experiment scored with, not a training step's
    scored = layer_mask_view(model, tokenizer, TEXT, RandomKeyDrop(0.5, seed=1))
    evaluated = layer_mask_view(
        model, tokenizer, TEXT, RandomKeyDrop(0.5, seed=1), mask_draw=RandomKeyDrop.EVAL_DRAW
    )
    np.testing.assert_array_equal(scored.keep, evaluated.keep)
    assert not np.array_equal(scored.keep, a.keep)


def test_max_length_cuts_and_long_texts_are_refused(model, tokenizer):
    long = " ".join(["wonderful"] * 80)
    with pytest.raises(ValueError, match=r"text has 82 tokens but the model takes at most 64.*max_length"):
        layer_mask_view(model, tokenizer, long, FullAttention())
    view = layer_mask_view(model, tokenizer, long, FullAttention(), max_length=16)
    assert len(view.tokens) == 16 and view.tokens[-1] == "[SEP]" and view.truncated == 66
    with pytest.raises(ValueError, match=r"max_length must be None or an int in \[3, 64\]"):
        layer_mask_view(model, tokenizer, TEXT, FullAttention(), max_length=65)


def test_bad_input_gives_clear_errors(model, tokenizer):
    for text in ("", "   "):
        with pytest.raises(ValueError, match="text must hold at least one word"):
            layer_mask_view(model, tokenizer, text, FullAttention())
    with pytest.raises(ValueError, match="no layer mask installed.*install_layer_mask"):
        layer_mask_view(tiny_classifier(tokenizer, install=False), tokenizer, TEXT, FullAttention())
    with pytest.raises(ValueError, match="model must be a BERT sequence classifier"):
        layer_mask_view(torch.nn.Linear(2, 2), tokenizer, TEXT, FullAttention())
    with pytest.raises(ValueError, match="labels must be 2 str"):
        layer_mask_view(model, tokenizer, TEXT, FullAttention(), labels=("a", "b", "c"))
    with pytest.raises(ValueError, match="key_keep is only read by TokenKeep rules"):
        layer_mask_view(model, tokenizer, TEXT, TopKKeys(2), key_keep=[True] * 3)
    with pytest.raises(ValueError, match="key_keep must be bool"):
        layer_mask_view(model, tokenizer, TEXT, TokenKeep("drop_stopwords"), key_keep=[True] * 3)
    with pytest.raises(TypeError, match="rule must be a dynmask_viz.hf LayerMask"):
        layer_mask_view(model, tokenizer, TEXT, "topk")
    with pytest.raises(TypeError, match="text must be a str"):
        layer_mask_view(model, tokenizer, None, FullAttention())


@pytest.mark.skipif(
    not (is_cached("minilm") and is_cached("rotten_tomatoes")),
    reason="offline default model or Rotten Tomatoes missing: `make assets`",
)
def test_the_kept_baseline_model_on_a_real_review(tmp_path, tokenizer):
    from dynmask_viz.experiments.data import probe_splits
    from dynmask_viz.mask_finetuning import MODEL_FOLDER, PRESETS, load_trained, run_all

    fast = PRESETS["fast"].replace(train_examples=16, test_examples=8)  # the fast preset, smaller
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread is the fastest for these tiny batches (and CI has 2 cores)
    try:
        run_all(fast, tmp_path, conditions=["full"], seeds=[0], log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    model, meta = load_trained(tmp_path / MODEL_FOLDER)
    review = probe_splits(fast.split_seed).test[0][0]
    view = layer_mask_view(model, tokenizer, review, TopKKeys(4), max_length=fast.max_len)
    n = len(view.tokens)
    assert isinstance(view, LayerMaskView) and view.keep.shape == (6, 12, n, n) and n <= fast.max_len
    assert view.share_kept == pytest.approx(min(4, n) / n)
    full = layer_mask_view(model, tokenizer, review, FullAttention(), max_length=fast.max_len)
    assert full.share_kept == 1.0
    np.testing.assert_allclose(full.probabilities, view.probabilities_full, rtol=1e-5)
    stop = layer_mask_view(model, tokenizer, review, TokenKeep("drop_stopwords"), max_length=fast.max_len)
    assert stop.share_kept < 1.0 and meta["condition"] == "full"
