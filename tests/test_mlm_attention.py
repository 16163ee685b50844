"""mlm_masked_attention: [MASK] tokens are fed, may be attended by every query, and are."""

import pytest
import torch

from dynmask_viz.analysis import WHOLE_WORDS_AS_MASK, encode_texts, mlm_masked_attention
from dynmask_viz.masking import MaskingConfig, mask_batch

TEXT = "Anarchism is a political philosophy that advocates self-governed societies."
MORE_MASKS = MaskingConfig(mlm_probability=0.4, unit="word", mask_replace_prob=1.0, random_replace_prob=0.0)


def test_mask_tokens_are_fed_allowed_and_attended(model, tokenizer, vocab):
    r = mlm_masked_attention(model, tokenizer, TEXT, MORE_MASKS, seed=3)
    # The same draw made here independently: the [MASK] positions are the masking's.
    enc = encode_texts(TEXT, tokenizer, max_length=512)
    drawn = mask_batch(
        enc.input_ids, vocab, MORE_MASKS, seed=3, example_ids=torch.tensor([0]), word_ids=enc.word_ids
    )
    assert torch.equal(r.mask_positions, drawn.replaced_by_mask[0])
    fed_masks = [t for t, m in zip(r.tokens, r.mask_positions.tolist()) if m]
    assert fed_masks == ["[MASK]"] * int(drawn.masked.sum())
    assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"  # fed as the model was trained
    assert r.text.count("[MASK]") == int(r.mask_positions.sum())
    n = len(r.tokens)
    assert r.allowed.shape == (n, n) and bool(r.allowed.all())
    torch.testing.assert_close(r.attention.sum(-1), torch.ones(r.attention.shape[:-1]))
    assert bool((r.weight_on_mask_keys() > 0.005).all())  # every layer attends to them, visibly
    s = r.summary()
    assert s["mask_tokens"] == int(r.mask_positions.sum()) >= 2
    assert s["every_query_may_attend_every_mask_key"] is True and s["allowed_pairs"] == f"{n * n} of {n * n}"
    assert s["weight_per_mask_key"] > 0.005 and s["uniform_weight_1_over_n"] == round(1 / n, 4)


def test_default_is_whole_words_as_mask(model, tokenizer):
    assert WHOLE_WORDS_AS_MASK.unit == "word" and WHOLE_WORDS_AS_MASK.keep_prob == 0
    r = mlm_masked_attention(model, tokenizer, TEXT, seed=1)
    assert r.mask_positions.any()


def test_refusals(model, tokenizer, vocab):
    with pytest.raises(ValueError, match="random_replace_prob must be 0"):
        mlm_masked_attention(model, tokenizer, TEXT, MaskingConfig())
    with pytest.raises(ValueError, match="No token of 'Hi.' was replaced by \\[MASK\\]"):
        mlm_masked_attention(
            model, tokenizer, "Hi.", MaskingConfig(mlm_probability=0.0, random_replace_prob=0.0)
        )
    # Token units can put a [MASK] inside a word: its text "[MASK]rch" is not the masked ids.
    cut = MaskingConfig(mlm_probability=0.5, mask_replace_prob=1.0, random_replace_prob=0.0)
    enc = encode_texts("anarchism", tokenizer)
    draws = {s: mask_batch(enc.input_ids, vocab, cut, seed=s).masked[0] for s in range(64)}
    seed = next(s for s, m in draws.items() if m[2:4].any() and not m[1])  # "ana" kept, a later piece masked
    with pytest.raises(ValueError, match="does not re-tokenize"):
        mlm_masked_attention(model, tokenizer, "anarchism", cut, seed=seed)
