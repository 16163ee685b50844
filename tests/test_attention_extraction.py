"""extract_attention: equals an independent recomputation; masked keys get exactly zero weight."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from dynmask_viz.attention_masks import causal, drop_stopwords, sliding_window
from dynmask_viz.formulas import attention_from_hidden
from dynmask_viz.hf import CACHE, extract_attention, load_model, load_tokenizer

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model():
    return load_model()


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
    assert again is first and CACHE.hits == 1
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
