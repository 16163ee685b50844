"""Tests for dynmask_viz.hf.generation (the label shift, generation with a KV cache, checked
against a full recompute and model.generate) and formulas' is_causal demonstration."""

from __future__ import annotations

import pytest
import torch

from dynmask_viz.causal_lm import PRESETS, build_model, train_bpe
from dynmask_viz.formulas import causal_mask, demo_is_causal_decoding
from dynmask_viz.hf import generate_with_cache, next_token_view, verify_generation

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat."


@pytest.fixture(scope="module")
def lm():
    """A random 2-layer GPT-2 (eager) over a small byte-level BPE: seeded, so not degenerate."""
    tokenizer = train_bpe([TEXT] * 4, 300)
    config = PRESETS["fast"].replace(vocab_size=300, block_size=64, seed=3)
    model = build_model(config, tokenizer, attn_implementation="eager").eval()
    return model, tokenizer


def test_label_shift_and_loss_by_hand(lm):
    model, tokenizer = lm
    view = next_token_view(model, tokenizer, "the cat sat on the mat.")
    n = len(view.tokens)
    assert torch.equal(view.targets, view.input_ids[1:]) and view.logits.shape == (n, len(tokenizer))
    assert view.loss_by_hand == pytest.approx(view.loss_model, abs=1e-5)  # labels=input_ids: shifted inside
    assert view.loss_shifted_twice != pytest.approx(
        view.loss_model, abs=1e-3
    )  # shifting yourself too is wrong
    probs = view.logits[:-1].softmax(-1)[torch.arange(n - 1), view.targets]
    torch.testing.assert_close(view.target_probs, probs)
    assert view.predicted_tokens[0] == tokenizer.decode([int(view.predicted[0])]).replace(" ", "\u2423")


def test_next_token_view_refuses_one_token(lm):
    model, tokenizer = lm
    with pytest.raises(ValueError, match="needs >= 2"):
        next_token_view(model, tokenizer, "a")
    with pytest.raises(ValueError, match="64 positions"):
        next_token_view(model, tokenizer, TEXT * 3)


def test_generation_with_cache_step_by_step(lm):
    model, tokenizer = lm
    trace = generate_with_cache(model, tokenizer, "the cat sat", steps=5)
    prompt = len(trace.prompt_ids)
    layers, heads = model.config.n_layer, model.config.n_head
    for s, step in enumerate(trace.steps):
        keys = prompt + s
        assert step.query_length == (prompt if s == 0 else 1)
        assert step.cache_length == (0 if s == 0 else keys - 1)
        assert tuple(step.mask.shape) == (1, 1, step.query_length, keys)
        assert step.mask_row.dtype == torch.bool and step.mask_row.shape == (keys,) and step.mask_row.all()
        assert step.attention.shape == (layers, heads, keys)
        torch.testing.assert_close(step.attention.sum(-1), torch.ones(layers, heads))
        assert step.token_id == int(step.logits.argmax())
    # Step 0 received the causal mask of the prompt: lower triangle allowed, upper blocked.
    allowed = trace.steps[0].mask[0, 0] == 0
    assert torch.equal(allowed, torch.ones(prompt, prompt, dtype=torch.bool).tril())
    assert len(trace.tokens) == prompt + 5 and trace.all_ids.shape == (prompt + 5,)


def test_cached_equals_uncached_and_generate(lm):
    model, tokenizer = lm
    trace = generate_with_cache(model, tokenizer, "the dog", steps=6)
    check = verify_generation(model, tokenizer, trace)
    assert check["max_logit_diff"] < 1e-4 and check["max_attention_diff"] < 1e-5
    assert check["same_as_generate"] is True and check["generate_ids"] == trace.generated_ids


def test_a_trace_that_picks_eos_matches_generate(lm):
    """The greedy choice here is EOS on every step (the lm_head's output is biased towards it):
    generate must take it as the trace does, neither forbid it (min_new_tokens) nor stop at it
    and pad (the pad token differs from EOS here, so padding would show)."""
    import copy

    model, tokenizer = lm
    eos = tokenizer.eos_token_id
    assert model.generation_config.eos_token_id == eos  # generate handles EOS unless told not to
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(1)
    assert tokenizer.pad_token_id != eos

    def towards_eos(module, inputs, logits):
        return logits + 2.0 * torch.nn.functional.one_hot(torch.tensor(eos), logits.shape[-1])

    handle = model.lm_head.register_forward_hook(towards_eos)
    try:
        trace = generate_with_cache(model, tokenizer, "the dog", steps=4)
        check = verify_generation(model, tokenizer, trace)
    finally:
        handle.remove()
    assert trace.generated_ids == [eos] * 4  # the premise: greedy picks EOS
    assert check["same_as_generate"] is True and check["generate_ids"] == trace.generated_ids


