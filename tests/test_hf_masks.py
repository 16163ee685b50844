"""Applying masks to a tiny random BertModel (offline), and the traps the checker refuses.

The "trap is real" tests pin down what transformers itself does, so that if a future version
changes behaviour, the checker's explanations are re-examined instead of silently going stale.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from _tiny_models import tiny_bert

from dynmask_viz.attention_masks import (
    MaskError,
    causal,
    full,
    keep_tokens,
    padding,
    random_drop,
    sliding_window,
    to_additive,
)
from dynmask_viz.hf import EmptyRowWarning, check_attention_mask, to_hf_mask, validate_attention_mask

MIN32 = torch.finfo(torch.float32).min


@pytest.fixture(scope="module")
def eager():
    return tiny_bert(impl="eager")


@pytest.fixture(scope="module")
def sdpa():
    return tiny_bert(impl="sdpa")


@pytest.fixture(scope="module")
def batch():
    ids = torch.randint(1, 100, (2, 8), generator=torch.Generator().manual_seed(0))
    real = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]])
    return ids, real


def run(model, ids, mask, **kw):
    with torch.no_grad():
        return model(ids, attention_mask=mask, **kw)


# ---- to_additive ----------------------------------------------------------------------------


def test_to_additive_values_and_dtype():
    mask = torch.tensor([[True, False]])
    assert to_additive(mask).tolist() == [[0.0, MIN32]]
    half = to_additive(mask, torch.float16)
    assert half.dtype == torch.float16 and half[0, 1] == torch.finfo(torch.float16).min
    assert not bool(torch.isinf(half).any())
    with pytest.raises(MaskError, match="bool"):
        to_additive(mask.float())
    with pytest.raises(MaskError, match="float dtype"):
        to_additive(mask, torch.int64)


# ---- to_hf_mask on a real model --------------------------------------------------------------


def test_eager_masked_keys_get_exactly_zero_weight(eager, batch):
    ids, real = batch
    rule = sliding_window(3) | causal() & padding(real)
    mask = to_hf_mask(rule, eager, ids, real)
    assert mask.shape == (2, 1, 8, 8) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, MIN32}
    allowed = rule.dense(2, 1, 8, 8) & real.bool()[:, None, None, :]
    out = run(eager, ids, mask, output_attentions=True)
    assert len(out.attentions) == 2
    for att in out.attentions:
        assert torch.all(att.masked_select(~allowed.expand_as(att)) == 0)
        assert torch.all(att.masked_select(allowed.expand_as(att)) > 0)


def test_padding_rule_equals_the_2d_padding_mask(eager, sdpa, batch):
    ids, real = batch
    for model in (eager, sdpa):
        ours = run(model, ids, to_hf_mask(padding(real), model, ids)).last_hidden_state
        theirs = run(model, ids, real).last_hidden_state
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_sdpa_gets_bool_and_matches_eager(eager, sdpa, batch):
    ids, real = batch
    rule = causal()
    mask = to_hf_mask(rule, sdpa, ids, real)
    assert mask.dtype == torch.bool and mask.shape == (2, 1, 8, 8)
    out_sdpa = run(sdpa, ids, mask).last_hidden_state
    out_eager = run(eager, ids, to_hf_mask(rule, eager, ids, real)).last_hidden_state
    assert torch.allclose(out_sdpa, out_eager, atol=1e-5)
    assert run(sdpa, ids, mask, output_attentions=True).attentions == ()  # sdpa: no attentions


def test_per_head_rule_gives_per_head_mask(eager, batch):
    ids, _ = batch
    rule = random_drop(0.4, seed=3) | causal()
    mask = to_hf_mask(rule, eager, ids)
    assert mask.shape == (2, 4, 8, 8)
    att = run(eager, ids, mask, output_attentions=True).attentions[0]
    assert torch.all(att.masked_select(~rule.dense(2, 4, 8, 8)) == 0)


def test_dense_bool_masks_broadcast_over_batch_with_clear_errors(eager, batch):
    ids, real = batch
    pattern = torch.ones(8, 8, dtype=torch.bool).tril()
    expected = pattern & real.bool()[:, None, :]
    for given in (pattern, pattern[None, None]):
        mask = to_hf_mask(given, eager, ids, real)
        assert mask.shape == (2, 1, 8, 8)
        assert torch.equal(mask == 0, expected[:, None])
    with pytest.raises(MaskError, match="cannot broadcast"):
        to_hf_mask(pattern.expand(3, 1, 8, 8), eager, ids)
    with pytest.raises(MaskError, match="8 tokens"):
        to_hf_mask(torch.ones(5, 5, dtype=torch.bool), eager, ids)
    with pytest.raises(MaskError, match="mask.bool()"):
        to_hf_mask(pattern.float(), eager, ids)
    with pytest.raises(MaskError, match=r"mask\[:, None\]"):
        to_hf_mask(pattern[None].expand(2, 8, 8), eager, ids)
    with pytest.raises(MaskError, match="padding mask"):
        to_hf_mask(pattern, eager, ids, attention_mask=pattern.long())


def test_empty_rows_keep_self_uniform_and_raise(eager, sdpa, batch):
    ids, real = batch  # example 1: 5 real tokens, then 3 padding
    nothing = keep_tokens(torch.zeros(2, 8, dtype=torch.bool))  # every row is empty
    # 13 = 8 + 5 real queries; the 3 padding queries are never read: they attend to
    # themselves silently, under every policy (not a problem of the mask).
    with pytest.warns(EmptyRowWarning, match="13 query row"):
        mask = to_hf_mask(nothing, eager, ids, real)
    out = run(eager, ids, mask, output_attentions=True)
    assert not bool(torch.isnan(out.last_hidden_state).any())
    assert torch.equal(out.attentions[0][1], torch.eye(8).expand(4, 8, 8))  # attends to itself

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "uniform" applies silently
        uniform = to_hf_mask(nothing, eager, ids, real, on_empty_row="uniform")
        uniform_sdpa = to_hf_mask(nothing, sdpa, ids, real, on_empty_row="uniform")
    att = run(eager, ids, uniform, output_attentions=True).attentions[0]
    assert torch.allclose(att[0], torch.full_like(att[0], 1 / 8))
    # Only over the real keys: never onto padding. Padding queries attend to themselves.
    expected = torch.tensor([0.2] * 5 + [0.0] * 3).expand(4, 5, 8)
    assert torch.allclose(att[1, :, :5], expected)
    assert torch.equal(att[1, :, 5:, 5:], torch.eye(3).expand(4, 3, 3))
    # sdpa would give zeros for an empty bool row; additive keeps it uniform like eager.
    assert uniform_sdpa.dtype == torch.float32
    assert torch.allclose(
        run(sdpa, ids, uniform_sdpa).last_hidden_state,
        run(eager, ids, uniform).last_hidden_state,
        atol=1e-5,
    )
    with pytest.raises(MaskError, match="attend to nothing"):
        to_hf_mask(nothing, eager, ids, real, on_empty_row="raise")


@pytest.mark.parametrize("policy", ["keep_self", "uniform", "raise"])
def test_queries_without_any_real_key_attend_to_themselves_silently(eager, policy):
    # An all-padding example (or the first slots of a left-padded decoder row) has no key the
    # padding mask allows: no policy can help it; its output is never read but must be finite.
    ids = torch.arange(1, 9).expand(2, 8)
    real = torch.tensor([[1] * 8, [0] * 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = to_hf_mask(full(), eager, ids, real, on_empty_row=policy)
    assert torch.equal(mask[1, 0] == 0, torch.eye(8, dtype=torch.bool))
    decoder = tiny_bert(impl="eager", is_decoder=True)
    left = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = to_hf_mask(full(), decoder, ids[:1], left, on_empty_row=policy)
    allowed = mask[0, 0] == 0
    assert torch.equal(allowed[:3], torch.eye(8, dtype=torch.bool)[:3])  # padding slots: themselves
    assert torch.equal(allowed[3:], (torch.ones(8, 8, dtype=torch.bool).tril() & left.bool())[3:])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_uniform_mask_keeps_every_row_finite_in_half_precision(dtype):
    model = tiny_bert(impl="eager").to(dtype)
    ids = torch.arange(1, 9)[None]
    nothing = keep_tokens(torch.zeros(1, 8, dtype=torch.bool))
    mask = to_hf_mask(nothing, model, ids, on_empty_row="uniform")
    assert mask.dtype == dtype
    # finfo.min + (-40) overflows to -inf in float16; the uniform level does not.
    assert not torch.isinf(mask + torch.tensor(-40.0, dtype=dtype)).any()
    out = run(model, ids, mask, output_attentions=True)
    assert not torch.isnan(out.last_hidden_state).any()


def test_a_mask_of_wrong_size_and_dtype_gets_both_problems_at_once(eager):
    ids = torch.arange(1, 9)[None]
    tutorial = torch.ones(5, 5, dtype=torch.long).tril()  # 0/1 ints, 5 tokens, input has 8
    with pytest.raises(MaskError) as err:
        to_hf_mask(tutorial, eager, ids)
    message = str(err.value)
    assert "8 tokens" in message and "mask.bool()" in message
    assert message.index("8 tokens") < message.index("mask.bool()")  # the size first


def test_causal_model_gets_causal_added():
    model = tiny_bert(impl="eager", is_decoder=True)
    ids = torch.arange(1, 7)[None]
    mask = to_hf_mask(full(), model, ids)
    assert torch.equal(mask[0, 0] == 0, torch.ones(6, 6, dtype=torch.bool).tril())
    assert torch.equal(to_hf_mask(full(), model, ids, causal=False), torch.zeros(1, 1, 6, 6))


def test_unsupported_implementation_is_refused(eager, batch):
    ids, _ = batch
    model = tiny_bert(impl="eager")
    model.config._attn_implementation = "flash_attention_2"  # config only; no kernel needed
    with pytest.raises(MaskError, match="attn_implementation='eager'"):
        to_hf_mask(causal(), model, ids)


# ---- the traps are real (what transformers 5.x does) ----------------------------------------


def test_trap_real_square_2d_pattern_uses_row_zero_only(eager):
    ids = torch.arange(1, 9)[None]
    pattern = torch.ones(8, 8, dtype=torch.long).tril()
    att = run(eager, ids, pattern, output_attentions=True).attentions[0][0, 0]
    # Row 0 of the "pattern" ([1, 0, ..., 0]) became the key padding of every query.
    assert torch.equal(att, torch.zeros(8, 8).index_fill(1, torch.tensor([0]), 1.0))


def test_trap_real_5x5_pattern_on_8_tokens_fails_confusingly(eager):
    with pytest.raises(RuntimeError, match="must match the size"):
        run(eager, torch.arange(1, 9)[None], torch.ones(5, 5, dtype=torch.long).tril())


def test_trap_real_bool_4d_under_eager_masks_nothing(eager):
    ids = torch.arange(1, 9)[None]
    blocked = ~torch.ones(8, 8, dtype=torch.bool).tril()
    att = run(eager, ids, ~blocked[None, None], output_attentions=True).attentions[0]
    assert bool((att[..., blocked] > 0.01).all())


# ---- check_attention_mask -------------------------------------------------------------------

TRAPS = {
    "5x5 pattern on 8 tokens": (
        lambda: torch.ones(5, 5, dtype=torch.long).tril(),
        "eager",
        ["(batch, key) padding mask", "must match the size", "to_hf_mask"],
    ),
    "8x8 pattern, batch 1": (
        lambda: torch.ones(8, 8, dtype=torch.long).tril(),
        "sdpa",
        ["(batch, key) padding mask", "only row 0", "to_hf_mask"],
    ),
    "padding too short": (
        lambda: torch.tensor([[1, 1, 1, 1, 1, 0]]),
        "eager",
        ["6 columns", "to_hf_mask"],
    ),
    "additive 2-D": (
        lambda: to_additive(torch.tensor([[True] * 7 + [False]])),
        "eager",
        ["inverted", "to_hf_mask"],
    ),
    "bool 4-D under eager": (
        lambda: torch.ones(1, 1, 8, 8, dtype=torch.bool).tril(),
        "eager",
        ["masks nothing", "28 pairs", "to_hf_mask"],
    ),
    "0/1 float 4-D under eager": (
        lambda: torch.ones(1, 1, 8, 8).tril(),
        "eager",
        ["masks nothing", "to_hf_mask"],
    ),
    "0/1 float 4-D under sdpa": (
        lambda: torch.ones(1, 1, 8, 8).tril(),
        "sdpa",
        ["masks nothing", "to_hf_mask"],
    ),
    "int 4-D under sdpa": (
        lambda: torch.ones(1, 1, 8, 8, dtype=torch.long),
        "sdpa",
        ["bool or float", "to_hf_mask"],
    ),
    "3-D mask": (lambda: torch.ones(1, 8, 8, dtype=torch.bool), "eager", ["3-D", "to_hf_mask"]),
    "1-D mask": (lambda: torch.ones(8, dtype=torch.long), "eager", ["1-D", "to_hf_mask"]),
    "4-D wrong key length": (
        lambda: torch.zeros(1, 1, 8, 6),
        "eager",
        ["cannot broadcast", "to_hf_mask"],
    ),
    "4-D wrong query length": (
        lambda: torch.zeros(1, 1, 5, 8),
        "sdpa",
        ["cannot broadcast", "to_hf_mask"],
    ),
    "additive of wrong dtype": (
        lambda: torch.zeros(1, 1, 8, 8, dtype=torch.float64),
        "eager",
        ["float64", "to_additive"],
    ),
    "-inf with an empty row": (
        lambda: torch.zeros(1, 1, 8, 8).index_fill(2, torch.tensor([3]), float("-inf")),
        "eager",
        ["NaN", "finfo"],
    ),
}


@pytest.mark.parametrize("case", sorted(TRAPS))
def test_each_trap_raises_mask_error_naming_the_fix(case, eager, sdpa):
    make, impl, phrases = TRAPS[case]
    model = eager if impl == "eager" else sdpa
    ids = torch.arange(1, 9)[None]
    report = check_attention_mask(model, ids, make())
    assert not report.ok
    with pytest.raises(MaskError) as err:
        validate_attention_mask(model, ids, make())
    for phrase in phrases:
        assert phrase in str(err.value), (phrase, str(err.value))
    assert "PROBLEM" in report.explain() and "FIX" in report.explain()


def test_check_accepts_correct_masks_and_counts_pairs(eager, sdpa, batch):
    ids, real = batch
    report = validate_attention_mask(eager, ids, real)
    assert report.ok and report.blocked_pairs == 8 * 3 and report.total_pairs == 2 * 64
    assert "(batch, key) padding mask" in report.explain()
    for model in (eager, sdpa):
        mask = to_hf_mask(causal(), model, ids, real)
        report = validate_attention_mask(model, ids, mask)
        expected = (~(causal() & padding(real)).dense(2, 1, 8, 8)).sum()
        assert report.blocked_pairs == int(expected) and report.empty_rows == 0
    assert validate_attention_mask(eager, ids, None).blocked_pairs == 0
    assert check_attention_mask(sdpa, ids, torch.ones(1, 1, 8, 8, dtype=torch.bool)).ok
    assert check_attention_mask(eager, ids[:1], torch.zeros(1, 1, 1, 8)).ok  # key-only 4-D


def test_check_reports_empty_rows_and_their_effect(eager):
    ids = torch.arange(1, 9)[None]
    allowed = torch.ones(1, 1, 8, 8, dtype=torch.bool).index_fill(2, torch.tensor([2]), False)
    mask = to_additive(allowed)
    report = validate_attention_mask(eager, ids, mask)
    assert report.empty_rows == 1 and "uniform" in report.explain()
    with pytest.raises(MaskError, match=r"\[batch, seq_len\]"):
        check_attention_mask(eager, ids[0], None)


def test_broadcast_message_lists_each_valid_size_once(eager):
    ids = torch.ones(1, 4, dtype=torch.long)
    with pytest.raises(MaskError, match=r"its first dim must be 1, its second 1 or 4\.") as info:
        to_hf_mask(torch.ones(3, 1, 4, 4, dtype=torch.bool), eager, ids)
    assert "1 or 1" not in str(info.value)
