"""Build key-side keep masks from token strings: hide stopwords and punctuation.

No nltk dependency: a small built-in English list (:data:`ENGLISH_STOPWORDS`) is used unless
you pass your own. True = *keep* (the token stays visible as a key).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import torch

from ._data import as_flag
from .dynamic import keep_tokens
from .rule import MaskError, MaskRule

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t d ll m re ve 's 're 've 'd 'll 'm n't
    """.split()
)
# Markers some tokenizers put on word-initial pieces: GPT-2/RoBERTa byte-level BPE and
# SentencePiece. WordPiece marks *continuations* with "##" instead, which we keep on purpose.
_WORD_START_MARKERS = ("Ġ", "▁")
_SPECIAL = re.compile(r"^(\[[A-Za-z_]+\]|<[^<>\s]+>)$")  # [CLS], [SEP], <s>, </s>, <pad>, ...


def _is_punctuation(text: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in text)


def _as_words(stopwords) -> frozenset[str]:
    # A bare string is iterable too: "the" would silently mean the letters t, h and e.
    if isinstance(stopwords, str) or not isinstance(stopwords, Iterable):
        raise TypeError(
            f"stopwords must be an iterable of words (e.g. a set of str); got {stopwords!r}. "
            "For one word pass {word}."
        )
    try:
        words = list(stopwords)
    except TypeError:  # iterable in name only, e.g. a 0-d array
        raise TypeError(
            f"stopwords must be an iterable of words (e.g. a set of str); got {stopwords!r}."
        ) from None
    if not all(isinstance(w, str) for w in words):
        raise TypeError(
            f"stopwords must hold only str words; got {[w for w in words if not isinstance(w, str)][:3]!r}."
        )
    return frozenset(w.lower() for w in words)


def _as_token_rows(tokens_or_ids, tokenizer) -> list[list[str]]:
    if isinstance(tokens_or_ids, torch.Tensor):
        tokens_or_ids = tokens_or_ids.tolist()
    if isinstance(tokens_or_ids, (str, int)) or not isinstance(tokens_or_ids, Sequence):
        raise MaskError(
            "drop_stopwords expects token strings (list[str] or list[list[str]]) or token ids "
            "(list/tensor of ints, with a tokenizer); for raw text, tokenize it first, e.g. "
            "tokenizer.convert_ids_to_tokens(tokenizer(text)['input_ids'])."
        )
    rows = tokens_or_ids
    if len(rows) == 0 or not isinstance(rows[0], (list, tuple)):
        rows = [rows]
    out = []
    for row in rows:
        if all(isinstance(t, str) for t in row):
            out.append(list(row))
        elif all(isinstance(t, int) and not isinstance(t, bool) for t in row):
            if not callable(getattr(tokenizer, "convert_ids_to_tokens", None)):
                raise MaskError(
                    "drop_stopwords got token ids but no tokenizer to turn them into strings; "
                    "pass tokenizer=... (anything with convert_ids_to_tokens)."
                )
            out.append(list(tokenizer.convert_ids_to_tokens(list(row))))
        else:
            raise MaskError("drop_stopwords: each row must be all token strings or all int ids.")
    if len({len(r) for r in out}) > 1:
        raise MaskError(
            "drop_stopwords: rows have different lengths; pad them to a common length first "
            "(the padding tokens are kept here; hide them with the padding() rule)."
        )
    return out


def stopword_keep_mask(
    tokens_or_ids,
    tokenizer=None,
    *,
    stopwords: Iterable[str] | None = None,
    punctuation: bool = True,
) -> torch.Tensor:
    """Keep mask from tokens: False for stopwords (and punctuation), True for everything else.

    A token is normalized before lookup: word-start markers (``Ġ``, ``▁``) are stripped and it is
    lowercased. WordPiece continuation pieces keep their ``##`` (``##s`` is part of a longer
    word, not the stopword "s"), so they are never stopwords. Special tokens (the tokenizer's
    ``all_special_tokens``, or anything shaped like ``[CLS]`` / ``<s>``) are always kept.

    Args:
        tokens_or_ids: ``list[str]`` (one sequence), ``list[list[str]]`` (a batch of equal
            length), or int ids (list or ``[B, L]`` / ``[L]`` tensor) with ``tokenizer``.
        tokenizer: Converts ids to tokens (``convert_ids_to_tokens``); also names specials.
        stopwords: Words to hide (lowercase); default :data:`ENGLISH_STOPWORDS`.
        punctuation: Also hide tokens made only of punctuation characters.

    Returns:
        bool ``[B, L]``, True = keep the token as a key.
    """
    punctuation = as_flag("stopword_keep_mask(punctuation)", punctuation)
    rows = _as_token_rows(tokens_or_ids, tokenizer)
    words = ENGLISH_STOPWORDS if stopwords is None else _as_words(stopwords)
    specials = set(getattr(tokenizer, "all_special_tokens", None) or ())
    keep = []
    for row in rows:
        flags = []
        for tok in row:
            if tok in specials or _SPECIAL.match(tok):
                flags.append(True)
                continue
            text = tok
            for marker in _WORD_START_MARKERS:
                text = text.removeprefix(marker)
            text = text.lower()
            is_punct = punctuation and (text == "" or _is_punctuation(text))
            flags.append(not (text in words or is_punct))
        keep.append(flags)
    return torch.tensor(keep, dtype=torch.bool).reshape(len(rows), len(rows[0]))


def drop_stopwords(
    tokens_or_ids,
    tokenizer=None,
    *,
    stopwords: Iterable[str] | None = None,
    punctuation: bool = True,
    keep_self: bool = False,
) -> MaskRule:
    """Rule hiding stopwords (and punctuation) as keys: ``keep_tokens(stopword_keep_mask(...))``.

    True = may attend. Stopword queries still attend to the remaining keys (key-side drop, see
    :func:`keep_tokens`). Arguments as in :func:`stopword_keep_mask`; ``keep_self`` as in
    :func:`keep_tokens`.
    """
    keep = stopword_keep_mask(tokens_or_ids, tokenizer, stopwords=stopwords, punctuation=punctuation)
    rule = keep_tokens(keep, keep_self=as_flag("drop_stopwords(keep_self)", keep_self))
    name = "drop_stopwords(keep_self=True)" if keep_self else "drop_stopwords"
    return MaskRule(
        name=name,
        fn=rule.fn,
        params={**rule.params, "punctuation": punctuation},
        sizes=tuple((d, n, "drop_stopwords") for d, n, _ in rule.sizes),
        device=rule.device,
    )
