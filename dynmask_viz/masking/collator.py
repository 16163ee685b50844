"""``MLMCollator``: a fast, keyed, drop-in replacement for DataCollatorForLanguageModeling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np
import torch

from .config import MaskingConfig
from .core import MaskedBatch, candidate_mask
from .schedules import DynamicMasking, StaticMasking
from .units import word_ids_from_offsets, word_ids_from_vocab
from .vocab import MaskingVocab

# Feature keys the collator consumes and does not pass on to the model.
_CONSUMED = ("special_tokens_mask", "offset_mapping", "word_ids")
_WORD_BOUNDARIES = ("auto", "word_ids", "vocab", "offsets")


class MLMCollator:
    """Pad a list of features and apply static or dynamic MLM masking, keyed per example.

    Drop-in for ``transformers.DataCollatorForLanguageModeling``: same inputs (a list of
    dicts with ``input_ids`` and optional ``attention_mask``/``token_type_ids``/
    ``special_tokens_mask``/``offset_mapping``, or a list of id sequences) and the same output
    keys and label convention (``labels`` = original id where predicted, ``-100`` elsewhere).

    What differs, on purpose:
        * The mask of an example is a pure function of ``(seed, example id, mask epoch)``:
          identical whatever the batch, order, DataLoader worker or rank. Call
          :meth:`set_epoch` at the start of every epoch (with the Trainer:
          :class:`dynmask_viz.hf.MaskingEpochCallback`); the epoch lives in shared memory so
          persistent workers see it.
        * Example ids come from ``features[i][id_key]`` (default ``"example_id"``, e.g. the
          dataset index). Features without one are keyed by a hash of their token ids
          (padding ignored): identical sequences then share masks. Note that the Trainer drops
          unknown columns unless ``remove_unused_columns=False``.
        * Random replacements are never special tokens.
        * Word boundaries for whole-word and span units (``word_boundaries``): ``"auto"``
          (default) takes a ``word_ids`` feature if present, else the vocabulary's word markers
          (BERT's own whole-word rule: a ``##`` piece continues the previous word, so
          punctuation is a word of its own), else ``offset_mapping``. ``"offsets"`` uses
          Hugging Face's rule on ``offset_mapping`` (a word continues while tokens touch, so
          ``"fed."`` is one word), ``"vocab"`` and ``"word_ids"`` force those sources.

    Args:
        tokenizer: A Hugging Face tokenizer with a mask token.
        masking: ``DynamicMasking`` (default) or ``StaticMasking``.
        config: Shortcut for ``DynamicMasking(config, seed)`` when ``masking`` is not given.
        seed: Seed used with ``config``.
        pad_to_multiple_of: Pad the length up to a multiple of this (e.g. 8 for tensor cores).
        id_key: Feature key holding the example id.
        word_boundaries: ``"auto"``, ``"word_ids"``, ``"vocab"`` or ``"offsets"`` (see above).
        return_mask_info: Also return ``masked`` ([B, L] bool) and ``corruption`` (int8).
    """

    def __init__(
        self,
        tokenizer,
        masking: DynamicMasking | StaticMasking | None = None,
        *,
        config: MaskingConfig | None = None,
        seed: int = 0,
        pad_to_multiple_of: int | None = None,
        id_key: str = "example_id",
        word_boundaries: str = "auto",
        return_mask_info: bool = False,
    ) -> None:
        if word_boundaries not in _WORD_BOUNDARIES:
            raise ValueError(f"word_boundaries must be one of {_WORD_BOUNDARIES}; got {word_boundaries!r}.")
        if masking is not None and config is not None:
            raise ValueError(
                "Pass either masking=... or config=..., not both (the masking holds its config)."
            )
        self.tokenizer = tokenizer
        self.masking = masking or DynamicMasking(config or MaskingConfig(), seed)
        self.vocab = MaskingVocab.from_tokenizer(tokenizer)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.id_key = id_key
        self.word_boundaries = word_boundaries
        self.return_mask_info = return_mask_info
        self.left_padding = getattr(tokenizer, "padding_side", "right") == "left"
        # Shared memory: DataLoader workers (even persistent ones) read the current epoch.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Set the training epoch (0-based); the next batches use its masks."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}.")
        self._epoch.fill_(int(epoch))

    def __call__(self, features: Sequence) -> dict[str, torch.Tensor]:
        batch, result = self.collate(features)
        out = {k: v for k, v in batch.items() if k not in _CONSUMED and k != self.id_key}
        out["input_ids"] = result.input_ids
        out["labels"] = result.labels
        if self.return_mask_info:
            out["masked"] = result.masked
            out["corruption"] = result.corruption
        return out

    def collate(self, features: Sequence) -> tuple[dict[str, torch.Tensor], MaskedBatch]:
        """Pad ``features`` and mask them; returns the padded columns and the full result."""
        if len(features) == 0:
            raise ValueError("MLMCollator got an empty list of features.")
        if isinstance(features[0], Mapping):
            if "input_ids" not in features[0]:
                raise KeyError(f"Features need an 'input_ids' key; got keys {sorted(features[0])}.")
            columns = {key: [f[key] for f in features] for key in features[0]}
        else:
            columns = {"input_ids": list(features)}
        rows = columns["input_ids"]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        length = int(lengths.max())
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pad_id = self.vocab.pad_token_id if self.vocab.pad_token_id is not None else 0
        where = _valid_positions(lengths, length, self.left_padding)

        batch: dict[str, torch.Tensor] = {"input_ids": _pad(rows, pad_id, where)}
        real = torch.from_numpy(where)
        if "attention_mask" in columns:
            batch["attention_mask"] = _pad(columns["attention_mask"], 0, where, constant=1)
        else:
            batch["attention_mask"] = real.to(torch.int64)
        if "token_type_ids" in columns:
            pad_type = getattr(self.tokenizer, "pad_token_type_id", 0)
            batch["token_type_ids"] = _pad(columns["token_type_ids"], pad_type, where, constant=0)
        special = None
        if "special_tokens_mask" in columns:
            special = _pad(columns["special_tokens_mask"], 1, where, constant=0)
        example_ids = None
        if self.id_key in columns:
            example_ids = torch.as_tensor(np.asarray(columns[self.id_key], dtype=np.int64))

        ids = batch["input_ids"]
        word_ids = None
        if self.masking.config.unit != "token":
            word_ids = self._word_ids(columns, ids, batch["attention_mask"], special, where)
        result = self.masking(
            ids,
            self.vocab,
            epoch=self.epoch,
            example_ids=example_ids,
            attention_mask=batch["attention_mask"],
            special_tokens_mask=special,
            word_ids=word_ids,
        )
        return batch, result

    def _word_ids(self, columns, ids, attention_mask, special, where) -> torch.Tensor:
        rule = self.word_boundaries
        if rule == "auto":
            if "word_ids" in columns:
                rule = "word_ids"
            elif self.vocab.word_start is not None:
                rule = "vocab"
            else:
                rule = "offsets"
        if rule == "word_ids" and "word_ids" in columns:
            rows = [[-1 if w is None else w for w in row] for row in columns["word_ids"]]
            return _pad(rows, -1, where)
        _, candidates = candidate_mask(ids, self.vocab, attention_mask, special)
        if rule == "vocab" and self.vocab.word_start is not None:
            return word_ids_from_vocab(ids, self.vocab.word_start, candidates)
        if rule == "offsets" and "offset_mapping" in columns:
            flat = torch.from_numpy(_flatten(columns["offset_mapping"], pairs=True).reshape(-1, 2))
            if where.all():
                offsets = flat.reshape(*where.shape, 2)
            else:
                offsets = torch.zeros((*where.shape, 2), dtype=torch.int64)
                offsets[torch.from_numpy(where)] = flat
            return word_ids_from_offsets(offsets, candidates)
        raise ValueError(
            f"unit={self.masking.config.unit!r} with word_boundaries={self.word_boundaries!r} needs "
            "word boundaries that these features and this tokenizer do not provide: add 'word_ids' "
            "or 'offset_mapping' (tokenizer(..., return_offsets_mapping=True)) to the features, "
            "or use a vocabulary with word markers (##, \u0120, \u2581)."
        )


def _valid_positions(lengths: np.ndarray, length: int, left: bool) -> np.ndarray:
    """``[B, length]`` bool, True where a row's real tokens go after padding."""
    positions = np.arange(length)[None, :]
    if left:
        return positions >= (length - lengths)[:, None]
    return positions < lengths[:, None]


