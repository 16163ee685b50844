"""Words of Chinese text over its tokens, and how masks treat them: the data of chapter 06.

A Chinese BERT tokenizer cuts text into single characters. Which characters form a word
depends on who you ask: the tokenizer's ``word_ids()`` (every character a word of its own),
Hugging Face's offset rule (a word continues while tokens touch, so a sentence without spaces
is *one* word), or a word segmenter such as jieba (Chinese-BERT-wwm's whole words). This
module computes those word ids and the features a collator reads (``word_ids``,
``chinese_ref``); :mod:`.word_masks` counts what masks did to the words.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..masking import MaskingVocab, candidate_mask, word_ids_for_text, word_ids_from_offsets
from .encoding import EncodedText

__all__ = [
    "chinese_features",
    "chinese_ref_from_word_ids",
    "offset_word_ids",
    "word_groups",
    "word_segment_ids",
    "words_per_row",
]


def word_groups(encoded: EncodedText, row: int = 0) -> list[str]:
    """The words of one encoded text, each the concatenation of its tokens (``##`` dropped).

    Args:
        encoded: From :func:`~dynmask_viz.analysis.encode_texts` (with ``segmenter=`` for
            segmenter words, else the tokenizer's).
        row: Which text.

    Returns:
        One string per word, in order (special tokens and padding left out), e.g.
        ``["我们", "今天", "去", "北京大学", ...]``.
    """
    words: list[str] = []
    last = None
    real = encoded.attention_mask[row].bool()
    ids = encoded.word_ids[row][real].tolist()
    for token, word in zip(encoded.tokens[row], ids):
        if word < 0:
            last = None
            continue
        piece = token[2:] if token.startswith("##") and len(token) > 2 else token
        if word == last:
            words[-1] += piece
        else:
            words.append(piece)
        last = word
    return words


def chinese_features(
    texts: Sequence[str], tokenizer, segmenter, *, max_length: int = 128, ref: bool = False
) -> list[dict]:
    """Collator features with precomputed segmenter words: exact, computed once per text.

    Args:
        texts: The texts.
        tokenizer: A fast tokenizer (character offsets).
        segmenter: A callable ``text -> words`` (e.g. ``JiebaSegmenter()``).
        max_length: Longer texts are truncated (specials included).
        ref: Give transformers' old ``chinese_ref`` (positions, ``[CLS]`` at 0, of the
            characters that continue a word) instead of a ``word_ids`` list.

    Returns:
        One dict per text: ``input_ids``, ``example_id`` (its index) and ``word_ids`` (``None``
        on special tokens, as ``encoding.word_ids()``) or ``chinese_ref``.
    """
    features = []
    for i, text in enumerate(texts):
        enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        words = word_ids_for_text(text, enc["offset_mapping"], segmenter, tokenizer_word_ids=enc.word_ids())
        feature = {"input_ids": enc["input_ids"], "example_id": i}
        if ref:
            feature["chinese_ref"] = chinese_ref_from_word_ids(words)
        else:
            feature["word_ids"] = words
        features.append(feature)
    return features


def chinese_ref_from_word_ids(word_ids: Sequence[int | None]) -> list[int]:
    """transformers' old ``chinese_ref``: positions of the tokens that continue a word.

    Args:
        word_ids: ``[L]`` word index per token of one row (``None`` or ``-1``: no word).

    Returns:
        The positions ``p`` (``[CLS]`` at 0) whose token belongs to the same word as ``p - 1``.
    """
    ids = [-1 if w is None else int(w) for w in word_ids]
    return [p for p in range(1, len(ids)) if ids[p] >= 0 and ids[p] == ids[p - 1]]


def offset_word_ids(texts: Sequence[str], tokenizer, *, max_length: int = 128) -> torch.Tensor:
    """``[B, L]`` word ids under Hugging Face's offset rule (what its whole-word collator uses).

    A token continues the word of the token before it when it starts where that one ended:
    in Chinese without spaces, a whole sentence (punctuation included) is one word.

    Returns:
        ``[B, L]`` int64, ``-1`` on special tokens and padding.
    """
    enc = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    _, candidates = candidate_mask(
        enc["input_ids"], MaskingVocab.from_tokenizer(tokenizer), enc["attention_mask"]
    )
    return word_ids_from_offsets(enc["offset_mapping"], candidates)


def words_per_row(word_ids: torch.Tensor) -> torch.Tensor:
    """``[B]`` number of distinct words in each row of ``[B, L]`` word ids (``-1`` ignored)."""
    word_ids = torch.as_tensor(word_ids)
    return torch.tensor([int(torch.unique(row[row >= 0]).numel()) for row in word_ids], dtype=torch.int64)


def word_segment_ids(encoded: EncodedText, row: int = 0) -> torch.Tensor:
    """``[1, L]`` segment ids for :func:`~dynmask_viz.attention_masks.document`: one per word.

    Tokens of a word share its id; every special token and padding slot gets a segment of its
    own, so ``document(word_segment_ids(encoded))`` lets a character attend only within its
    word (and ``[CLS]``/``[SEP]`` only to themselves).
    """
    words = encoded.word_ids[row].clone()
    alone = words < 0
    start = int(words.max()) + 1 if bool((~alone).any()) else 0
    words[alone] = start + torch.arange(int(alone.sum()))
    return words[None]
