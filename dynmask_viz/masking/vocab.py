"""What the masking engine needs to know about a tokenizer, precomputed once."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class MaskingVocab:
    """Token ids the masking engine needs, independent of any tokenizer library.

    Attributes:
        mask_token_id: Id written in place of ~80% of the selected tokens.
        pad_token_id: Padding id (never selected); ``None`` if the tokenizer has none.
        special_ids: Ids that are never selected and never used as random replacements.
        vocab_size: Size of the id space (``len(tokenizer)``).
        replacement_ids: ``[R]`` int64, the ids a random replacement draws from: every id in
            ``range(vocab_size)`` that is not special. Unlike Hugging Face's collator, a random
            replacement is therefore never ``[CLS]``/``[SEP]``/``[PAD]``/``[MASK]``.
    """

    mask_token_id: int
    pad_token_id: int | None
    special_ids: tuple[int, ...]
    vocab_size: int
    replacement_ids: torch.Tensor = field(repr=False, compare=False)
    _special_tensor: torch.Tensor = field(repr=False, compare=False)
    special_table: torch.Tensor = field(repr=False, compare=False)
    word_start: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        mask_token_id: int,
        vocab_size: int,
        special_ids: tuple[int, ...] | list[int] = (),
        pad_token_id: int | None = None,
        word_start: torch.Tensor | None = None,
    ) -> MaskingVocab:
        """Build from raw ids (no tokenizer needed, e.g. in tests or for custom vocabularies).

        Args:
            word_start: Optional ``[vocab_size]`` bool, True for ids that begin a new word
                (used for whole-word units when features carry no word ids or offsets).
        """
        specials = {int(i) for i in special_ids} | {int(mask_token_id)}
        if pad_token_id is not None:
            specials.add(int(pad_token_id))
        if not 0 <= mask_token_id < vocab_size:
            raise ValueError(f"mask_token_id {mask_token_id} is outside the vocabulary [0, {vocab_size}).")
        keep = torch.ones(vocab_size, dtype=torch.bool)
        keep[[i for i in specials if 0 <= i < vocab_size]] = False
        replacement_ids = keep.nonzero().flatten()
        if replacement_ids.numel() == 0:
            raise ValueError("Every id of the vocabulary is special: nothing left for random replacement.")
        ordered = tuple(sorted(specials))
        return cls(
            mask_token_id=int(mask_token_id),
            pad_token_id=None if pad_token_id is None else int(pad_token_id),
            special_ids=ordered,
            vocab_size=int(vocab_size),
            replacement_ids=replacement_ids,
            _special_tensor=torch.tensor(ordered, dtype=torch.int64),
            special_table=~keep,
            word_start=word_start,
        )

    @classmethod
    def from_tokenizer(cls, tokenizer) -> MaskingVocab:
        """Read the ids from a Hugging Face tokenizer.

        Raises:
            ValueError: If the tokenizer has no mask token (it cannot be used for MLM).
        """
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has no mask token, so it cannot be used for masked "
                "language modelling. Use an MLM tokenizer (BERT/RoBERTa style), or the offline "
                "default: dynmask_viz.hf.load_tokenizer()."
            )
        return cls.build(
            mask_token_id=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
            special_ids=list(tokenizer.all_special_ids),
            pad_token_id=tokenizer.pad_token_id,
            word_start=_word_start_table(tokenizer),
        )

    def special_tensor(self, device: torch.device) -> torch.Tensor:
        """``[S]`` int64 special ids on ``device``."""
        return self._special_tensor.to(device)

    def is_special(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` bool, True on special ids; a table lookup (much faster than ``isin``).

        Raises:
            ValueError: If an id is outside ``[0, vocab_size)``: the ids do not belong to
                this vocabulary (wrong tokenizer?).
        """
        if input_ids.numel() == 0:  # aminmax has no identity: nothing to look up anyway
            return torch.zeros(input_ids.shape, dtype=torch.bool, device=input_ids.device)
        low, high = torch.aminmax(input_ids)
        if int(low) < 0 or int(high) >= self.vocab_size:
            raise ValueError(
                f"input_ids must be ids in this vocabulary's [0, {self.vocab_size}); got ids in "
                f"[{int(low)}, {int(high)}], outside this vocabulary. Were they made by another tokenizer?"
            )
        return self.special_table.to(input_ids.device)[input_ids]


def _word_start_table(tokenizer) -> torch.Tensor | None:
    """``[V]`` bool, True for ids that start a word, read off the vocabulary's markers.

    This is BERT's own whole-word rule (``create_pretraining_data.py``): a WordPiece token
    starting with ``##`` continues the previous word. Byte-level BPE (RoBERTa, GPT-2) and
    SentencePiece mark the *start* of a word instead (``Ġ`` / ``▁``). Returns None when the
    vocabulary has none of these markers.
    """
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    tokens = ["" if t is None else t for t in tokens]
    if sum(t.startswith("##") for t in tokens) > 100:
        return torch.tensor([not t.startswith("##") for t in tokens])
    for marker in ("\u0120", "\u2581"):  # "Ġ" (byte-level BPE), "▁" (SentencePiece)
        if sum(t.startswith(marker) for t in tokens) > 100:
            return torch.tensor([t.startswith(marker) for t in tokens])
    return None


def as_vocab(vocab_or_tokenizer) -> MaskingVocab:
    """Accept a :class:`MaskingVocab` or a Hugging Face tokenizer."""
    if isinstance(vocab_or_tokenizer, MaskingVocab):
        return vocab_or_tokenizer
    if hasattr(vocab_or_tokenizer, "all_special_ids"):
        return MaskingVocab.from_tokenizer(vocab_or_tokenizer)
    raise TypeError(
        "Expected a MaskingVocab or a Hugging Face tokenizer; got "
        f"{type(vocab_or_tokenizer).__name__}. Build one with MaskingVocab.from_tokenizer(tok)."
    )
