"""Layer masks inside a Hugging Face BERT (``hf/layer_masks.py``, ``hf/layer_attention.py``).

Each rule against its catalogue factory applied to the same layer's scores (the dense
reference, recomputed from the module's own projections), padding invariance, the recorded
weights and counts, the empty-row fallback, the learned DMA scorer, errors, reproducibility,
and ``topk_keep``, the selection they share. Boolean convention: True = may attend.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from _layer_mask_helpers import (
    HEADS,
    layer_scores,
    padded_batch,
    padding_valid,
    self_attentions,
    tiny_classifier,
    with_self_fallback,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dynmask_viz.attention_masks import keep_tokens, random_drop, score_threshold, topk_keys
from dynmask_viz.attention_masks.dynamic import topk_keep
from dynmask_viz.hf import (
    LAYER_MASK_ATTENTION,
    DynamicMaskAttention,
    FullAttention,
    LayerMaskRecording,
    ProbabilityThreshold,
    RandomKeyDrop,
    TokenKeep,
    TopKKeys,
    install_layer_mask,
    layer_mask_of,
)

LENGTHS = [7, 4, 2]  # a right-padded batch: one full row, one half, one with two real tokens
# Visible keys per row (True = visible); padding slots are True on purpose: padding must hide them.
KEY_KEEP = torch.tensor(
    [
        [True, False, True, True, False, True, False],
        [False, True, True, False, True, True, True],
        [True, False, True, True, True, True, True],
    ]
)
BLOCKED = torch.finfo(torch.float32).min


def _threshold_reference(s):
    probs = torch.softmax(s.logits.masked_fill(~s.valid, BLOCKED), dim=-1)
    top = topk_keys(s.logits, 1, within=s.valid).dense(*s.shape)
    return score_threshold(probs, 0.2).dense(*s.shape) | top


def _dma_bias(s):
    with torch.no_grad():
        return s.module.dma_scorer(s.value)[:, :, None, :]


# name: (rule, extra model-call arguments, dense reference from the layer's scores `s`)
CASES = {
    "full": (FullAttention, {}, lambda s: s.valid.expand(s.shape)),
    "topk": (lambda: TopKKeys(3), {}, lambda s: topk_keys(s.logits, 3, within=s.valid).dense(*s.shape)),
    "threshold": (lambda: ProbabilityThreshold(0.2), {}, _threshold_reference),
    "random": (
        lambda: RandomKeyDrop(0.5, seed=3),
        {"mask_draw": 11},
        lambda s: random_drop(0.5, RandomKeyDrop.draw_seed(3, 11, s.layer)).dense(*s.shape),
    ),
    "tokens": (
        lambda: TokenKeep("drop_some"),
        {"key_keep": KEY_KEEP},
        lambda s: keep_tokens(KEY_KEEP).dense(*s.shape),
    ),
    "dma": (
        lambda: DynamicMaskAttention(3),
        {},
        lambda s: topk_keys(_dma_bias(s).expand(s.shape), 3, within=s.valid).dense(*s.shape),
    ),
}


def _recorded_run(model, batch, call):
    with torch.no_grad(), LayerMaskRecording(model, keep_masks=True) as rec, layer_scores(model) as found:
        out = model(**batch, **call)
    return out, rec, found


# ---- 1. every rule equals its catalogue factory on the layer's own scores ------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_layer_keep_mask_equals_the_catalogue_rule_on_the_layer_scores(case):
    make, call, reference = CASES[case]
    model = install_layer_mask(tiny_classifier(), make(), seed=5)
    batch = padded_batch(LENGTHS)
    _, rec, found = _recorded_run(model, batch, call)
    valid = padding_valid(batch["attention_mask"])
    for layer, module in enumerate(self_attentions(model)):
        logits = found["logits"][layer]
        value = found["value"][layer]
        shape = logits.shape
        s = SimpleNamespace(logits=logits, valid=valid, layer=layer, value=value, module=module, shape=shape)
        expected = with_self_fallback(reference(s) & valid)
        assert torch.equal(rec.masks[layer], expected), f"{case}: layer {layer}"
        if case != "full":  # the rule really drops keys the padding mask allows
            assert not torch.equal(expected, valid.expand(logits.shape))
        # The weights: softmax over the kept keys only (DMA adds its scores to the logits).
        bias = _dma_bias(s) if case == "dma" else 0.0
        weights = torch.softmax((logits + bias).masked_fill(~expected, BLOCKED), dim=-1)
        torch.testing.assert_close(rec.weights[layer], weights, atol=1e-6, rtol=1e-5)
        # 3. exactly 0 where the key is not kept, and every row sums to 1
        assert bool((rec.weights[layer][~expected] == 0).all())
        torch.testing.assert_close(rec.weights[layer].sum(-1), torch.ones(logits.shape[:-1]))


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_full_attention_reproduces_the_plain_eager_model_on_a_padded_batch(impl):
    plain = tiny_classifier()
    masked = install_layer_mask(tiny_classifier(impl=impl), FullAttention())
    assert masked.config._attn_implementation == LAYER_MASK_ATTENTION
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        want = plain(**batch, output_hidden_states=True, output_attentions=True)
        got = masked(**batch, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(got.logits, want.logits, atol=1e-6, rtol=1e-5)
    for ours, theirs in zip(got.hidden_states, want.hidden_states, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    for ours, theirs in zip(got.attentions, want.attentions, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


# ---- 2. padding invariance ----------------------------------------------------------------------
# RandomKeyDrop is left out on purpose: its pattern is keyed by the batch slot (b, h, q, k), like
# the catalogue's random_drop, so a sentence gets another pattern as row 1 of a batch than alone.


@pytest.mark.parametrize("case", ["full", "topk", "threshold", "tokens", "dma"])
def test_each_row_of_a_padded_batch_matches_the_sentence_alone(case):
    make, call, _ = CASES[case]
    model = install_layer_mask(tiny_classifier(), make())
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        together = model(**batch, **call, output_hidden_states=True)
        for b, n in enumerate(LENGTHS):
            alone = model(
                **{name: t[b : b + 1, :n] for name, t in {**batch, **call}.items()}, output_hidden_states=True
            )
            torch.testing.assert_close(together.logits[b], alone.logits[0], atol=1e-5, rtol=1e-5)
            last, alone_last = together.hidden_states[-1][b, :n], alone.hidden_states[-1][0]
            torch.testing.assert_close(last, alone_last, atol=1e-5, rtol=1e-5)


# ---- 3. what the recording counts ---------------------------------------------------------------


def test_share_kept_is_one_for_full_attention():
    model = install_layer_mask(tiny_classifier(), FullAttention())
    rec = LayerMaskRecording(model)
    assert math.isnan(rec.share_kept)  # nothing seen yet
    with torch.no_grad(), rec:
        model(**padded_batch(LENGTHS))
    assert rec.share_kept == 1.0
    assert rec.kept == rec.valid == [HEADS * (49 + 16 + 4)] * 2  # real query x real key pairs


def test_share_kept_of_topk_is_the_hand_count():
    model = install_layer_mask(tiny_classifier(), TopKKeys(2))
    batch = padded_batch([5, 3, 1])
    with torch.no_grad(), LayerMaskRecording(model) as rec:
        model(**batch)
        model(**batch)  # counts add up over batches
    # Each real query keeps min(2, n) real keys: 5*2 + 3*2 + 1*1 = 17 of 25 + 9 + 1 = 35 pairs.
    assert rec.kept == [2 * HEADS * 17] * 2
    assert rec.valid == [2 * HEADS * 35] * 2
    assert rec.share_kept == pytest.approx(17 / 35)
    model(**batch)  # after the context closes nothing is recorded
    assert rec.kept == [2 * HEADS * 17] * 2
    assert all(m.layer_mask_recording is None for m in self_attentions(model))


# ---- 4. a query left with no key attends to itself ----------------------------------------------


def test_token_keep_hiding_a_whole_row_makes_each_query_attend_to_itself():
    model = install_layer_mask(tiny_classifier(), TokenKeep())
    batch = padded_batch(LENGTHS)
    key_keep = KEY_KEEP.clone()
    key_keep[1] = False  # row 1 hides every key
    out, rec, _ = _recorded_run(model, batch, {"key_keep": key_keep})
    assert bool(torch.isfinite(out.logits).all())
    n = LENGTHS[1]
    for weights in rec.weights:
        assert not bool(torch.isnan(weights).any())
        assert torch.equal(weights[1, :, :n, :n], torch.eye(n).expand(HEADS, n, n))
        assert bool((weights[1, :, :n, n:] == 0).all())


def test_random_drop_near_one_leaves_rows_on_their_own_key_without_nan():
    model = install_layer_mask(tiny_classifier(), RandomKeyDrop(0.99, seed=1))
    batch = padded_batch(LENGTHS)
    out, rec, _ = _recorded_run(model, batch, {"mask_draw": 2})
    assert bool(torch.isfinite(out.logits).all())
    valid = padding_valid(batch["attention_mask"])
    eye = torch.eye(max(LENGTHS), dtype=torch.bool)
    for layer, weights in enumerate(rec.weights):
        drawn = random_drop(0.99, RandomKeyDrop.draw_seed(1, 2, layer)).dense(*weights.shape) & valid
        empty = ~drawn.any(-1)
        assert int(empty.sum()) > 0  # the case under test happens
        assert not bool(torch.isnan(weights).any())
        on_self = weights[empty]  # [rows, K]: each is one-hot on its own position
        assert torch.equal(on_self, eye.expand(weights.shape)[empty].float())


# ---- 5. the learned rule: Dynamic Mask Attention ------------------------------------------------


def _dma_params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "dma_scorer" in n}


def test_dma_adds_seeded_scorer_parameters_to_every_layer():
    before = torch.random.get_rng_state()
    first = _dma_params(install_layer_mask(tiny_classifier(), DynamicMaskAttention(3), seed=4))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left alone
    names = {
        f"bert.encoder.layer.{i}.attention.self.dma_scorer.{p}"
        for i in range(2)
        for p in ("dt_proj.weight", "A")
    }
    assert set(first) == names
    again = _dma_params(install_layer_mask(tiny_classifier(), DynamicMaskAttention(3), seed=4))
    other = _dma_params(install_layer_mask(tiny_classifier(), DynamicMaskAttention(3), seed=5))
    assert all(torch.equal(first[n], again[n]) for n in names)
    weight = "attention.self.dma_scorer.dt_proj.weight"
    assert not torch.equal(first[f"bert.encoder.layer.0.{weight}"], other[f"bert.encoder.layer.0.{weight}"])
    assert not torch.equal(first[f"bert.encoder.layer.0.{weight}"], first[f"bert.encoder.layer.1.{weight}"])


def test_dma_keeps_the_same_k_real_keys_for_every_query_of_a_head():
    k = 3
    model = install_layer_mask(tiny_classifier(), DynamicMaskAttention(k))
    lengths = [7, 2, 5]  # row 1 has fewer real keys than k
    batch = padded_batch(lengths)
    _, rec, _ = _recorded_run(model, batch, {})
    real = batch["attention_mask"].bool()
    for keep in rec.masks:
        assert torch.equal(keep, keep[:, :, :1, :].expand_as(keep))  # one key set per head
        counts = keep[:, :, 0, :].sum(-1)
        assert torch.equal(counts, torch.tensor([min(k, n) for n in lengths])[:, None].expand(-1, HEADS))
        assert not bool((keep & ~real[:, None, None, :]).any())  # never a padding key
        assert not torch.equal(keep[0, 0], keep[0, 1])  # heads choose for themselves


def test_dma_scorer_gets_gradients():
    model = install_layer_mask(tiny_classifier(), DynamicMaskAttention(3))
    batch = padded_batch(LENGTHS)
    model(**batch, labels=torch.tensor([0, 1, 1])).loss.backward()
    for module in self_attentions(model):
        scorer = module.dma_scorer
        assert float(scorer.dt_proj.weight.grad.abs().sum()) > 0
        assert float(scorer.A.grad.abs().min()) > 0


def test_dma_without_its_scorer_says_how_to_install_it():
    model = install_layer_mask(tiny_classifier(), FullAttention())
    for module in self_attentions(model):
        module.layer_mask = DynamicMaskAttention(2)  # set by hand: no scorer attached
    with pytest.raises(RuntimeError, match="install_layer_mask"):
        model(**padded_batch(LENGTHS))


# ---- 6. errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda: TopKKeys(0), r"TopKKeys\(k\)"),
        (lambda: TopKKeys(True), r"TopKKeys\(k\)"),
        (lambda: TopKKeys(2.0), r"TopKKeys\(k\)"),
        (lambda: ProbabilityThreshold(0), r"ProbabilityThreshold\(threshold\)"),
        (lambda: ProbabilityThreshold(1), r"ProbabilityThreshold\(threshold\)"),
        (lambda: ProbabilityThreshold(float("nan")), r"ProbabilityThreshold\(threshold\)"),
        (lambda: ProbabilityThreshold(True), r"ProbabilityThreshold\(threshold\)"),
        (lambda: RandomKeyDrop(1.0), r"RandomKeyDrop\(p\)"),
        (lambda: RandomKeyDrop(-0.1), r"RandomKeyDrop\(p\)"),
        (lambda: RandomKeyDrop(float("nan")), r"RandomKeyDrop\(p\)"),
        (lambda: RandomKeyDrop(0.1, seed=-1), r"RandomKeyDrop\(seed\)"),
        (lambda: RandomKeyDrop(0.1, seed=1.0), r"RandomKeyDrop\(seed\)"),
        (lambda: DynamicMaskAttention(0), r"DynamicMaskAttention\(k\)"),
    ],
)
def test_bad_rule_parameters_are_refused_by_name(make, names):
    with pytest.raises(ValueError, match=names):
        make()


@pytest.mark.parametrize(
    ("rule", "call", "match"),
    [
        (TokenKeep, {}, "needs key_keep"),
        (TokenKeep, {"key_keep": KEY_KEEP[:, :-1]}, r"key_keep must be a bool tensor \[batch, seq_len\]"),
        (TokenKeep, {"key_keep": KEY_KEEP.long()}, r"key_keep must be a bool tensor \[batch, seq_len\]"),
        (lambda: RandomKeyDrop(0.1), {"mask_draw": -1}, "mask_draw"),
        (lambda: RandomKeyDrop(0.1), {"mask_draw": 1 << 32}, "mask_draw"),
        (lambda: RandomKeyDrop(0.1), {"mask_draw": True}, "mask_draw"),
        (lambda: RandomKeyDrop(0.1), {"mask_draw": 1.0}, "mask_draw"),
    ],
)
def test_bad_model_call_arguments_are_refused(rule, call, match):
    model = install_layer_mask(tiny_classifier(layers=1), rule())
    with pytest.raises(ValueError, match=match):
        model(**padded_batch(LENGTHS), **call)


def test_install_and_recording_refuse_what_they_cannot_use():
    model = tiny_classifier(layers=1)
    with pytest.raises(TypeError, match="LayerMask"):
        install_layer_mask(model, "topk")
    with pytest.raises(TypeError, match="transformers model"):
        install_layer_mask(torch.nn.Linear(2, 2), TopKKeys(2))
    with pytest.raises(ValueError, match="install_layer_mask"):
        LayerMaskRecording(model)
    assert layer_mask_of(model) is None
    assert model.config._attn_implementation == "eager"  # nothing was changed by the refusals
    rule = TopKKeys(2)
    assert layer_mask_of(install_layer_mask(model, rule)) is rule


def test_install_refuses_a_model_without_bert_self_attention():
    from transformers import GPT2Config, GPT2Model

    gpt2 = GPT2Model(GPT2Config(vocab_size=10, n_embd=8, n_layer=1, n_head=2, n_positions=8))
    with pytest.raises(TypeError, match="BERT-style"):
        install_layer_mask(gpt2, TopKKeys(2))


def test_a_model_switched_to_the_attention_by_hand_says_to_install_a_rule():
    install_layer_mask(tiny_classifier(layers=1), FullAttention())  # registers the attention function
    model = tiny_classifier(layers=1)
    model.set_attn_implementation(LAYER_MASK_ATTENTION)
    with pytest.raises(RuntimeError, match="install_layer_mask"):
        model(**padded_batch(LENGTHS))


def test_recording_and_layer_mask_of_refuse_a_non_model_with_a_type_error():
    with pytest.raises(TypeError, match="model"):
        LayerMaskRecording("not a model")
    with pytest.raises(TypeError, match="model"):
        layer_mask_of("not a model")


# ---- 7. RandomKeyDrop is a pure function of (seed, mask_draw, layer) ----------------------------


def _random_masks(seed: int, **call) -> list[torch.Tensor]:
    model = install_layer_mask(tiny_classifier(), RandomKeyDrop(0.5, seed=seed))
    return _recorded_run(model, padded_batch(LENGTHS), call)[1].masks


def test_random_key_drop_repeats_for_a_draw_and_changes_with_draw_seed_and_layer():
    first = _random_masks(7, mask_draw=4)
    assert all(torch.equal(a, b) for a, b in zip(first, _random_masks(7, mask_draw=4), strict=True))
    assert not torch.equal(first[0], _random_masks(7, mask_draw=5)[0])
    assert not torch.equal(first[0], _random_masks(8, mask_draw=4)[0])
    assert not torch.equal(first[0], first[1])  # each layer draws its own pattern
    default, zero = _random_masks(7), _random_masks(7, mask_draw=0)
    assert all(torch.equal(a, b) for a, b in zip(default, zero, strict=True))


def test_random_key_drop_refuses_seeds_that_would_collide():
    # draw_seed packs the seed above 40 bits and the hash reads 64: seed 2**24 would draw seed 0's masks
    with pytest.raises(ValueError, match=r"RandomKeyDrop\(seed\) must be an int in \[0, 2\*\*24\)"):
        RandomKeyDrop(0.5, seed=1 << 24)
    assert not torch.equal(_random_masks(0, mask_draw=3)[0], _random_masks((1 << 24) - 1, mask_draw=3)[0])
    with pytest.raises(ValueError, match="up to 256 layers"):
        RandomKeyDrop.draw_seed(0, 0, 256)


# ---- 8. topk_keep, the selection behind TopKKeys and DMA ----------------------------------------


def test_topk_keep_ties_go_to_the_lower_key_index():
    scores = torch.tensor([1.0, 3.0, 3.0, 3.0, 0.0, 3.0])
    allowed = torch.tensor([True, False, True, True, True, True])
    assert topk_keep(scores, 2, allowed).tolist() == [False, False, True, True, False, False]
    # Long tied rows too (an unstable sort reorders ties from about 33 keys on).
    tied = torch.zeros(64)
    assert torch.equal(topk_keep(tied, 5, torch.ones(64, dtype=torch.bool)), torch.arange(64) < 5)


def test_topk_keep_keeps_exactly_the_allowed_keys_when_fewer_than_k():
    scores = torch.tensor([[0.5, -1.0, 2.0, 0.0, 1.0]])
    allowed = torch.tensor([[False, True, False, True, False]])
    assert torch.equal(topk_keep(scores, 4, allowed), allowed)


def test_topk_keep_broadcasts_allowed_against_scores_both_ways():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 4, 6, generator=gen)
    allowed = torch.rand(2, 1, 1, 6, generator=gen) > 0.3
    assert torch.equal(topk_keep(scores, 2, allowed), topk_keep(scores, 2, allowed.expand(2, 3, 4, 6)))
    shared = scores[:1, :1]  # [1, 1, 4, 6] scores, a larger allowed mask: the result is [2, 3, 4, 6]
    wide = torch.rand(2, 3, 4, 6, generator=gen) > 0.3
    got = topk_keep(shared, 2, wide)
    assert got.shape == (2, 3, 4, 6)
    assert torch.equal(got, topk_keep(shared.expand(2, 3, 4, 6), 2, wide))


def test_topk_keep_keeps_min_k_allowed_even_with_minus_inf_scores():
    inf = float("inf")
    scores = torch.tensor([-inf, -inf, 1.0])
    allowed = torch.tensor([False, True, True])
    assert topk_keep(scores, 2, allowed).tolist() == [False, True, True]


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 3),
    heads=st.integers(1, 3),
    width=st.integers(1, 8),
    k=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_topk_keys_rule_matches_an_independent_rank_reference(batch, heads, width, k, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randint(-2, 3, (batch, heads, width, width), generator=gen).float()  # many ties
    lengths = torch.randint(1, width + 1, (batch,), generator=gen)
    valid = padding_valid((torch.arange(width)[None, :] < lengths[:, None]).long())
    keep, bias = TopKKeys(k).select(logits, valid, layer=0, value=None, module=None, inputs={})
    keep = keep & valid
    assert bias is None
    # A key is kept iff it is allowed and fewer than k allowed keys rank before it
    # (a higher score, or the same score at a lower index).
    s_key, s_other = logits[..., :, None], logits[..., None, :]  # [..., key, other]
    lower = torch.arange(width)[None, :] < torch.arange(width)[:, None]  # other < key
    before = valid[..., None, :] & ((s_other > s_key) | ((s_other == s_key) & lower))
    assert torch.equal(keep, valid & (before.sum(-1) < k))
    dense = topk_keys(logits, min(k, width), within=valid).dense(batch, heads, width, width)
    assert torch.equal(keep, dense)


def test_set_layer_mask_swaps_the_rule_of_every_layer_and_returns_the_old_one():
    from dynmask_viz.hf import set_layer_mask

    model = install_layer_mask(tiny_classifier(), FullAttention())
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        full = model(**batch).logits
        topk = TopKKeys(1)
        assert isinstance(set_layer_mask(model, topk), FullAttention)
        assert all(m.layer_mask is topk for m in model.modules() if hasattr(m, "layer_mask"))
        swapped = model(**batch).logits
        assert set_layer_mask(model, FullAttention()) is topk
        assert not torch.allclose(swapped, full) and torch.allclose(model(**batch).logits, full)
    with pytest.raises(ValueError, match="no layer mask installed"):
        set_layer_mask(tiny_classifier(), TopKKeys(1))
    with pytest.raises(TypeError, match="LayerMask"):
        set_layer_mask(model, "topk")


def test_a_model_that_does_not_switch_attention_is_refused(monkeypatch):
    model = tiny_classifier()
    # transformers only logs a warning when it decides a model cannot switch implementation
    monkeypatch.setattr(model, "set_attn_implementation", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="did not switch to the layer-mask attention"):
        install_layer_mask(model, TopKKeys(2))


def test_a_bool_4d_mask_is_read_as_may_attend():
    model = install_layer_mask(tiny_classifier(), FullAttention())
    batch = padded_batch(LENGTHS)
    length = batch["input_ids"].shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()[None, None].expand(len(LENGTHS), 1, -1, -1)
    with torch.no_grad(), LayerMaskRecording(model, keep_masks=True) as rec:
        model(input_ids=batch["input_ids"], attention_mask=causal)
    assert torch.equal(rec.masks[0], causal.expand_as(rec.masks[0]))  # not an error, not "all blocked"


def test_dma_scorers_follow_the_model_dtype_and_rank_in_float32():
    model = tiny_classifier().to(torch.bfloat16)
    install_layer_mask(model, DynamicMaskAttention(3))
    scorer = self_attentions(model)[0].dma_scorer
    assert scorer.dt_proj.weight.dtype == torch.bfloat16
    with torch.no_grad():
        logits = model(**padded_batch(LENGTHS)).logits  # no dtype mismatch
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


def test_token_keep_owns_its_keep_row():
    tokens = ["[CLS]", "the", "film", ",", "sadly", "!", "[SEP]"]
    assert TokenKeep("drop_stopwords").keep_row(tokens) == [True, False, True, False, True, False, True]
    assert TokenKeep("drop_punctuation", stopwords=()).keep_row(tokens) == [
        True,
        True,
        True,
        False,
        True,
        False,
        True,
    ]
    assert TokenKeep("x", stopwords={"film"}, punctuation=False).keep_row(tokens) == [
        True, True, False, True, True, True, True,
    ]  # fmt: skip
