"""Texts tokenized for the masking engine: ids, padding, word ids and token strings.

Word ids say which pieces form one word (whole-word and span masking): a fast tokenizer's own,
else the vocabulary's ``##`` markers (BERT's rule), or a word segmenter's (Chinese whole words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..masking import MaskingVocab, candidate_mask, word_ids_for_text

__all__ = ["EncodedText", "encode_texts", "sentences_with_word_pieces", "token_strings"]


@dataclass(frozen=True)
class EncodedText:
    """Texts tokenized for the masking engine (right padded).

    Attributes:
        texts: The ``B`` input texts.
        input_ids: ``[B, L]`` int64 token ids, ``[CLS] ... [SEP]`` then padding.
        attention_mask: ``[B, L]`` int64, 1 on real tokens.
        word_ids: ``[B, L]`` int64 word index of each token, ``-1`` on special tokens and padding.
        tokens: ``B`` lists with the token strings of each row's real tokens (specials included).
    """

    texts: list[str]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_ids: torch.Tensor
    tokens: list[list[str]]

    def maskable(self, vocab: MaskingVocab) -> torch.Tensor:
        """``[B, L]`` bool, True on the tokens MLM masking may select (no specials, no padding)."""
        return candidate_mask(self.input_ids, vocab, self.attention_mask)[1]


def encode_texts(
    texts: str | Sequence[str], tokenizer, *, max_length: int = 64, segmenter=None
) -> EncodedText:
    """Tokenize texts with their word ids (which pieces form one word).

    Args:
        texts: One text or a list of texts.
        tokenizer: A Hugging Face tokenizer with a mask token (e.g. ``hf.load_tokenizer()``).
        max_length: Longer texts are truncated to this many tokens (specials included).
        segmenter: Optional word segmenter, a callable ``text -> words`` (e.g.
            ``JiebaSegmenter()`` for Chinese): words then come from it over each original
            text (:func:`~dynmask_viz.masking.word_ids_for_text`), not from the tokenizer,
            which makes every Chinese character a word of its own. Needs a fast tokenizer.

    Returns:
        An :class:`EncodedText`.

    Raises:
        ValueError: On an empty list of texts or a non-positive ``max_length``.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("encode_texts needs at least one text.")
    if max_length < 3:
        raise ValueError(f"max_length must leave room for [CLS] w [SEP] (>= 3); got {max_length}.")
    enc = tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
        return_offsets_mapping=segmenter is not None,
    )
    ids = enc["input_ids"].to(torch.int64)
    attn = enc["attention_mask"].to(torch.int64)
    if segmenter is not None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("encode_texts(segmenter=...) needs a fast tokenizer (character offsets).")
        rows = []
        for i, text in enumerate(texts):
            words = word_ids_for_text(
                text,
                enc["offset_mapping"][i].tolist(),
                segmenter,
                tokenizer_word_ids=enc.word_ids(i),
            )
            rows.append([-1 if w is None else w for w in words])
        word_ids = torch.tensor(rows, dtype=torch.int64)
    elif getattr(tokenizer, "is_fast", False):
        word_ids = torch.tensor(
            [[-1 if w is None else w for w in enc.word_ids(i)] for i in range(len(texts))]
        )
    else:  # slow tokenizers have no word ids: fall back on the vocabulary's word markers
        vocab = MaskingVocab.from_tokenizer(tokenizer)
        if not vocab.has_word_markers:
            raise ValueError(
                f"{type(tokenizer).__name__} is a slow tokenizer (no word ids) and none of its "
                "tokens carries a word marker (##, \u0120, \u2581 or </w>): use a fast tokenizer "
                "(use_fast=True) to find the words."
            )
        word_ids = vocab.word_ids(ids, candidate_mask(ids, vocab, attn)[1])
    tokens = [
        tokenizer.convert_ids_to_tokens(row[row_attn.bool()].tolist()) for row, row_attn in zip(ids, attn)
    ]
    return EncodedText(texts, ids, attn, word_ids.to(torch.int64), tokens)


def sentences_with_word_pieces(
    sentences, tokenizer, *, min_split_words: int = 2, max_tokens: int = 24
) -> list[str]:
    """The sentences (in order) with at least ``min_split_words`` words cut into several pieces.

    Args:
        sentences: Iterable of texts.
        tokenizer: Hugging Face tokenizer (a fast one gives word ids).
        min_split_words: Words of two or more pieces a sentence must contain.
        max_tokens: Longest sentence kept, in tokens (specials excluded), so figures stay readable.
    """
    found = []
    for text in sentences:
        enc = encode_texts(text, tokenizer, max_length=max_tokens + 3)
        words = enc.word_ids[0][enc.word_ids[0] >= 0]
        if 0 < words.numel() <= max_tokens and int(enc.attention_mask.sum()) - 2 <= max_tokens:
            if int((torch.bincount(words) > 1).sum()) >= min_split_words:
                found.append(text)
    return found


def token_strings(tokenizer, ids: list[int]) -> list[str]:
    """Token strings of ``ids`` (the ids themselves as strings without a tokenizer)."""
    if tokenizer is not None and hasattr(tokenizer, "convert_ids_to_tokens"):
        return [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    return [str(i) for i in ids]  # no tokenizer: show the ids themselves
