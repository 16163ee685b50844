"""Where words begin, for :class:`MLMCollator`'s whole-word and span units: one rule per source.

Sources (``word_boundaries``): a ``word_ids`` feature, a ``chinese_ref`` feature
(transformers' old format), the vocabulary's word markers, Hugging Face's offset rule, or a
word segmenter over the tokens' text (``"chinese"``: jieba; ``"segmenter"``: any callable).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from ._features import flatten, pad
from .core import candidate_mask
from .segmentation import TokenPieces, word_ids_from_segmenter
from .segmenters import JiebaSegmenter
from .units import word_ids_from_offsets, word_ids_from_starts

WORD_BOUNDARIES = ("auto", "word_ids", "vocab", "offsets", "chinese", "segmenter")
_SEGMENTED = ("chinese", "segmenter")
# Rows whose segmented words are remembered (least recently used dropped first): every epoch
# shows the same sequences again, and segmenting is most of the collator's time (jieba: ~25 ms
# of ~43 ms for 64 reviews of 125 characters, benchmarks/bench_chinese.py). About 0.7 kB a row.
# Per process: non-persistent DataLoader workers are new copies each epoch and start empty, as
# does a larger dataset read in order; precomputed word_ids are the way for real training.
SEGMENTED_ROWS_CACHED = 16384
BATCHES_CHECKED_FOR_CHINESE = 2


def check_word_boundaries(word_boundaries, segmenter, unit: str | None) -> tuple[str, Callable | None]:
    """Validate the collator's ``word_boundaries``/``segmenter``; return the rule and segmenter.

    ``segmenter`` with ``"auto"`` means ``"segmenter"``; ``"chinese"`` without one uses
    :class:`JiebaSegmenter`. A segmenter with a rule that does not use it, or a segmenter rule
    when the masking selects single tokens (``unit="token"``: words would change nothing), is
    refused rather than ignored.

    Args:
        word_boundaries: The collator's argument, one of :data:`WORD_BOUNDARIES`.
        segmenter: The collator's ``segmenter`` argument (a callable or None).
        unit: The masking unit (``"token"``, ``"word"``, ``"span"``), None for ``mlm=False``.

    Returns:
        ``(rule, segmenter)``: the rule to apply and the segmenter it uses (None if none).

    Raises:
        ValueError: An unknown rule, a segmenter with a rule that does not use it, a
            segmenter rule without one, or a segmenter rule with ``unit="token"``.
        TypeError: ``segmenter`` is not callable.
    """
    if not isinstance(word_boundaries, str) or word_boundaries not in WORD_BOUNDARIES:
        raise ValueError(f"word_boundaries must be one of {WORD_BOUNDARIES}; got {word_boundaries!r}.")
    if segmenter is not None and not callable(segmenter):
        raise TypeError(
            f"segmenter must be a callable text -> list of words (e.g. jieba.lcut); got "
            f"{type(segmenter).__name__}."
        )
    rule = word_boundaries
    if segmenter is not None:
        if rule == "auto":
            rule = "segmenter"
        elif rule not in _SEGMENTED:
            raise ValueError(
                f"segmenter=... is used by word_boundaries='chinese' or 'segmenter' (or 'auto'), "
                f"not by word_boundaries={word_boundaries!r}: drop one of the two."
            )
    if rule == "segmenter" and segmenter is None:
        raise ValueError(
            "word_boundaries='segmenter' needs segmenter=callable (text -> list of words); for "
            "Chinese with jieba use word_boundaries='chinese'."
        )
    if rule in _SEGMENTED and unit == "token":
        raise ValueError(
            f"word_boundaries={rule!r} groups tokens into words, but this masking selects single "
            "tokens (unit='token'): pass whole_word_mask=True, or config=MaskingConfig(unit='word') "
            "(or unit='span')."
        )
    if rule == "chinese" and segmenter is None:
        segmenter = JiebaSegmenter()
    return rule, segmenter


class WordBoundaries:
    """The collator's word-boundary rule, with what it reads from the tokenizer, built lazily.

    Args:
        rule: One of :data:`WORD_BOUNDARIES` (``"auto"`` picks per batch, see :meth:`word_ids`).
        segmenter: The callable of the segmenter rules (None otherwise).
    """

    def __init__(self, rule: str, segmenter: Callable | None) -> None:
        self.rule = rule
        self.segmenter = segmenter
        self._pieces: TokenPieces | None = None
        self._cjk: torch.Tensor | None = None
        self._warned = False
        self._checked = 0
        self._segmented: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        # Copies (spawned DataLoader workers) rebuild the vocabulary tables and the cache lazily.
        return {"rule": self.rule, "segmenter": self.segmenter}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["rule"], state["segmenter"])

    def pieces(self, tokenizer, vocab) -> TokenPieces:
        """The tokenizer's :class:`TokenPieces`, read once (refused unless WordPiece)."""
        if self._pieces is None:
            self._pieces = TokenPieces(
                tokenizer, word_start=vocab.word_start, has_word_end=vocab.word_end is not None
            )
        return self._pieces

    def word_ids(self, unit, tokenizer, vocab, columns, ids, attention_mask, special, where) -> torch.Tensor:
        """``[B, L]`` word index of each token (-1: none).

        ``"auto"`` takes a ``word_ids`` feature, else a ``chinese_ref`` feature, else the
        vocabulary's word markers, else ``offset_mapping``.

        Args:
            unit: The masking unit (for the message when no source fits).
            tokenizer: The collator's tokenizer (token texts, for the segmenter rules).
            vocab: The ``MaskingVocab`` (its word tables hold the vocabulary's markers).
            columns: The features' columns; ``ids``, ``attention_mask``, ``special``: ``[B, L]``.
            where: ``[B, L]`` bool numpy array, True where a row's real tokens are.
        """
        rule = self.rule
        if rule == "auto":
            if "word_ids" in columns:
                rule = "word_ids"
            elif "chinese_ref" in columns:
                rule = "chinese_ref"
            elif vocab.has_word_markers:
                rule = "vocab"
            else:
                rule = "offsets"
        if rule == "word_ids" and "word_ids" in columns:
            rows = [[-1 if w is None else w for w in row] for row in columns["word_ids"]]
            return pad("word_ids", rows, -1, where)
        _, candidates = candidate_mask(ids, vocab, attention_mask, special)
        if rule in _SEGMENTED:
            return self._segmented_word_ids(self.pieces(tokenizer, vocab), ids, candidates)
        if rule == "chinese_ref":
            starts = _starts_from_chinese_ref(columns["chinese_ref"], ids, vocab, where)
            return word_ids_from_starts(starts, candidates)
        if rule == "vocab" and vocab.has_word_markers:
            if self.rule == "auto":
                self._warn_if_chinese(tokenizer, vocab, ids, candidates)
            return vocab.word_ids(ids, candidates)
        if rule == "offsets" and "offset_mapping" in columns:
            flat = torch.from_numpy(
                flatten("offset_mapping", columns["offset_mapping"], pairs=True).reshape(-1, 2)
            )
            if where.all():
                offsets = flat.reshape(*where.shape, 2)
            else:
                offsets = torch.zeros((*where.shape, 2), dtype=torch.int64)
                offsets[torch.from_numpy(where)] = flat
            return word_ids_from_offsets(offsets, candidates)
        needs = {
            "word_ids": "a 'word_ids' feature (a fast tokenizer's encoding.word_ids())",
            "offsets": "an 'offset_mapping' feature (tokenizer(..., return_offsets_mapping=True))",
            "vocab": "a vocabulary with word markers, and none of this one's tokens carries ##, "
            "\u0120, \u2581 or </w> (MaskingVocab.has_word_markers is False)",
            "auto": "a 'word_ids' or 'offset_mapping' feature, since none of this vocabulary's tokens "
            "carries a word marker (##, \u0120, \u2581 or </w>)",
        }[self.rule]
        raise ValueError(f"unit={unit!r} with word_boundaries={self.rule!r} needs {needs}.")

    def _segmented_word_ids(self, pieces: TokenPieces, ids: torch.Tensor, candidates: torch.Tensor):
        """``[B, L]`` word ids from the segmenter, row by row, remembered by row content."""
        ids_np, allowed_np = ids.numpy(), candidates.numpy()
        out = np.full(ids_np.shape, -1, dtype=np.int64)
        for row in range(ids_np.shape[0]):
            where = np.flatnonzero(allowed_np[row])
            if where.size == 0:
                continue
            # From the first to the last candidate: the same text padded (or left padded) to
            # another length in another batch is the same key. The key is hashed to a 16-byte
            # blake2b digest, so a collision is out of reach (unlike Python's 64-bit hash).
            first, end = int(where[0]), int(where[-1]) + 1
            body_ids, body_allowed = ids_np[row, first:end], allowed_np[row, first:end]
            digest = hashlib.blake2b(body_ids.tobytes(), digest_size=16)
            digest.update(body_allowed.tobytes())
            key = digest.digest()
            words = self._segmented.get(key)
            if words is None:
                words = np.asarray(
                    word_ids_from_segmenter(body_ids.tolist(), body_allowed.tolist(), pieces, self.segmenter),
                    dtype=np.int32,
                )
                self._segmented[key] = words
                while len(self._segmented) > SEGMENTED_ROWS_CACHED:
                    self._segmented.popitem(last=False)
            else:
                self._segmented.move_to_end(key)
            out[row, first:end] = words
        return torch.from_numpy(out)

    def _warn_if_chinese(self, tokenizer, vocab, ids, candidates) -> None:
        """Warn once when BERT's ``##`` rule meets Chinese characters: each becomes a word.

        Only the first :data:`BATCHES_CHECKED_FOR_CHINESE` batches are looked at: the look-up
        costs ~0.08 ms on 64 x 512 tokens (2 % of the whole-word path, on every batch), and
        Chinese data shows itself in its first batch (each DataLoader worker checks its own).
        """
        if self._warned or vocab.word_start is None or self._checked >= BATCHES_CHECKED_FOR_CHINESE:
            return
        self._checked += 1
        if self._cjk is None:
            try:
                pieces = self.pieces(tokenizer, vocab)
            except ValueError:  # not a WordPiece vocabulary: its words are not characters
                self._warned = True
                return
            self._cjk = torch.tensor([pieces.is_cjk(i) for i in range(len(pieces.pieces))])
        if bool((self._cjk[ids] & candidates).any()):
            self._warned = True
            warnings.warn(
                "Whole-word masking on Chinese characters with word_boundaries='auto': the "
                "vocabulary's ## rule makes every Chinese character a word of its own, so this is "
                "character masking. Pass word_boundaries='chinese' (jieba), segmenter=callable, or "
                "precomputed word_ids (dynmask_viz.masking.word_ids_for_text).",
                UserWarning,
                stacklevel=6,  # the caller of MLMCollator(...)(features), past collate and its decorator
            )