def _flatten(rows, pairs: bool = False) -> np.ndarray:
    first = rows[0]
    if isinstance(first, (torch.Tensor, np.ndarray)):
        return np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1) for r in rows])
    # chain.from_iterable + fromiter is the fastest pure-Python flattening (C iterators).
    flat = chain.from_iterable(rows)
    if pairs:
        flat = chain.from_iterable(flat)
    return np.fromiter(flat, dtype=np.int64)


def _pad(rows, pad_value: int, where: np.ndarray, constant: int | None = None) -> torch.Tensor:
    """Pad ragged rows into a ``[B, L]`` int64 tensor, real values where ``where`` is True.

    With ``constant``, rows that hold only that value (e.g. an all-ones attention mask) are
    recognised by ``list.count`` without converting them element by element.
    """
    if constant is not None and isinstance(rows[0], list):
        if all(row.count(constant) == len(row) for row in rows):
            return torch.from_numpy(np.where(where, constant, pad_value).astype(np.int64))
    out = np.full(where.shape, pad_value, dtype=np.int64)
    flat = _flatten(rows)
    if flat.size != int(where.sum()):
        raise ValueError(
            "Feature columns have inconsistent lengths: every key must have one value per token."
        )
    if where.all():
        out = flat.reshape(where.shape)
    else:
        out[where] = flat
    return torch.from_numpy(out)
