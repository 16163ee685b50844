"""extract_attention: equals an independent recomputation; masked keys get exactly zero weight.

Also: left padding, the empty-row policies in float16/bfloat16 and in decoders, and a cache
that is keyed by value and never hands out its own storage.
"""

import warnings

import pytest
import torch
from _tiny_models import tiny_bert_for, tiny_gpt2
from transformers import BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from dynmask_viz.attention_masks import (
    causal,
    drop_stopwords,
    global_tokens,
    keep_tokens,
    prefix_lm,
    sliding_window,
)
from dynmask_viz.formulas import attention_from_hidden
from dynmask_viz.hf import CACHE, EmptyRowWarning, extract_attention, load_model, load_tokenizer

TEXT = "The cat sat on the mat because it was tired."


def _recompute(model, result, layer):
    hidden = result.outputs.hidden_states[layer]
    mask = result.model_mask if result.model_mask.ndim == 4 else None
    if mask is None:  # 2-D padding mask: the equivalent 4-D bool mask
        mask = result.applied_mask
    return attention_from_hidden(model.encoder.layer[layer], hidden, mask).weights


def test_extraction_matches_independent_recomputation(model, tokenizer):
    result = extract_attention(model, tokenizer, TEXT, use_cache=False)
    assert result.attentions.shape == (1, 6, 12, len(result.tokens[0]), len(result.tokens[0]))
    assert result.tokens[0][0] == "[CLS]" and result.tokens[0][-1] == "[SEP]"
    for layer in range(result.num_layers):
        torch.testing.assert_close(
            result.attentions[:, layer], _recompute(model, result, layer), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("rule", [sliding_window(2, causal=False), causal()], ids=str)
def test_masked_keys_get_exactly_zero_weight(model, tokenizer, rule):
    result = extract_attention(model, tokenizer, TEXT, mask=rule, use_cache=False)
    blocked = ~result.applied_mask.expand_as(result.attentions[:, 0])
    for layer in range(result.num_layers):
        weights = result.attentions[:, layer]
        assert (weights[blocked] == 0).all()
        torch.testing.assert_close(weights, _recompute(model, result, layer), atol=1e-5, rtol=0)
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_batch_with_padding_and_dropped_stopwords(model, tokenizer):
    texts = [TEXT, "A much shorter one."]
    enc = tokenizer(texts, padding=True)
    rule = drop_stopwords(enc["input_ids"], tokenizer)
    result = extract_attention(model, tokenizer, texts, mask=rule, use_cache=False)
    assert [len(t) for t in result.tokens] == [sum(m) for m in enc["attention_mask"]]
    n = len(result.tokens[1])
    assert (result.attentions[1, :, :, :, n:] == 0).all()  # padding keys
    dropped = [i for i, t in enumerate(result.tokens[0]) if t in ("the", "on", "it", "was", ".")]
    ex, allowed = result.example(0), result.mask_of(0)
    assert len(dropped) == 6
    others = [i for i in range(len(result.tokens[0])) if i not in dropped]
    # Every real query may not look at a dropped key (except, per the rule, the key itself).
    assert not allowed[0][others][:, dropped].any()
    assert (ex[:, :, others][..., dropped] == 0).all()
    for layer in range(result.num_layers):
        torch.testing.assert_close(
            result.attentions[:, layer], _recompute(model, result, layer), atol=1e-5, rtol=0
        )
    assert ex.shape[-1] == len(result.tokens[0])


def test_forces_eager_and_caches(tokenizer):
    model = load_model(attn_implementation="sdpa")
    CACHE.clear()
    first = extract_attention(model, tokenizer, TEXT)
    assert model.config._attn_implementation == "eager"
    again = extract_attention(model, tokenizer, TEXT)
    assert CACHE.hits == 1 and again is not first  # a copy: the cache's storage stays private
    assert torch.equal(again.attentions, first.attentions) and again.tokens == first.tokens
    other = extract_attention(model, tokenizer, TEXT, mask=causal())
    assert other is not first and CACHE.misses == 2


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_decoder_models_are_causal(tokenizer, arch):
    torch.manual_seed(0)
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        model = GPT2LMHeadModel(config)
    else:
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=64,
        )
        model = LlamaForCausalLM(config)
    plain = extract_attention(model, tokenizer, TEXT, use_cache=False)
    direct = model(plain.input_ids, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(plain.outputs.hidden_states[-1], direct)  # no stray token_type_ids
    upper = ~torch.ones(plain.attentions.shape[-2:], dtype=torch.bool).tril()
    assert (plain.attentions[..., upper] == 0).all()
    assert torch.equal(plain.applied_mask[0, 0], ~upper)
    windowed = extract_attention(model, tokenizer, TEXT, mask=sliding_window(3), use_cache=False)
    assert (windowed.attentions[..., ~windowed.applied_mask[0, 0]] == 0).all()
    assert windowed.applied_mask[0, 0].sum() < (~upper).sum()


# ---- helpers: tiny random models over the offline tokenizer's vocabulary ---------------------


def constant_negative_scores(model, score_root: float = 3.0):
    """Make every scaled score of every head the same negative number (about -25 here).

    Queries ``+c`` and keys ``-c`` in every dim give ``q.k = -c^2 d``: in float16,
    ``finfo.min`` plus a score below -16 overflows to ``-inf``, the case that gave NaN.
    """
    with torch.no_grad():
        if isinstance(model, BertModel):
            for layer in model.encoder.layer:
                attn = layer.attention.self
                for linear, sign in ((attn.query, 1.0), (attn.key, -1.0)):
                    linear.weight.zero_()
                    linear.bias.fill_(sign * score_root)
        else:  # GPT-2: c_attn packs [q | k | v] along its output dim
            width = model.config.n_embd
            for block in model.transformer.h:
                block.attn.c_attn.weight[:, : 2 * width] = 0
                block.attn.c_attn.bias[:width] = score_root
                block.attn.c_attn.bias[width : 2 * width] = -score_root
    return model


def no_key_rule(tokenizer, texts):
    """A rule that hides every key: every query row is empty, so the policy decides all."""
    ids = tokenizer(texts, padding=True, return_tensors="pt")["input_ids"]
    return keep_tokens(torch.zeros(ids.shape, dtype=torch.bool))


@pytest.fixture
def left_tokenizer():
    tokenizer = load_tokenizer()  # a fresh one: the module's tokenizer keeps right padding
    tokenizer.padding_side = "left"
    return tokenizer


SHORT = "A much shorter one."


# ---- left padding: example(), mask_of() and to_bertviz() take the real positions -------------


def test_left_padding_examples_are_the_real_tokens(left_tokenizer):
    model = tiny_gpt2(left_tokenizer)
    batch = extract_attention(model, left_tokenizer, [TEXT, SHORT], use_cache=False)
    alone = extract_attention(model, left_tokenizer, SHORT, use_cache=False)
    assert not batch.padding_mask[1, 0]  # the short text really is padded on the left
    assert batch.tokens[1] == alone.tokens[0]
    n = len(alone.tokens[0])
    assert batch.example(1).shape[-1] == n
    # Same weights as the text alone: real positions picked, and position ids that count
    # real tokens only (GPT-2 would otherwise start the short text at position 5).
    torch.testing.assert_close(batch.example(1), alone.example(0), atol=1e-5, rtol=0)
    assert torch.equal(batch.mask_of(1), alone.mask_of(0))
    layers, tokens = batch.to_bertviz(1)
    assert tokens == alone.tokens[0] and len(layers) == batch.num_layers
    torch.testing.assert_close(torch.cat(layers), alone.example(0), atol=1e-5, rtol=0)
    real = batch.padding_mask[1]
    torch.testing.assert_close(
        batch.outputs.hidden_states[-1][1, real], alone.outputs.hidden_states[-1][0], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("decoder", [False, True], ids=["bert", "gpt2"])
@pytest.mark.parametrize(
    "rule",
    [prefix_lm(3), global_tokens([0]), causal(), sliding_window(3), prefix_lm(2) | global_tokens([1])],
    ids=str,
)
def test_left_padding_rules_read_each_texts_own_positions(left_tokenizer, decoder, rule):
    """A rule of absolute positions (prefix_lm, global_tokens) used to be read in the padded
    slots: the short text's prefix fell on padding (silently) and its global token vanished."""
    model = (tiny_gpt2 if decoder else tiny_bert_for)(left_tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRowWarning)
        batch = extract_attention(model, left_tokenizer, [TEXT, SHORT], mask=rule, use_cache=False)
        alone = extract_attention(model, left_tokenizer, SHORT, mask=rule, use_cache=False)
    assert not batch.padding_mask[1, 0]
    assert torch.equal(batch.mask_of(1), alone.mask_of(0))
    torch.testing.assert_close(batch.example(1), alone.example(0), atol=1e-5, rtol=0)


def test_left_padding_refuses_a_rule_of_positions_and_slot_data(left_tokenizer):
    model = tiny_bert_for(left_tokenizer)
    ids = left_tokenizer([TEXT, SHORT], padding=True, return_tensors="pt")["input_ids"]
    rule = prefix_lm(2) & keep_tokens(torch.ones_like(ids, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"absolute positions and per-slot data.*padding_side = 'right'"):
        extract_attention(model, left_tokenizer, [TEXT, SHORT], mask=rule, use_cache=False)


def test_padding_queries_outside_a_window_are_not_empty_rows(model, tokenizer):
    """Right padding plus a window: the padding queries past a short text see no real key.
    They were counted as empty rows (a warning; refused under on_empty_row='raise')."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyRowWarning)
        result = extract_attention(model, tokenizer, [TEXT, SHORT], mask=sliding_window(2), use_cache=False)
        extract_attention(
            model, tokenizer, [TEXT, SHORT], mask=sliding_window(2), on_empty_row="raise", use_cache=False
        )
    alone = extract_attention(model, tokenizer, SHORT, mask=sliding_window(2), use_cache=False)
    torch.testing.assert_close(result.example(1), alone.example(0), atol=1e-5, rtol=0)


def test_right_padding_examples_unchanged(model, tokenizer):
    result = extract_attention(model, tokenizer, [TEXT, SHORT], use_cache=False)
    n = len(result.tokens[1])
    assert torch.equal(result.example(1), result.attentions[1, :, :, :n, :n])
    assert torch.equal(result.mask_of(1), result.applied_mask[1, :, :n, :n])


# ---- on_empty_row="uniform": only keys the padding (and causal) mask allows ------------------


def test_uniform_rows_of_a_decoder_never_look_ahead(tokenizer):
    model = tiny_gpt2(tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyRowWarning)  # "uniform" is applied silently
        result = extract_attention(
            model, tokenizer, TEXT, mask=no_key_rule(tokenizer, TEXT), on_empty_row="uniform", use_cache=False
        )
    n = len(result.tokens[0])
    expected = torch.ones(n, n).tril() / torch.arange(1, n + 1)[:, None]  # 1/(q+1) on keys <= q
    torch.testing.assert_close(result.example(0), expected.expand_as(result.example(0)))
    assert torch.equal(result.mask_of(0)[0], torch.ones(n, n, dtype=torch.bool).tril())


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_uniform_rows_do_not_depend_on_the_batch_padding(model, padding_side):
    tokenizer = load_tokenizer()
    tokenizer.padding_side = padding_side
    texts = [TEXT, SHORT]
    batch = extract_attention(
        model, tokenizer, texts, mask=no_key_rule(tokenizer, texts), on_empty_row="uniform", use_cache=False
    )
    alone = extract_attention(
        model, tokenizer, SHORT, mask=no_key_rule(tokenizer, SHORT), on_empty_row="uniform", use_cache=False
    )
    real = batch.padding_mask[1]
    for got, want in zip(batch.outputs.hidden_states, alone.outputs.hidden_states):
        torch.testing.assert_close(got[1, real], want[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(batch.example(1), alone.example(0), atol=1e-5, rtol=0)


# ---- half precision: never NaN, whatever the policy -----------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("arch", ["bert", "gpt2"])
@pytest.mark.parametrize("policy", ["keep_self", "uniform", "raise"])
def test_half_precision_policies_never_nan(tokenizer, dtype, arch, policy):
    left = load_tokenizer()
    left.padding_side = "left" if arch == "gpt2" else "right"
    build = tiny_bert_for if arch == "bert" else tiny_gpt2
    model = constant_negative_scores(build(left)).to(dtype)
    texts = [TEXT, SHORT]
    rule = no_key_rule(left, texts)
    if policy == "raise":
        with pytest.raises(ValueError, match="attend to nothing"):
            extract_attention(model, left, texts, mask=rule, on_empty_row=policy, use_cache=False)
        rule = None  # and the plain padding (+ causal) path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRowWarning)
        result = extract_attention(model, left, texts, mask=rule, on_empty_row=policy, use_cache=False)
    assert not torch.isnan(result.attentions).any()
    for hidden in result.outputs.hidden_states:
        assert not torch.isnan(hidden).any() and not torch.isinf(hidden).any()
    for b in range(2):
        weights, allowed = result.example(b), result.mask_of(b)
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-2, rtol=0)
        assert (weights[..., ~allowed.expand_as(weights[0])[0]] == 0).all() if allowed.shape[0] == 1 else True
        n = weights.shape[-1]
        if policy == "keep_self":
            assert torch.equal(weights, torch.eye(n).expand_as(weights))
        elif policy == "uniform":
            # All scores are equal, so every policy row is uniform over the structural keys.
            struct = torch.ones(n, n).tril() if arch == "gpt2" else torch.ones(n, n)
            expected = struct / struct.sum(-1, keepdim=True)
            torch.testing.assert_close(weights, expected.expand_as(weights), atol=1e-2, rtol=0)


# ---- the cache: keyed by value, never handing out its own storage ----------------------------


def test_cache_sees_edits_of_the_callers_keep_tensor(model, tokenizer):
    CACHE.clear()
    n = len(tokenizer(TEXT)["input_ids"])
    keep = torch.ones(1, n, dtype=torch.bool)
    rule = keep_tokens(keep, keep_self=True)
    first = extract_attention(model, tokenizer, TEXT, mask=rule)
    keep[0, 1:4] = False  # the caller edits the tensor the rule was built from
    second = extract_attention(model, tokenizer, TEXT, mask=rule)
    fresh = extract_attention(
        model, tokenizer, TEXT, mask=keep_tokens(keep.clone(), keep_self=True), use_cache=False
    )
    assert not torch.equal(second.attentions, first.attentions)
    torch.testing.assert_close(second.attentions, fresh.attentions)
    assert torch.equal(second.applied_mask, fresh.applied_mask)


def test_editing_a_returned_result_never_corrupts_the_cache(model, tokenizer):
    CACHE.clear()
    first = extract_attention(model, tokenizer, TEXT)
    expected = first.attentions.clone()
    first.attentions.zero_()
    first.applied_mask.zero_()
    first.outputs.hidden_states[-1].zero_()
    first.tokens[0].clear()
    again = extract_attention(model, tokenizer, TEXT)
    assert CACHE.hits == 1
    assert torch.equal(again.attentions, expected)
    assert again.applied_mask.any() and again.tokens[0][0] == "[CLS]"
    assert again.outputs.hidden_states[-1].abs().sum() > 0
    again.attentions.zero_()
    assert torch.equal(extract_attention(model, tokenizer, TEXT).attentions, expected)


def test_cache_key_includes_the_tokenizers_padding_side(model, left_tokenizer):
    CACHE.clear()
    left = extract_attention(model, left_tokenizer, [TEXT, SHORT])
    left_tokenizer.padding_side = "right"  # the same tokenizer object, now padding on the right
    right = extract_attention(model, left_tokenizer, [TEXT, SHORT])
    assert CACHE.hits == 0
    assert not torch.equal(right.padding_mask, left.padding_mask)


def test_float16_uniform_rows_warn_when_scores_are_too_large_to_absorb(tokenizer):
    model = tiny_bert_for(tokenizer)
    with torch.no_grad():  # scores of a few hundred: the mask value cannot absorb them in fp16
        for layer in model.encoder.layer:
            layer.attention.self.query.weight.mul_(40)
            layer.attention.self.key.weight.mul_(40)
    model = model.half()
    with pytest.warns(EmptyRowWarning, match="only near uniform"):
        result = extract_attention(
            model, tokenizer, TEXT, mask=no_key_rule(tokenizer, TEXT), on_empty_row="uniform", use_cache=False
        )
    assert not torch.isnan(result.attentions).any()