def _starts_from_chinese_ref(refs, ids: torch.Tensor, vocab, where: np.ndarray) -> torch.Tensor:
    """``[B, L]`` bool word starts: the vocabulary's, with each ``chinese_ref`` position continuing.

    transformers' old ``DataCollatorForWholeWordMask`` read ``chinese_ref`` as the positions
    (in the row's ``input_ids``, ``[CLS]`` at 0) of the Chinese characters that continue a
    word, and treated them as ``##`` pieces; positions are shifted here by left padding.
    Positions past the row's end are skipped, as that collator did: refs are often computed
    before the text is truncated (``run_chinese_ref.py`` at 512 tokens, training at 128).
    """
    if vocab.word_start is not None:
        starts = vocab.word_start.to(ids.device)[ids].clone()
    else:
        starts = torch.ones_like(ids, dtype=torch.bool)
    lengths = where.sum(1)
    first = where.argmax(1)  # column of each row's first real token (left padding shifts it)
    for row, positions in enumerate(refs):
        if hasattr(positions, "tolist"):  # a tensor or array row (a dataset's torch format)
            positions = positions.tolist()
        for position in positions if positions is not None else ():
            if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
                raise TypeError(
                    f"Feature {row}'s 'chinese_ref' must list integer token positions; got {position!r}."
                )
            if position < 0:
                raise ValueError(
                    f"Feature {row}'s 'chinese_ref' has position {position}: positions index the "
                    "row's input_ids from 0 ([CLS] at 0)."
                )
            if position < lengths[row]:  # past the end: a ref made before truncation, skipped
                starts[row, int(first[row]) + int(position)] = False
    return starts
