"""extract_attention and the checker on inputs a model cannot take: clear errors, never a crash
inside transformers; truncation only when asked for, saying what it cut."""

from __future__ import annotations

import warnings

import pytest
import torch
from _tiny_models import tiny_gpt2
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from dynmask_viz.attention_masks import MaskError, to_additive
from dynmask_viz.hf import check_attention_mask, extract_attention

TEXT = "The cat sat on the mat because it was tired."


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A GPT-2-like tokenizer: no special tokens, so an empty string has no token at all."""
    words = ["[PAD]", "[UNK]", *sorted(set(TEXT.lower().replace(".", " .").split()))]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")


LONG = " ".join(["word"] * 600)  # 602 tokens with [CLS] and [SEP]; MiniLM has 512 positions


def test_too_long_for_minilm_is_refused_naming_max_length(model, tokenizer):
    with pytest.raises(ValueError, match=r"602 tokens.*at most 512.*max_length=512"):
        extract_attention(model, tokenizer, [TEXT, LONG], use_cache=False)


def test_max_length_truncates_and_says_what_it_cut(model, tokenizer):
    with pytest.warns(UserWarning, match=r"max_length=512 cut .*text_or_batch\[1\]: 90 of 602"):
        result = extract_attention(model, tokenizer, [TEXT, LONG], max_length=512, use_cache=False)
    assert result.truncated == [0, 90]
    assert result.attentions.shape[-1] == 512 and len(result.tokens[1]) == 512
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing cut: nothing said
        assert extract_attention(model, tokenizer, TEXT, max_length=512, use_cache=False).truncated == [0]


def test_too_long_for_gpt2_positions_is_refused(tokenizer):
    model = tiny_gpt2(tokenizer, n_positions=8)
    with pytest.raises(ValueError, match=r"at most 8 \(model.config.max_position_embeddings=8\)"):
        extract_attention(model, tokenizer, TEXT, use_cache=False)
    with pytest.warns(UserWarning, match="cut"):
        result = extract_attention(model, tokenizer, TEXT, max_length=8, use_cache=False)
    assert result.attentions.shape[-1] == 8


@pytest.mark.parametrize("max_length", [0, 1, 513, -3])
def test_max_length_out_of_range_is_refused(model, tokenizer, max_length):
    with pytest.raises(ValueError, match=r"max_length must be between 3 .* and 512"):
        extract_attention(model, tokenizer, TEXT, max_length=max_length, use_cache=False)


@pytest.mark.parametrize("max_length", [2.5, "10", True])
def test_max_length_of_wrong_type_is_refused(model, tokenizer, max_length):
    with pytest.raises(TypeError, match="max_length must be None or an int"):
        extract_attention(model, tokenizer, TEXT, max_length=max_length, use_cache=False)


@pytest.mark.parametrize("texts", ["", ["The cat sat.", ""]])
def test_empty_string_on_a_decoder_is_refused(texts):
    words = word_tokenizer()
    model = tiny_gpt2(words)
    with pytest.raises(ValueError, match=r"text_or_batch\[\d\] = '' has no token"):
        extract_attention(model, words, texts, use_cache=False)
    result = extract_attention(model, words, "the cat sat .", use_cache=False)  # the tokenizer works
    assert result.tokens == [["the", "cat", "sat", "."]]


def test_empty_string_on_bert_still_has_its_special_tokens(model, tokenizer):
    assert extract_attention(model, tokenizer, "", use_cache=False).tokens == [["[CLS]", "[SEP]"]]


def test_checker_reports_the_shape_before_the_values(model):
    ids = torch.arange(1, 9)[None]
    additive = to_additive(torch.ones(5, 5, dtype=torch.bool).tril())  # wrong size AND inverted
    report = check_attention_mask(model, ids, additive)
    assert len(report.problems) == 2
    assert "does not match input_ids" in report.problems[0] and "inverted" in report.problems[1]


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"text_or_batch": []}, TypeError, "text_or_batch must be a string or a non-empty list"),
        ({"text_or_batch": [TEXT, 3]}, TypeError, "text_or_batch must be"),
        ({"mask": "causal"}, TypeError, "mask must be None, a MaskRule or a bool tensor"),
        ({"mask": torch.ones(5, 5, dtype=torch.long)}, MaskError, "mask.bool()"),
        ({"on_empty_row": "zeros"}, ValueError, "on_empty_row must be one of"),
        ({"use_cache": "yes"}, TypeError, "use_cache must be True or False"),
        ({"model": "minilm"}, TypeError, "model must be a transformers model"),
        ({"tokenizer": None}, TypeError, "tokenizer must be a transformers tokenizer"),
    ],
)
def test_bad_arguments_name_the_parameter(model, tokenizer, kwargs, error, phrase):
    call = {"model": model, "tokenizer": tokenizer, "text_or_batch": TEXT, "use_cache": False, **kwargs}
    with pytest.raises(error, match=phrase.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        extract_attention(**call)
