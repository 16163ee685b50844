"""``MLMCollator``: a fast, keyed, drop-in replacement for DataCollatorForLanguageModeling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ._checks import check_epoch, is_int
from ._features import (
    PADDED,
    check_lengths,
    columns_of,
    example_ids_of,
    flatten,
    pad,
    row_lengths,
    valid_positions,
)
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
        * Refused, never guessed: features with different keys (an id on only some of them),
          a per-token key whose length differs from its row's ``input_ids`` (an all-ones
          ``attention_mask`` included), non-integer ids or example ids (``1.5`` is not read
          as 1), an ``attention_mask`` value other than 0/1 or True/False (2 is not read as
          1). Zero-length rows are fine: ``[[]]`` gives ``[1, 0]`` tensors.

    Args:
        tokenizer: A Hugging Face tokenizer with a mask token.
        masking: ``DynamicMasking`` (default) or ``StaticMasking``.
        config: Shortcut for ``DynamicMasking(config, seed)`` when ``masking`` is not given.
        seed: Seed used with ``config``.
        pad_to_multiple_of: Pad the length up to a multiple of this, an int >= 1 (e.g. 8 for
            tensor cores), or None.
        id_key: Feature key holding the example id (an int in ``[0, 2**32)`` per feature).
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
        if not isinstance(word_boundaries, str) or word_boundaries not in _WORD_BOUNDARIES:
            raise ValueError(f"word_boundaries must be one of {_WORD_BOUNDARIES}; got {word_boundaries!r}.")
        if masking is not None and config is not None:
            raise ValueError(
                "Pass either masking=... or config=..., not both (the masking holds its config)."
            )
        if masking is not None and not isinstance(masking, (DynamicMasking, StaticMasking)):
            raise TypeError(
                f"masking must be a DynamicMasking or StaticMasking (or None); got {type(masking).__name__}."
            )
        if pad_to_multiple_of is not None and (not is_int(pad_to_multiple_of) or pad_to_multiple_of < 1):
            raise ValueError(
                f"pad_to_multiple_of must be an int >= 1 or None (no rounding); got {pad_to_multiple_of!r}."
            )
        if not isinstance(id_key, str):
            raise TypeError(f"id_key must be a str (the feature key of the example id); got {id_key!r}.")
        self.tokenizer = tokenizer
        self.masking = masking or DynamicMasking(MaskingConfig() if config is None else config, seed)
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
        """Set the training epoch (0-based, an int in ``[0, 2**32)``); the next batches use its masks.

        Raises:
            TypeError: ``epoch`` is not an int (``1.9`` is refused, not read as 1).
            ValueError: ``epoch`` is negative or ``>= 2**32``.
        """
        if isinstance(epoch, torch.Tensor) and epoch.dim() == 0 and not epoch.dtype.is_floating_point:
            epoch = int(epoch)  # a 0-d integer tensor holds one epoch
        if not is_int(epoch):
            raise TypeError(f"epoch must be an int >= 0 (0-based training epoch); got {epoch!r}.")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}.")
        check_epoch("epoch", epoch)
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
        if isinstance(features, (str, bytes, Mapping)) or not isinstance(features, Sequence):
            raise TypeError(
                "MLMCollator expects a list of features (dicts with 'input_ids', or id sequences); "
                f"got {type(features).__name__}."
            )
        if len(features) == 0:
            raise ValueError(
                "MLMCollator got an empty list of features: there is no batch to pad (a DataLoader "
                "never yields one; for an empty [0, L] tensor call mask_batch directly)."
            )
        if isinstance(features[0], Mapping):
            columns = columns_of(features, self.id_key)
        else:
            columns = {"input_ids": list(features)}
        rows = columns["input_ids"]
        lengths = row_lengths("input_ids", rows)
        length = int(lengths.max())
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pad_id = self.vocab.pad_token_id if self.vocab.pad_token_id is not None else 0
        where = valid_positions(lengths, length, self.left_padding)
        for key in PADDED:  # every per-token column must have one value per token, row by row
            if key in columns:
                check_lengths(key, columns[key], lengths)

        batch: dict[str, torch.Tensor] = {"input_ids": pad("input_ids", rows, pad_id, where)}
        real = torch.from_numpy(where)
        if "attention_mask" in columns:
            batch["attention_mask"] = pad(
                "attention_mask", columns["attention_mask"], 0, where, constant=1, binary=True
            )
        else:
            batch["attention_mask"] = real.to(torch.int64)
        if "token_type_ids" in columns:
            pad_type = getattr(self.tokenizer, "pad_token_type_id", 0)
            batch["token_type_ids"] = pad(
                "token_type_ids", columns["token_type_ids"], pad_type, where, constant=0
            )
        special = None
        if "special_tokens_mask" in columns:
            special = pad("special_tokens_mask", columns["special_tokens_mask"], 1, where, constant=0)
        example_ids = None
        if self.id_key in columns:
            example_ids = example_ids_of(self.id_key, columns[self.id_key])

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
            return pad("word_ids", rows, -1, where)
        _, candidates = candidate_mask(ids, self.vocab, attention_mask, special)
        if rule == "vocab" and self.vocab.word_start is not None:
            return word_ids_from_vocab(ids, self.vocab.word_start, candidates)
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
        raise ValueError(
            f"unit={self.masking.config.unit!r} with word_boundaries={self.word_boundaries!r} needs "
            "word boundaries that these features and this tokenizer do not provide: add 'word_ids' "
            "or 'offset_mapping' (tokenizer(..., return_offsets_mapping=True)) to the features, "
            "or use a vocabulary with word markers (##, \u0120, \u2581)."
        )
