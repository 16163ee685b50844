"""Mask catalogue: every rule against an independent dense reference (True = may attend).

References are written here by broadcasting index grids, never by calling the rule. The
structural rules are also checked against FlexAttention's own ``create_mask`` (vmap path).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention.flex_attention import BlockMask, create_mask, flex_attention

from dynmask_viz.attention_masks import (
    ENGLISH_STOPWORDS, MaskError, MaskRule, and_rules, causal, document, drop_stopwords,
    drop_tokens, empty_rows, fix_empty_rows, full, global_tokens, keep_tokens, not_rule,
    or_rules, padding, prefix_lm, random_drop, score_threshold, sliding_window,
    stopword_keep_mask, topk_keys,
)

PROPS = settings(max_examples=25, deadline=None, derandomize=True)


def grid(batch: int, heads: int, q_len: int, kv_len: int):
    """Index grids [B,1,1,1], [1,H,1,1], [1,1,Q,1], [1,1,1,K] for reference masks."""
    return (
        torch.arange(batch)[:, None, None, None],
        torch.arange(heads)[None, :, None, None],
        torch.arange(q_len)[None, None, :, None],
        torch.arange(kv_len)[None, None, None, :],
    )


def expand(ref: torch.Tensor, shape) -> torch.Tensor:
    return torch.broadcast_to(ref, shape)


# ---- independent references -------------------------------------------------------------

def ref_causal(shape):
    _, _, q, k = grid(*shape)
    return expand(q >= k, shape)


def ref_window(shape, w, is_causal):
    _, _, q, k = grid(*shape)
    diff = q - k
    ok = (diff >= 0) & (diff <= w - 1) if is_causal else (diff <= w - 1) & (diff >= 1 - w)
    return expand(ok, shape)


def ref_prefix(shape, n):
    _, _, q, k = grid(*shape)
    n = torch.as_tensor(n).reshape(-1, 1, 1, 1)
    return expand((k <= q) | (k < n), shape)


def ref_document(shape, seg):
    # Same document <=> equal ids: compare ids of every query with ids of every key.
    same = seg[:, :, None] == seg[:, None, :]
    return expand(same[:, None], shape)


def ref_padding(shape, real):
    return expand(real.bool()[:, None, None, :], shape)


def ref_global(shape, positions):
    flags = torch.zeros(shape[2], dtype=torch.bool)
    flags[list(positions)] = True
    return expand(flags[None, None, :, None] | flags[None, None, None, :], shape)


SEG = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2], [5, 5, 5, 5, 5, 5, 7, 7]])
REAL = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]])
SHAPE = (2, 3, 8, 8)

STRUCTURAL = {
    "full": (full(), torch.ones(SHAPE, dtype=torch.bool)),
    "causal": (causal(), ref_causal(SHAPE)),
    "padding": (padding(REAL), ref_padding(SHAPE, REAL)),
    "window3": (sliding_window(3), ref_window(SHAPE, 3, True)),
    "window3_bidir": (sliding_window(3, causal=False), ref_window(SHAPE, 3, False)),
    "window1": (sliding_window(1), ref_window(SHAPE, 1, True)),
    "prefix3": (prefix_lm(3), ref_prefix(SHAPE, 3)),
    "prefix_per_example": (prefix_lm(torch.tensor([2, 5])), ref_prefix(SHAPE, [2, 5])),
    "document": (document(SEG), ref_document(SHAPE, SEG)),
    "global": (global_tokens([0, 5]), ref_global(SHAPE, [0, 5])),
    "packed_causal": (causal() & document(SEG), ref_causal(SHAPE) & ref_document(SHAPE, SEG)),
}


@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structural_rule_matches_reference(case):
    rule, ref = STRUCTURAL[case]
    dense = rule.dense(*SHAPE)
    assert dense.dtype == torch.bool and dense.shape == SHAPE
    assert torch.equal(dense, ref)


@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structural_rule_matches_flex_create_mask(case):
    rule, ref = STRUCTURAL[case]
    assert torch.equal(create_mask(rule, *SHAPE, device="cpu"), ref)


def test_global_tokens_per_example_flags():
    flags = torch.zeros(2, 8, dtype=torch.bool)
    flags[0, 1] = flags[1, 6] = True
    ref = flags[:, None, :, None] | flags[:, None, None, :]
    rule = global_tokens(flags)
    assert torch.equal(rule.dense(2, 1, 8, 8), ref)
    assert torch.equal(create_mask(rule, 2, 1, 8, 8, device="cpu"), ref)


def test_longformer_style_composition():
    rule = sliding_window(2, causal=False) | global_tokens([0])
    ref = ref_window((1, 1, 6, 6), 2, False) | ref_global((1, 1, 6, 6), [0])
    assert torch.equal(rule.dense(1, 1, 6, 6), ref)
    assert rule.name == "sliding_window(w=2, causal=False) | global_tokens(positions=[0])"


def test_composition_operators_and_names():
    a, b, c = causal(), sliding_window(4), prefix_lm(2)
    shape = (1, 1, 9, 9)
    ra, rb, rc = ref_causal(shape), ref_window(shape, 4, True), ref_prefix(shape, 2)
    assert torch.equal((a & b).dense(*shape), ra & rb)
    assert torch.equal((a | c).dense(*shape), ra | rc)
    assert torch.equal((~a).dense(*shape), ~ra)
    assert torch.equal(and_rules(a, b, c).dense(*shape), ra & rb & rc)
    assert torch.equal(or_rules(a, b, c).dense(*shape), ra | rb | rc)
    assert torch.equal(not_rule(a & b).dense(*shape), ~(ra & rb))
    assert (a & b).name == "causal & sliding_window(w=4)"
    assert ((a | c) & b).name == "(causal | prefix_lm(n=2)) & sliding_window(w=4)"
    assert (a | c & b).name == "causal | prefix_lm(n=2) & sliding_window(w=4)"
    assert (~(a & b)).name == "~(causal & sliding_window(w=4))"
    assert (~a).name == "~causal"
    assert and_rules(a) is a
    with pytest.raises(TypeError):
        and_rules(a, "causal")


def test_rule_is_a_flex_mask_mod_and_block_mask_is_correct():
    rule = causal() & document(SEG) & padding(REAL)
    bm = rule.block_mask(2, 1, 8, 8, block_size=4)
    assert isinstance(bm, BlockMask)
    dense = rule.dense(2, 1, 8, 8)
    # Block level: a 4x4 block is listed iff some pair inside it is allowed.
    blocks = dense.view(2, 1, 2, 4, 2, 4).any(dim=(3, 5))
    assert torch.equal(bm.to_dense().bool(), blocks)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 1, 8, 4, generator=gen) for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "flex_attention called without torch.compile"
        out = flex_attention(q, k, v, block_mask=bm)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    assert torch.allclose(out, ref, atol=1e-5)


def test_size_mismatch_is_a_clear_error_and_batch_one_broadcasts():
    rule = padding(REAL)
    with pytest.raises(MaskError, match="kv_len=8"):
        rule.dense(2, 1, 6, 6)
    with pytest.raises(MaskError, match="batch=2"):
        rule.dense(3, 1, 8, 8)
    one = padding(REAL[:1])
    assert torch.equal(one.dense(3, 1, 8, 8), ref_padding((3, 1, 8, 8), REAL[:1].expand(3, 8)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: sliding_window(0),
        lambda: prefix_lm(-1),
        lambda: prefix_lm(torch.tensor([1, -2])),
        lambda: padding(torch.tensor([[1, 2]])),
        lambda: padding(torch.zeros(1, 2, 3)),
        lambda: document(torch.zeros(4)),
        lambda: global_tokens([-1]),
        lambda: random_drop(1.5, 0),
        lambda: topk_keys(torch.rand(1, 1, 2, 3), 4),
        lambda: topk_keys(torch.full((2, 3), float("nan")), 1),
        lambda: topk_keys(torch.rand(2, 3, 3), 1),
    ],
)
def test_bad_arguments_raise_mask_error(make):
    with pytest.raises(MaskError):
        make()


def test_bad_argument_types_raise_type_error():
    with pytest.raises(TypeError):
        sliding_window(True)
    with pytest.raises(TypeError):
        padding([[1, 0]])


# ---- hypothesis properties for the structural rules ------------------------------------

@PROPS
@given(q_len=st.integers(1, 12), extra=st.integers(0, 4), w=st.integers(1, 14), c=st.booleans())
def test_property_sliding_window(q_len, extra, w, c):
    shape = (1, 1, q_len, q_len + extra)
    assert torch.equal(sliding_window(w, causal=c).dense(*shape), ref_window(shape, w, c))
    row_sizes = sliding_window(w, causal=c).dense(1, 1, q_len, q_len).sum(-1)
    assert int(row_sizes.max()) <= (w if c else 2 * w - 1)


@PROPS
@given(data=st.data(), batch=st.integers(1, 3), length=st.integers(1, 12))
def test_property_prefix_lm(data, batch, length):
    n = data.draw(st.lists(st.integers(0, length + 2), min_size=batch, max_size=batch))
    shape = (batch, 1, length, length)
    assert torch.equal(prefix_lm(torch.tensor(n)).dense(*shape), ref_prefix(shape, n))
    one = (1, 1, length, length)
    assert torch.equal(prefix_lm(n[0]).dense(*one), ref_prefix(one, n[0]))


@PROPS
@given(data=st.data(), batch=st.integers(1, 3), length=st.integers(1, 12))
def test_property_document_and_padding(data, batch, length):
    ids = st.lists(st.integers(0, 3), min_size=length, max_size=length)
    seg = torch.tensor([data.draw(ids) for _ in range(batch)])
    flags = st.lists(st.booleans(), min_size=length, max_size=length)
    real = torch.tensor([data.draw(flags) for _ in range(batch)])
    shape = (batch, 2, length, length)
    rule = causal() & document(seg) & padding(real)
    ref = ref_causal(shape) & ref_document(shape, seg) & ref_padding(shape, real)
    assert torch.equal(rule.dense(*shape), ref)


@PROPS
@given(length=st.integers(1, 12), data=st.data())
def test_property_global_tokens(length, data):
    pos = data.draw(st.lists(st.integers(0, length - 1), max_size=3, unique=True))
    shape = (1, 1, length, length)
    assert torch.equal(global_tokens(pos).dense(*shape), ref_global(shape, pos))


# ---- input-dependent rules ----------------------------------------------------------------

def test_keep_and_drop_tokens_are_key_side():
    keep = torch.tensor([[True, False, True, False]])
    shape = (1, 1, 4, 4)
    ref = expand(keep[:, None, None, :], shape)
    assert torch.equal(keep_tokens(keep).dense(*shape), ref)
    assert torch.equal(drop_tokens(~keep).dense(*shape), ref)
    # A dropped token (1) still attends as a query, but by default not to itself.
    assert keep_tokens(keep).dense(*shape)[0, 0, 1].tolist() == [True, False, True, False]
    with_self = keep_tokens(keep, keep_self=True).dense(*shape)
    assert torch.equal(with_self, ref | torch.eye(4, dtype=torch.bool))
    assert drop_tokens(~keep, keep_self=True).name == "drop_tokens(keep_self=True)"


def test_topk_keys_keeps_exactly_k_highest_per_row():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    dense = topk_keys(scores, 3).dense(2, 3, 5, 7)
    assert torch.equal(dense.sum(-1), torch.full((2, 3, 5), 3))
    # Reference: a key is kept iff fewer than k keys score strictly higher (scores are distinct).
    higher = (scores[..., None, :] > scores[..., :, None]).sum(-1)
    assert torch.equal(dense, higher < 3)
    assert topk_keys(scores, 3).per_head


def test_topk_keys_ties_go_to_lower_index_and_within_limits_choice():
    flat = torch.zeros(1, 1, 2, 5)
    first_two = [True, True, False, False, False]
    assert topk_keys(flat, 2).dense(1, 1, 2, 5)[0, 0].tolist() == [first_two] * 2
    # Long rows too (torch's unstable sort and topk reorder ties from about 33 keys on).
    tied = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0] * 8).expand(1, 1, 3, 64)
    kept = topk_keys(tied, 5).dense(1, 1, 3, 64)[0, 0]
    assert torch.equal(kept.nonzero()[:, 1].view(3, 5), torch.tensor([[0, 2, 3, 5, 7]] * 3))
    scores = torch.arange(5.0).expand(1, 1, 5, 5).clone()  # later keys score higher
    dense = topk_keys(scores, 2, within=causal()).dense(1, 1, 5, 5)
    assert torch.equal(dense.sum(-1)[0, 0], torch.tensor([1, 2, 2, 2, 2]))
    assert not bool((dense & ~ref_causal((1, 1, 5, 5))).any())
    assert dense[0, 0, 4].tolist() == [False, False, False, True, True]
    # Without within=, the future keys win the selection and causal() then removes them.
    assert (causal() & topk_keys(scores, 2)).dense(1, 1, 5, 5)[0, 0, 2].sum() == 0


def test_score_threshold_matches_reference_and_broadcasts_heads():
    scores = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(1))
    rule = score_threshold(scores, 0.5)
    ref = expand(scores >= 0.5, (1, 4, 4, 6))
    assert torch.equal(rule.dense(1, 4, 4, 6), ref)
    assert torch.equal(create_mask(rule, 1, 4, 4, 6, device="cpu"), ref)
    assert not rule.per_head


def test_random_drop_deterministic_and_same_in_dense_and_flex():
    shape = (2, 3, 16, 16)
    before = torch.get_rng_state()
    a = random_drop(0.3, seed=7).dense(*shape)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is never touched
    assert torch.equal(a, random_drop(0.3, seed=7).dense(*shape))
    assert not torch.equal(a, random_drop(0.3, seed=8).dense(*shape))
    assert torch.equal(create_mask(random_drop(0.3, seed=7), *shape, device="cpu"), a)
    assert not torch.equal(a[:, 0], a[:, 1])  # heads differ by default
    shared = random_drop(0.3, seed=7, per_head=False).dense(*shape)
    assert torch.equal(shared[:, 0], shared[:, 1])
    # A sub-grid is the same pairs: the hash depends on coordinates only, not on the sizes.
    assert torch.equal(random_drop(0.3, seed=7).dense(1, 1, 4, 5), a[:1, :1, :4, :5])


def test_random_drop_rate_and_extremes():
    big = random_drop(0.3, seed=1).dense(4, 4, 32, 32)
    assert abs((~big).float().mean().item() - 0.3) < 0.03
    assert bool(random_drop(0.0, seed=1).dense(1, 1, 8, 8).all())
    assert not bool(random_drop(1.0, seed=1).dense(1, 1, 8, 8).any())


def test_input_dependent_rules_match_create_mask():
    scores = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    keep = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1]]).bool()
    for rule in (topk_keys(scores, 2), keep_tokens(keep, keep_self=True), drop_tokens(keep)):
        assert torch.equal(create_mask(rule, 2, 2, 6, 6, device="cpu"), rule.dense(2, 2, 6, 6))


class _ToyTokenizer:
    """Just enough of a tokenizer for id input: an id -> token table."""

    vocab = ["[PAD]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", ".", "##s"]
    all_special_tokens = ["[PAD]", "[CLS]", "[SEP]"]

    def convert_ids_to_tokens(self, ids):
        return [self.vocab[i] for i in ids]


def test_stopword_keep_mask_from_tokens_and_ids():
    tokens = ["[CLS]", "The", "cat", "##s", "sat", "on", "Ġthe", "▁mat", ".", "[SEP]"]
    expected = [True, False, True, True, True, False, False, True, False, True]
    assert stopword_keep_mask(tokens).tolist() == [expected]
    assert stopword_keep_mask(tokens, punctuation=False)[0, 8]
    assert stopword_keep_mask(tokens, stopwords={"cat"})[0].tolist()[1:3] == [True, False]
    ids = torch.tensor([[1, 3, 4, 5, 6, 3, 7, 8, 2], [1, 4, 9, 8, 2, 0, 0, 0, 0]])
    keep = stopword_keep_mask(ids, _ToyTokenizer())
    assert keep[0].tolist() == [True, False, True, True, False, False, True, False, True]
    assert keep[1].tolist() == [True, True, True, False, True, True, True, True, True]
    rule = drop_stopwords(ids, _ToyTokenizer())
    assert rule.name == "drop_stopwords"
    assert torch.equal(rule.dense(2, 1, 9, 9), expand(keep[:, None, None, :], (2, 1, 9, 9)))
    assert "the" in ENGLISH_STOPWORDS


def test_stopword_input_errors_are_clear():
    with pytest.raises(MaskError, match="tokenizer"):
        stopword_keep_mask([1, 2, 3])
    with pytest.raises(MaskError, match="pad"):
        stopword_keep_mask([["a", "cat"], ["the"]])
    with pytest.raises(MaskError, match="tokenize"):
        stopword_keep_mask("the cat sat")


# ---- empty rows ------------------------------------------------------------------------

def test_empty_rows_and_policies():
    rule = causal() & drop_tokens(torch.tensor([[True, True, False, False]]))
    dense = rule.dense(1, 1, 4, 4)
    assert empty_rows(dense).tolist() == [[[True, True, False, False]]]
    fixed, empty = fix_empty_rows(dense, "keep_self")
    assert torch.equal(empty, empty_rows(dense))
    assert fixed[0, 0, 0].tolist() == [True, False, False, False]
    assert fixed[0, 0, 1].tolist() == [False, True, False, False]
    assert torch.equal(fixed[0, 0, 2:], dense[0, 0, 2:])
    assert not bool(empty_rows(fixed).any())
    same, _ = fix_empty_rows(dense, "uniform")
    assert torch.equal(same, dense)
    with pytest.raises(MaskError, match="attend to nothing"):
        fix_empty_rows(dense, "raise")
    with pytest.raises(MaskError, match="square"):
        fix_empty_rows(torch.zeros(1, 1, 2, 3, dtype=torch.bool), "keep_self")
    with pytest.raises(MaskError, match="on_empty_row"):
        fix_empty_rows(dense, "ignore")
    with pytest.raises(MaskError, match="bool"):
        empty_rows(dense.float())


def test_rule_repr_and_callable_signature():
    rule = causal()
    assert repr(rule) == "MaskRule('causal')" and str(rule) == "causal"
    assert isinstance(rule, MaskRule)
    q, k = torch.tensor(3), torch.tensor(1)
    assert bool(rule(torch.tensor(0), torch.tensor(0), q, k))
