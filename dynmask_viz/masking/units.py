"""Selection units: which tokens are masked together (token, whole word, span of words)."""

from __future__ import annotations

import math

import torch

from .._hashing import MASK32, keyed_uniform32, to_unsigned


def word_ids_from_offsets(offsets: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Group word pieces into words from character offsets (Hugging Face's rule).

    A token starts a new word when it does not begin where the previous token ended (there
    was a space) or when the previous token was not a candidate (special or padding).

    Args:
        offsets: ``[B, L, 2]`` character ``(start, end)`` of each token.
        candidates: ``[B, L]`` bool, True on tokens that may be selected.

    Returns:
        ``[B, L]`` int64 word index per row, ``-1`` on non-candidates.
    """
    starts, ends = offsets[..., 0], offsets[..., 1]
    gap = torch.ones_like(candidates)
    gap[:, 1:] = (starts[:, 1:] != ends[:, :-1]) | ~candidates[:, :-1]
    return _number_words(candidates & gap, candidates)


def word_ids_from_vocab(
    input_ids: torch.Tensor,
    word_start: torch.Tensor | None,
    candidates: torch.Tensor,
    *,
    word_end: torch.Tensor | None = None,
) -> torch.Tensor:
    """Group word pieces into words from the vocabulary's word markers.

    With ``word_start`` (prefix markers: BERT's ``##`` rule, ``Ġ``, ``▁``) a token starts a
    word when its id does; with ``word_end`` (suffix markers: ``</w>``) when the token before
    it ends one. Either way a word never continues across a non-candidate (special or
    padding), and the first token of a row starts a word.

    Args:
        input_ids: ``[B, L]`` token ids.
        word_start: ``[V]`` bool, True for ids that begin a word (``MaskingVocab.word_start``),
            or None when ``word_end`` is given.
        candidates: ``[B, L]`` bool, True on tokens that may be selected.
        word_end: ``[V]`` bool, True for ids that end a word (``MaskingVocab.word_end``).

    Returns:
        ``[B, L]`` int64 word index per row, ``-1`` on non-candidates.

    Raises:
        ValueError: Unless exactly one of ``word_start`` and ``word_end`` is given.
    """
    if (word_start is None) == (word_end is None):
        raise ValueError(
            "word_ids_from_vocab needs exactly one of word_start (prefix markers: ##, \u0120, "
            "\u2581) and word_end (suffix markers: </w>); see MaskingVocab.word_ids."
        )
    if word_start is not None:
        starts = word_start.to(input_ids.device)[input_ids]
    else:
        starts = torch.ones_like(candidates)
        starts[:, 1:] = word_end.to(input_ids.device)[input_ids[:, :-1]]
    starts[:, 1:] |= ~candidates[:, :-1]  # a word never continues across a special token
    starts[:, 0] = True
    return _number_words(candidates & starts, candidates)


def word_ids_from_starts(starts_word: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Number words from a ``[B, L]`` bool "this token starts a word" table.

    A word never continues across a non-candidate (special or padding), and the first token
    of a row starts a word.

    Args:
        starts_word: ``[B, L]`` bool, True on tokens that begin a word.
        candidates: ``[B, L]`` bool, True on tokens that may be selected.

    Returns:
        ``[B, L]`` int64 word index per row, ``-1`` on non-candidates.
    """
    starts = starts_word.clone()
    starts[:, 1:] |= ~candidates[:, :-1]
    starts[:, :1] = True
    return _number_words(candidates & starts, candidates)


def normalize_word_ids(word_ids: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Renumber tokenizer word ids so every word of a row has a unique id.

    ``encoding.word_ids()`` restarts at 0 in the second sequence of a pair; renumbering on
    every change of id (or after a non-candidate) keeps the two sequences' words apart.

    Args:
        word_ids: ``[B, L]`` int64, the tokenizer's word index, ``-1`` (or anything) elsewhere.
        candidates: ``[B, L]`` bool, True on tokens that may be selected.

    Returns:
        ``[B, L]`` int64, words numbered 0.. per row, ``-1`` on non-candidates.
    """
    change = torch.ones_like(candidates)
    change[:, 1:] = (word_ids[:, 1:] != word_ids[:, :-1]) | ~candidates[:, :-1]
    return _number_words(candidates & change, candidates)


def _number_words(starts_word: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    numbered = starts_word.to(torch.int64).cumsum(1) - 1
    return numbered.masked_fill_(~candidates, -1)


def span_of_words(
    span_keys: torch.Tensor, num_words: int, *, geometric_p: float, max_words: int
) -> torch.Tensor:
    """Tile each row's words into consecutive spans of random (truncated geometric) length.

    Span ``c`` of a row has length ``l_c`` drawn from the hash of ``(key, c)``, so spans, like
    everything else, are a pure function of the example key. Selecting spans independently
    then masks ``mlm_probability`` of the tokens in expectation, in runs of whole words
    (SpanBERT's mean span is 3.8 words).

    Args:
        span_keys: ``[B]`` int32 keys of the examples' span stream.
        num_words: Number of word indices to cover (the sequence length is always enough).
        geometric_p: Success probability of the geometric length distribution.
        max_words: Longest span; the distribution is truncated there and renormalised.

    Returns:
        ``[B, num_words]`` int64: the span index of word ``w`` of each row.
    """
    batch = span_keys.shape[0]
    counters = torch.arange(num_words, device=span_keys.device).expand(batch, num_words)
    u = keyed_uniform32(span_keys[:, None], counters)
    if geometric_p >= 1.0:
        lengths = torch.ones_like(counters)
    else:
        # Inverse CDF of the truncated geometric: uniform in (0, 1 - (1-p)^max), then log-ratio.
        uniform = (to_unsigned(u).to(torch.float64) + 0.5) / (MASK32 + 1.0)
        top = 1.0 - (1.0 - geometric_p) ** max_words
        lengths = 1 + torch.floor(torch.log1p(-uniform * top) / math.log1p(-geometric_p)).to(torch.int64)
        lengths.clamp_(1, max_words)
    span_ends = lengths.cumsum(1)  # words [end_c - l_c, end_c) form span c
    return torch.searchsorted(span_ends, counters.contiguous(), right=True)


def span_ids_from_words(
    word_ids: torch.Tensor, span_keys: torch.Tensor, *, geometric_p: float, max_words: int
) -> torch.Tensor:
    """Span index of each token (see :func:`span_of_words`).

    Args:
        word_ids: ``[B, L]`` word index per token (``-1`` on non-candidates).
        span_keys: ``[B]`` int32 keys of the examples' span stream.
        geometric_p: Success probability of the geometric length distribution.
        max_words: Longest span in words.

    Returns:
        ``[B, L]`` int64 span index per token, ``-1`` on non-candidates.
    """
    spans = span_of_words(span_keys, word_ids.shape[1], geometric_p=geometric_p, max_words=max_words)
    return spans.gather(1, word_ids.clamp(min=0)).masked_fill_(word_ids < 0, -1)
