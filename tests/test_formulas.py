"""Step-by-step attention against PyTorch SDPA and against a BERT model's own eager attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _tiny_models import tiny_bert

from dynmask_viz.attention_masks import (
    BLOCKED_BELOW,
    MaskError,
    causal,
    fix_empty_rows,
    padding,
    sliding_window,
    to_additive,
)
from dynmask_viz.formulas import attention_from_hidden, attention_steps, demo_minus_inf_row
from dynmask_viz.hf import to_hf_mask

F64_MIN = torch.finfo(torch.float64).min


def qkv(*lead, lq=5, lk=6, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*lead, lq, d, generator=gen, dtype=torch.float64),
        torch.randn(*lead, lk, d, generator=gen, dtype=torch.float64),
        torch.randn(*lead, lk, d + 2, generator=gen, dtype=torch.float64),
    )


def bool_mask(*shape, seed=1):
    mask = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.5
    mask[..., 0] = True  # at least one key per row: SDPA and eager agree only then
    return mask


@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_matches_sdpa_without_mask(lead):
    q, k, v = qkv(*lead)
    steps = attention_steps(q, k, v)
    assert torch.allclose(steps.output, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=0)
    assert steps.mask is None and not bool(steps.empty_rows.any())


def test_matches_sdpa_with_bool_additive_mask_and_scale():
    q, k, v = qkv(2, 3)
    mask = bool_mask(2, 1, 5, 6)
    for given in (mask, to_additive(mask, torch.float64)):
        for scale in (None, 0.3):
            steps = attention_steps(q, k, v, given, scale=scale)
            ref = F.scaled_dot_product_attention(q, k, v, attn_mask=given, scale=scale)
            assert torch.allclose(steps.output, ref, atol=1e-6, rtol=0)


def test_steps_are_consistent():
    q, k, v = qkv(2)
    mask = bool_mask(5, 6)
    s = attention_steps(q, k, v, mask)
    assert s.scale == pytest.approx(8**-0.5)
    assert torch.allclose(s.scores, q @ k.transpose(-2, -1))
    assert torch.equal(s.scaled, s.scores * s.scale)
    zero = torch.tensor(0.0, dtype=torch.float64)
    assert torch.equal(s.masked, s.scaled + torch.where(mask, zero, F64_MIN))
    assert torch.allclose(s.weights.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    assert bool((s.weights[:, ~mask] == 0).all())
    assert torch.allclose(s.output, s.weights @ v)


def test_fully_masked_row_is_uniform_not_nan():
    q, k, v = qkv(lq=3, lk=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    s = attention_steps(q, k, v, mask)
    assert not bool(torch.isnan(s.weights).any())
    assert torch.allclose(s.weights[1], torch.full((4,), 0.25, dtype=torch.float64))
    assert torch.allclose(s.output[1], v.mean(0))
    assert s.empty_rows.tolist() == [False, True, False]
    # SDPA agrees with the additive (finfo.min) form, but a bool mask gives a zero row there.
    additive = to_additive(mask, torch.float64)
    assert torch.allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=additive), s.output)
    zero_row = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)[1]
    assert torch.equal(zero_row, torch.zeros(10, dtype=torch.float64))


def test_empty_rows_use_the_one_blocked_threshold():
    # Any additive value <= BLOCKED_BELOW leaves a weight of exactly 0, so it counts as blocked,
    # as in check_attention_mask and the figures: -1e9 masks block like finfo.min does.
    q, k, v = qkv(lq=3, lk=4)
    for blocked in (-1e9, BLOCKED_BELOW, torch.finfo(torch.float64).min, float("-inf")):
        mask = torch.zeros(3, 4, dtype=torch.float64)
        mask[1] = blocked
        assert attention_steps(q, k, v, mask).empty_rows.tolist() == [False, True, False], blocked
    mask = torch.full((3, 4), -100.0, dtype=torch.float64)  # strongly down-weighted, not blocked
    assert not attention_steps(q, k, v, mask).empty_rows.any()


def test_minus_inf_demo_gives_nan_only_in_the_empty_row():
    s = demo_minus_inf_row()
    assert bool(torch.isnan(s.weights[1]).all()) and bool(torch.isnan(s.output[1]).all())
    assert not bool(torch.isnan(s.weights[[0, 2]]).any())
    assert s.empty_rows.tolist() == [False, True, False]
    assert torch.equal(demo_minus_inf_row(seed=3).scores, demo_minus_inf_row(seed=3).scores)


def test_bad_inputs_raise_clear_errors():
    q, k, v = qkv()
    with pytest.raises(MaskError, match="bool"):
        attention_steps(q, k, v, torch.ones(5, 6, dtype=torch.long))
    with pytest.raises(MaskError, match="dtype"):
        attention_steps(q, k, v, torch.zeros(5, 6, dtype=torch.float32))
    with pytest.raises(MaskError, match="same d"):
        attention_steps(q, k[..., :3], v)


@pytest.fixture(scope="module")
def bert():
    return tiny_bert()


@pytest.mark.parametrize("use_mask", [False, True])
def test_recomputes_bert_eager_attention(bert, use_mask):
    ids = torch.randint(1, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    real = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    mask = to_hf_mask(sliding_window(4) & padding(real), bert, ids) if use_mask else None
    with torch.no_grad():
        out = bert(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    for i, layer in enumerate(bert.encoder.layer):
        steps = attention_from_hidden(layer, out.hidden_states[i], mask)
        assert steps.weights.shape == (2, 4, 7, 7)
        assert torch.allclose(steps.weights, out.attentions[i], atol=1e-5, rtol=0)
    # The same numbers from BertAttention and BertSelfAttention, and from a bool mask.
    layer = bert.encoder.layer[0]
    a = attention_from_hidden(layer.attention, out.hidden_states[0], mask).weights
    b = attention_from_hidden(layer.attention.self, out.hidden_states[0], mask).weights
    assert torch.equal(a, b)
    if use_mask:
        as_bool = attention_from_hidden(layer, out.hidden_states[0], mask == 0).weights
        assert torch.allclose(as_bool, out.attentions[0], atol=1e-5, rtol=0)


def test_attention_from_hidden_rejects_wrong_inputs(bert):
    hidden = torch.zeros(1, 4, 32)
    with pytest.raises(TypeError, match="BERT-style"):
        attention_from_hidden(torch.nn.Linear(2, 2), hidden)
    with pytest.raises(MaskError, match="to_hf_mask"):
        attention_from_hidden(bert.encoder.layer[0], hidden, causal().dense(1, 1, 4, 4)[0, 0])


# ---- half precision: a fully masked row is uniform, never NaN --------------------------------


def negative_qkv(dtype, lq=4, lk=5, d=8, root=3.0):
    """q = +root, k = -root in every dim: every scaled score is -root^2 sqrt(d) (about -25).

    ``finfo(float16).min`` plus a score below -16 overflows to ``-inf``: a fully masked row
    of such scores was all ``-inf``, hence NaN.
    """
    gen = torch.Generator().manual_seed(0)
    q = torch.full((lq, d), root, dtype=dtype)
    k = torch.full((lk, d), -root, dtype=dtype)  # equal scores: exact in every dtype
    v = torch.randn(lk, d, generator=gen).to(dtype)
    return q, k, v


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("policy", ["keep_self", "uniform", "raise"])
@pytest.mark.parametrize("form", ["bool", "additive"])
def test_half_precision_empty_rows_never_nan(dtype, policy, form):
    q, k, v = negative_qkv(dtype, lq=5)
    allowed = torch.ones(5, 5, dtype=torch.bool).tril()
    allowed[2] = False  # query 2 may attend to nothing
    if policy == "raise":
        with pytest.raises(MaskError, match="attend to nothing"):
            fix_empty_rows(allowed, policy)
        return
    fixed, _ = fix_empty_rows(allowed, policy)
    given = fixed if form == "bool" else to_additive(fixed, dtype)
    s = attention_steps(q, k, v, given)
    assert not torch.isnan(s.weights).any() and not torch.isnan(s.output).any()
    assert not torch.isinf(s.masked).any()  # blocked entries hold finfo.min, not -inf
    torch.testing.assert_close(s.weights.sum(-1), torch.ones(5, dtype=dtype), atol=1e-2, rtol=0)
    row = s.weights[2].float()
    expected = torch.eye(5)[2] if policy == "keep_self" else torch.full((5,), 0.2)
    torch.testing.assert_close(row, expected, atol=1e-3, rtol=0)
    assert s.empty_rows.tolist() == [False, False, policy == "uniform", False, False]
    # The rows with a key match float32 attention.
    ref = attention_steps(q.float(), k.float(), v.float(), fixed)
    torch.testing.assert_close(s.weights.float(), ref.weights, atol=1e-2, rtol=0)


def test_blocked_scores_are_replaced_not_added():
    q, k, v = qkv(lq=3, lk=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1, 2:] = False
    s = attention_steps(q, k, v, mask)
    assert torch.equal(s.masked[1, 2:], torch.full((2,), F64_MIN, dtype=torch.float64))
    assert torch.equal(s.masked[mask], s.scaled[mask])  # allowed: scaled + 0


def test_mask_of_wrong_size_and_dtype_reports_both():
    q, k, v = qkv(lq=8, lk=8)
    with pytest.raises(MaskError) as err:
        attention_steps(q, k, v, torch.ones(5, 5, dtype=torch.long).tril())
    message = str(err.value)
    assert "broadcast" in message and "mask.bool()" in message
    assert message.index("broadcast") < message.index("mask.bool()")


def test_a_non_float_q_is_described_by_dtype_and_shape_not_values():
    q = torch.arange(12).reshape(1, 3, 4)
    with pytest.raises(
        MaskError,
        match=r"q must be a float tensor \[\.\.\., L, d\]; got a torch.int64 tensor of shape \(1, 3, 4\)\.$",
    ):
        attention_steps(q, q.float(), q.float())
