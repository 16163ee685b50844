"""Mask catalogue, structural rules: each against an independent dense reference (True = may attend).

References are written here by broadcasting index grids, never by calling the rule. The
structural rules are also checked against FlexAttention's own ``create_mask`` (vmap path).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from _attention_helpers import (
    grid,
    ref_causal,
    ref_document,
    ref_global,
    ref_padding,
    ref_prefix,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention.flex_attention import BlockMask, create_mask, flex_attention

from dynmask_viz.attention_masks import (
    MaskError,
    and_rules,
    causal,
    document,
    full,
    global_tokens,
    not_rule,
    or_rules,
    padding,
    prefix_lm,
    random_drop,
    sliding_window,
    topk_keys,
)

PROPS = settings(max_examples=25, deadline=None, derandomize=True)


def ref_window(shape, w, is_causal):
    """transformers 5's conventions: causal ``0 <= q - k < w`` (w keys), bidirectional
    ``|q - k| <= w`` (w on each side); see test_mask_conventions.py against its own masks."""
    _, _, q, k = grid(*shape)
    diff = q - k
    ok = (diff >= 0) & (diff < w) if is_causal else diff.abs() <= w
    return torch.broadcast_to(ok, shape)


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


def test_looks_ahead_is_carried_by_every_composition():
    """to_hf_mask keeps a decoder causal unless its rule looks ahead: the flag survives & and |;
    ~ drops it (the complement of a prefix is "later keys only", nothing a decoder asks for)."""
    ahead = prefix_lm(2)
    assert sliding_window(2, causal=False).looks_ahead and global_tokens([0]).looks_ahead
    assert (ahead & padding(REAL)).looks_ahead and (causal() | ahead).looks_ahead
    assert not (~ahead).looks_ahead and and_rules(full(), ahead).looks_ahead
    assert not (causal() & full() | document(SEG) | sliding_window(3)).looks_ahead


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
    assert int(row_sizes.max()) == min(w if c else 2 * w + 1, q_len)


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


# ---- issue 9 section 3: refuse, never guess ---------------------------------------------------


@pytest.mark.parametrize(
    "sizes, error, fragment",
    [
        ((1, 1, -1), MaskError, r"q_len must be an int >= 0; got -1"),
        ((1, 1, 4, -2), MaskError, r"kv_len must be an int >= 0; got -2"),
        ((1.5, 1, 4), TypeError, r"batch must be an int >= 0"),
        ((1, True, 4), TypeError, r"heads must be an int >= 0"),
    ],
)
def test_dense_refuses_bad_sizes(sizes, error, fragment):
    with pytest.raises(error, match=fragment):
        causal().dense(*sizes)


def test_dense_of_empty_sizes_is_empty():
    assert causal().dense(2, 1, 0).shape == (2, 1, 0, 0)
    assert sliding_window(2).dense(0, 1, 3, 5).shape == (0, 1, 3, 5)


@pytest.mark.parametrize(
    "build, error, fragment",
    [
        (lambda: global_tokens("abc"), TypeError, r"global_tokens\(positions\) must be integers"),
        (lambda: global_tokens([[0, 1], [2]]), TypeError, r"global_tokens\(positions\) must be integers"),
        (lambda: document([["a", "b"]]), TypeError, r"document\(segment_ids\) must be integers"),
        (
            lambda: sliding_window(3, causal="no"),
            TypeError,
            r"sliding_window\(causal\) must be True or False",
        ),
        (lambda: causal().dense(1, 1, 4, device="nonsense"), MaskError, "device must be a torch.device"),
        (lambda: causal().block_mask(1, 1, 0), MaskError, r"q_len must be an int >= 1"),
        (lambda: causal().block_mask(1, 1, 4, block_size=0), MaskError, r"block_size must be an int >= 1"),
    ],
)
def test_structural_rules_refuse_what_torch_would_misread(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


@pytest.mark.parametrize(
    "rule",
    [prefix_lm(2), global_tokens([0, 2]), ~prefix_lm(1) | global_tokens([1]), causal(), sliding_window(2)],
    ids=str,
)
def test_dense_with_starts_reads_each_texts_own_positions(rule):
    """Left padding: example b's real tokens start at slot starts[b]; its mask there must be
    the mask of the text alone, for every rule (shift-invariant ones are unchanged anyway)."""
    length, starts = 7, torch.tensor([0, 3])
    shifted = rule.dense(2, 1, length, starts=starts)
    for b, start in enumerate(starts.tolist()):
        n = length - start
        alone = rule.dense(1, 1, n)[0, 0]
        assert torch.equal(shifted[b, 0, start:, start:], alone)
    assert rule.absolute == ("prefix_lm" in rule.name or "global" in rule.name)
    assert rule.looks_ahead == rule.absolute  # here: exactly the rules that see later keys on purpose


def test_dense_starts_is_checked_and_mixed_rules_are_refused():
    rule = prefix_lm(2)
    for bad in ([0, 1], torch.tensor([0.0, 1.0]), torch.tensor([0]), torch.tensor([0, -1])):
        with pytest.raises(MaskError, match="starts must be None or a non-negative int tensor"):
            rule.dense(2, 1, 5, starts=bad)
    mixed = rule & padding(torch.ones(2, 5, dtype=torch.long))
    assert mixed.absolute and mixed.reads_slots
    assert torch.equal(mixed.dense(2, 1, 5, starts=torch.tensor([0, 0])), rule.dense(2, 1, 5))
    with pytest.raises(MaskError, match="absolute positions and per-slot data"):
        mixed.dense(2, 1, 5, starts=torch.tensor([0, 2]))


def test_a_data_rule_asked_for_on_another_device_says_how_to_fix_it():
    # On CUDA, a rule built from CPU tensors failed deep inside compiled FlexAttention.
    from dynmask_viz.attention_masks import MaskError, causal, document, padding

    real = torch.ones(2, 6, dtype=torch.bool)
    for rule in (padding(real), document(torch.zeros(2, 6, dtype=torch.int64)), padding(real) & causal()):
        with pytest.raises(MaskError, match="built from tensors on cpu, but is asked for on meta"):
            rule.dense(2, 1, 6, device="meta")
        assert rule.dense(2, 1, 6, device="cpu").shape == (2, 1, 6, 6)
    assert causal().dense(1, 1, 4, device="meta").device.type == "meta"  # index rules go anywhere
