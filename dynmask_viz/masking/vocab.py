"""What the masking engine needs to know about a tokenizer, precomputed once."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .units import word_ids_from_vocab

# Word-marker conventions, in order of preference on a tie: (marker, where it is, what a token
# carrying it does). WordPiece (BERT) marks pieces that *continue* a word; byte-level BPE
# (RoBERTa, GPT-2) and SentencePiece (ALBERT, XLM-R) pieces that *start* one; the original
# BPE of OpenAI GPT and CLIP pieces that *end* one.
WORD_MARKERS = (
    ("##", "prefix", "continues"),
    ("\u0120", "prefix", "starts"),  # "Ġ"
    ("\u2581", "prefix", "starts"),  # "▁"
    ("</w>", "suffix", "ends"),
)


@dataclass(frozen=True)
class MaskingVocab:
    """Token ids the masking engine needs, independent of any tokenizer library.

    Attributes:
        mask_token_id: Id written in place of ~80% of the selected tokens.
        pad_token_id: Padding id (never selected); ``None`` if the tokenizer has none.
        special_ids: Ids that are never selected and never used as random replacements.
        vocab_size: Size of the id space (``len(tokenizer)``).
        replacement_ids: ``[R]`` int64, the ids a random replacement draws from: every id in
            ``range(vocab_size)`` that is neither special nor ``unk_token_id``. Unlike
            Hugging Face's collator (and BERT's script), a random replacement is therefore
            never ``[CLS]``/``[SEP]``/``[PAD]``/``[MASK]``/``[UNK]``; fairseq excludes the
            same ids (its ``nspecial`` symbols include ``<unk>``).
        word_start: Optional ``[vocab_size]`` bool, True for ids that begin a word (prefix
            markers: not ``##``; ``Ġ``; ``▁``). None when the vocabulary marks word ends or
            has no markers.
        unk_token_id: The unknown-token id, or None. It is *not* special: ``[UNK]`` is
            selected like any token (BERT's and fairseq's masking do), but it is never a
            random replacement.
        word_end: Optional ``[vocab_size]`` bool, True for ids that end a word (suffix
            markers: ``</w>``), so the next token begins one. At most one of ``word_start``
            and ``word_end`` is set; :meth:`word_ids` reads whichever it is.
    """

    mask_token_id: int
    pad_token_id: int | None
    special_ids: tuple[int, ...]
    vocab_size: int
    replacement_ids: torch.Tensor = field(repr=False, compare=False)
    _special_tensor: torch.Tensor = field(repr=False, compare=False)
    special_table: torch.Tensor = field(repr=False, compare=False)
    word_start: torch.Tensor | None = field(default=None, repr=False, compare=False)
    unk_token_id: int | None = None
    word_end: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        mask_token_id: int,
        vocab_size: int,
        special_ids: tuple[int, ...] | list[int] = (),
        pad_token_id: int | None = None,
        word_start: torch.Tensor | None = None,
        word_end: torch.Tensor | None = None,
        unk_token_id: int | None = None,
    ) -> MaskingVocab:
        """Build from raw ids (no tokenizer needed, e.g. in tests or for custom vocabularies).

        Args:
            mask_token_id: The mask token's id, in ``[0, vocab_size)``.
            vocab_size: Size of the id space.
            special_ids: Ids never selected and never random replacements (the mask and pad
                ids are added). Leave ``[UNK]`` out of them to have it selected.
            pad_token_id: Padding id, or None.
            word_start: Optional ``[vocab_size]`` bool, True for ids that begin a new word
                (WordPiece: ids not starting with ``##``; byte-level BPE: ``Ġ``...), used for
                whole-word units when features carry no word ids or offsets.
            word_end: Optional ``[vocab_size]`` bool, True for ids that end a word (BPE with
                ``</w>`` suffixes), instead of ``word_start``.
            unk_token_id: Optional unknown-token id: selectable, never a random replacement.

        Raises:
            ValueError: On an id outside the vocabulary, a vocabulary with nothing left for
                random replacement, or a word table that is not ``[vocab_size]`` bool (or
                both tables at once).
        """
        specials = {int(i) for i in special_ids} | {int(mask_token_id)}
        if pad_token_id is not None:
            specials.add(int(pad_token_id))
        if not 0 <= mask_token_id < vocab_size:
            raise ValueError(f"mask_token_id {mask_token_id} is outside the vocabulary [0, {vocab_size}).")
        if unk_token_id is not None and not 0 <= unk_token_id < vocab_size:
            raise ValueError(
                f"unk_token_id {unk_token_id} is outside the vocabulary [0, {vocab_size}); "
                "pass the tokenizer's unk_token_id or None."
            )
        _check_word_table("word_start", word_start, vocab_size)
        _check_word_table("word_end", word_end, vocab_size)
        if word_start is not None and word_end is not None:
            raise ValueError(
                "MaskingVocab.build takes word_start (prefix markers: ##, \u0120, \u2581) or word_end "
                "(suffix markers: </w>), not both: a vocabulary marks its words one way."
            )
        keep = torch.ones(vocab_size, dtype=torch.bool)
        keep[[i for i in specials if 0 <= i < vocab_size]] = False
        special_table = ~keep
        if unk_token_id is not None:
            keep[int(unk_token_id)] = False  # selectable (not in special_table), never drawn
        replacement_ids = keep.nonzero().flatten()
        if replacement_ids.numel() == 0:
            raise ValueError(
                "Every id of the vocabulary is special (or [UNK]): nothing left for random replacement."
            )
        ordered = tuple(sorted(specials))
        return cls(
            mask_token_id=int(mask_token_id),
            pad_token_id=None if pad_token_id is None else int(pad_token_id),
            special_ids=ordered,
            vocab_size=int(vocab_size),
            replacement_ids=replacement_ids,
            _special_tensor=torch.tensor(ordered, dtype=torch.int64),
            special_table=special_table,
            word_start=word_start,
            unk_token_id=None if unk_token_id is None or unk_token_id in specials else int(unk_token_id),
            word_end=word_end,
        )

    @classmethod
    def from_tokenizer(cls, tokenizer) -> MaskingVocab:
        """Read the ids from a Hugging Face tokenizer.

        Every id in ``tokenizer.all_special_ids`` is special except ``[UNK]``, which is
        selected like any other token (unless it shares its id with another special role,
        such as ``<|endoftext|>``); word markers are read off the vocabulary (see
        :data:`WORD_MARKERS` and :func:`word_marker_tables`).

        Raises:
            ValueError: If the tokenizer has no mask token (it cannot be used for MLM).
        """
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has no mask token, so it cannot be used for masked "
                "language modelling. Use an MLM tokenizer (BERT/RoBERTa style), or the offline "
                "default: dynmask_viz.hf.load_tokenizer()."
            )
        unk = getattr(tokenizer, "unk_token_id", None)
        roles = {
            getattr(tokenizer, f"{r}_token_id", None) for r in ("bos", "eos", "sep", "cls", "pad", "mask")
        }
        if unk in roles:  # the same id plays another special role: it stays special
            unk = None
        word_start, word_end = word_marker_tables(tokenizer)
        return cls.build(
            mask_token_id=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
            special_ids=[i for i in tokenizer.all_special_ids if i != unk],
            pad_token_id=tokenizer.pad_token_id,
            word_start=word_start,
            word_end=word_end,
            unk_token_id=unk,
        )

    @property
    def has_word_markers(self) -> bool:
        """True when :meth:`word_ids` can group pieces into words from the ids alone."""
        return self.word_start is not None or self.word_end is not None

    def word_ids(self, input_ids: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` int64 word index per row from the vocabulary's markers, ``-1`` elsewhere.

        Args:
            input_ids: ``[B, L]`` token ids.
            candidates: ``[B, L]`` bool, True on tokens that may be selected.

        Raises:
            ValueError: If the vocabulary has no word markers (``has_word_markers`` is False).
        """
        if not self.has_word_markers:
            raise ValueError(
                "This vocabulary has no word markers (word_start and word_end are None): none of "
                "its tokens carries ##, \u0120, \u2581 or </w>. Pass word_ids or offsets instead."
            )
        return word_ids_from_vocab(input_ids, self.word_start, candidates, word_end=self.word_end)

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


def _check_word_table(name: str, table, vocab_size: int) -> None:
    if table is None:
        return
    if (
        not isinstance(table, torch.Tensor)
        or table.dtype != torch.bool
        or tuple(table.shape) != (vocab_size,)
    ):
        got = (
            f"{table.dtype} tensor of shape {tuple(table.shape)}"
            if isinstance(table, torch.Tensor)
            else type(table).__name__
        )
        raise ValueError(f"{name} must be a bool tensor of shape [vocab_size] = [{vocab_size}]; got {got}.")


def word_marker_tables(tokenizer) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(word_start, word_end)``, ``[V]`` bool tables read off the vocabulary's word markers.

    The convention is the one of :data:`WORD_MARKERS` that the most non-special tokens carry
    (BERT-base uncased: 5,828 ``##`` pieces of 30,522), provided at least one token carries
    it: a small or custom vocabulary with a handful of marked tokens is read like a full one,
    and the share decides between conventions, not a fixed count. A prefix
    marker gives ``word_start`` (WordPiece's is BERT's own whole-word rule from
    ``create_pretraining_data.py``: a token starting with ``##`` continues the previous word;
    ``Ġ`` and ``▁`` start a word, as fairseq's ``mask_whole_words`` reads GPT-2 BPE), a suffix
    marker ``word_end`` (``</w>``: the token ends a word, so the next one starts one). Special
    tokens start and end words (word ids never continue across them anyway). A token with no
    marker in a ``Ġ``/``▁`` vocabulary (punctuation, the first word of a text without a
    leading space) continues the word before it, as in fairseq.

    Returns:
        ``(word_start, None)``, ``(None, word_end)``, or ``(None, None)`` when no token
        carries any marker.
    """
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    tokens = ["" if t is None else str(t) for t in tokens]
    special = {int(i) for i in getattr(tokenizer, "all_special_ids", ())}
    plain = [t for i, t in enumerate(tokens) if i not in special]

    def carries(token: str, marker: str, where: str) -> bool:
        return token.startswith(marker) if where == "prefix" else token.endswith(marker)

    uses = [sum(carries(t, m, where) for t in plain) for m, where, _ in WORD_MARKERS]
    best = max(range(len(WORD_MARKERS)), key=lambda k: (uses[k], -k))  # first on a tie
    if uses[best] == 0:
        return None, None
    marker, where, role = WORD_MARKERS[best]
    marked = torch.tensor([carries(t, marker, where) for t in tokens], dtype=torch.bool)
    table = ~marked if role == "continues" else marked
    table[[i for i in special if 0 <= i < len(tokens)]] = True
    return (None, table) if role == "ends" else (table, None)


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