def test_verify_catches_a_wrong_trace(lm):
    """The check can fail: a trace whose step logits were altered is reported."""
    import dataclasses

    model, tokenizer = lm
    trace = generate_with_cache(model, tokenizer, "the dog", steps=3)
    bad_step = dataclasses.replace(trace.steps[1], logits=trace.steps[1].logits + 1.0)
    bad = dataclasses.replace(trace, steps=[trace.steps[0], bad_step, trace.steps[2]])
    assert verify_generation(model, tokenizer, bad)["max_logit_diff"] == pytest.approx(1.0, abs=1e-4)


def test_sampling_needs_a_generator_and_is_reproducible(lm):
    model, tokenizer = lm
    with pytest.raises(ValueError, match="generator"):
        generate_with_cache(model, tokenizer, "the", steps=2, greedy=False)
    a = generate_with_cache(
        model, tokenizer, "the", steps=4, greedy=False, generator=torch.Generator().manual_seed(1)
    )
    b = generate_with_cache(
        model, tokenizer, "the", steps=4, greedy=False, generator=torch.Generator().manual_seed(1)
    )
    assert a.generated_ids == b.generated_ids
    assert verify_generation(model, tokenizer, a)["same_as_generate"] is None


@pytest.mark.parametrize(("kwargs", "match"), [({"steps": 0}, "steps"), ({"steps": 80}, "positions")])
def test_generation_argument_errors(lm, kwargs, match):
    model, tokenizer = lm
    with pytest.raises(ValueError, match=match):
        generate_with_cache(model, tokenizer, "the cat", **kwargs)


def test_attention_rows_grow_by_one(lm):
    model, tokenizer = lm
    trace = generate_with_cache(model, tokenizer, "a cat", steps=4)
    rows = trace.attention_rows(layer=0, head=1)
    prompt = len(trace.prompt_ids)
    assert rows.shape == (4, prompt + 3)
    for s in range(4):
        assert torch.isfinite(rows[s, : prompt + s]).all() and torch.isnan(rows[s, prompt + s :]).all()
        torch.testing.assert_close(rows[s, : prompt + s], trace.steps[s].attention[0, 1])


def test_causal_mask_alignments():
    assert torch.equal(causal_mask(4, 4), causal_mask(4, 4, align="top_left"))  # square: the same
    assert causal_mask(1, 5).all()  # one new query after 4 cached keys sees all 5
    assert causal_mask(1, 5, align="top_left").tolist() == [[True, False, False, False, False]]
    assert causal_mask(2, 5).tolist() == [[True] * 4 + [False], [True] * 5]
    with pytest.raises(ValueError, match="align"):
        causal_mask(2, 3, align="diagonal")
    with pytest.raises(ValueError, match="q_len <= k_len"):
        causal_mask(4, 3)


def test_is_causal_is_top_left_so_wrong_for_one_query():
    demo = demo_is_causal_decoding(cache_len=10)
    torch.testing.assert_close(demo.is_causal, demo.top_left)
    torch.testing.assert_close(demo.is_causal, demo.v[..., :1, :])  # key 0's value only
    torch.testing.assert_close(demo.bottom_right, demo.no_mask)
    assert not torch.allclose(demo.is_causal, demo.bottom_right)
    assert demo.top_left_row.sum() == 1 and demo.bottom_right_row.all()
    # torch's own bottom-right bias agrees with the explicit bottom-right mask
    from torch.nn.attention.bias import causal_lower_right

    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(
        sdpa(demo.q, demo.k, demo.v, attn_mask=causal_lower_right(1, 11)), demo.bottom_right
    )
    with pytest.raises(ValueError, match="cache_len"):
        demo_is_causal_decoding(0)


def test_captured_attention_masks_reads_the_model_mask_and_removes_its_hooks(lm):
    from dynmask_viz.hf import captured_attention_masks

    model, tokenizer = lm
    ids = torch.tensor([tokenizer("the cat sat")["input_ids"]])
    keep = torch.ones_like(ids)
    hooked = lambda: sum(len(m._forward_pre_hooks) for m in model.modules())
    before = hooked()
    with captured_attention_masks(model) as seen:
        assert hooked() > before
        model(input_ids=ids, attention_mask=keep, use_cache=False)
    assert hooked() == before
    assert seen and seen[0].shape == (1, 1, ids.shape[1], ids.shape[1])
    allowed = seen[0][0, 0] == 0  # additive: 0 = may attend
    assert torch.equal(allowed, causal_mask(ids.shape[1], ids.shape[1]))
    with pytest.raises(RuntimeError), captured_attention_masks(model):
        raise RuntimeError("a failing forward pass")
    assert hooked() == before  # removed on an error too
