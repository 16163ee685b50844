"""``MLMCollator``: a fast, keyed drop-in replacement for DataCollatorForLanguageModeling."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._threads import one_thread
from ._arguments import hf_masking_args, masking_from_arguments, refuse_masking_for_causal_lm
from ._boundaries import WordBoundaries, check_word_boundaries
from ._checks import check_epoch, is_int
from ._draws import known_epoch, new_state, next_draw, record_rank, set_known_epoch, static_copies
from ._features import (
    PADDED,
    check_lengths,
    columns_from_features,
    example_ids_of,
    pad,
    pad_model_inputs,
    row_lengths,
    valid_positions,
)
from ._outputs import batch_encoding, check_return_tensors, stack_column
from .config import MaskingConfig
from .core import IGNORE_INDEX, MaskedBatch
from .schedules import DynamicMasking, StaticMasking
from .vocab import MaskingVocab

# Feature keys the collator consumes and does not pass on to the model.
_CONSUMED = ("special_tokens_mask", "offset_mapping", "word_ids", "chinese_ref")


class MLMCollator:
    """Pad a list of features and apply MLM masking: fresh masks every call, or keyed by epoch.

    Drop-in for ``transformers.DataCollatorForLanguageModeling``: the same arguments
    (``mlm``, ``mlm_probability``, ``mask_replace_prob``, ``random_replace_prob``,
    ``whole_word_mask``, ``pad_to_multiple_of``, ``return_tensors``, ``seed``), the same inputs
    (dicts with ``input_ids`` and optional ``attention_mask``/``token_type_ids``/
    ``special_tokens_mask``/``offset_mapping``, or id sequences), the same output: a
    ``BatchEncoding`` with ``labels`` = original id where predicted, ``-100`` elsewhere, and
    every other per-example key (``next_sentence_label``, ``sentence_order_label``...) stacked.

    Which masks you get (``collator.mode``):
        * ``"fresh"`` (from construction until :meth:`set_epoch` is first called): every call
          draws new masks, so a plain training loop, the Trainer without a callback and
          DataLoader workers (0 or more, persistent or not) all get a new mask every epoch,
          as with Hugging Face's collator. The draws come from a counter per process held in
          shared memory and hashed with ``seed`` (and the distributed rank): two collators with
          the same seed repeat each other's masks (Hugging Face's ``seed``), but a restarted
          run starts the stream again. A copy (``copy.deepcopy``, ``pickle``) is a separate
          collator that continues from the original's counters, so both then draw the same
          fresh masks: give a copy its own seed (DataLoader workers are not copies: they share
          the original's counters, each its own).
          Identical sequences in one batch get different masks (keyed on their row), as in
          Hugging Face. With :class:`StaticMasking`, each call shows one of the example's
          ``dupe_factor`` fixed masks, chosen at random (BERT's shuffled copies).
        * ``"keyed"`` (after ``set_epoch(e)``; with the Trainer,
          :class:`dynmask_viz.hf.MaskingEpochCallback` calls it): the mask of an example is a
          pure function of ``(seed, example id, e)``, the same whatever the batch, order,
          worker, rank or restart; ``StaticMasking`` cycles ``e % dupe_factor``. The epoch
          lives in shared memory, so persistent workers see it. ``set_epoch(None)`` returns to
          fresh mode.

    What differs from Hugging Face on purpose (the README's drop-in table lists each):
        * Example ids come from ``features[i][id_key]`` (default ``"example_id"``, e.g. the
          dataset index). In keyed mode, features without one are keyed by a hash of their
          token ids (padding ignored): identical sequences then share masks; give ids to tell
          them apart. The Trainer drops unknown columns unless ``remove_unused_columns=False``.
        * Random replacements are never special tokens; ``[UNK]`` is selected like any token.
        * ``whole_word_mask=True`` keeps the 80/10/10 corruption (Hugging Face switches to
          100 % ``[MASK]``). Word boundaries (``word_boundaries``): ``"auto"`` (default) takes
          a ``word_ids`` feature, else a ``chinese_ref`` feature (transformers' old format: the
          positions of characters that continue a word), else the vocabulary's word markers
          (BERT's own rule: a ``##`` piece continues the previous word), else
          ``offset_mapping``; ``"offsets"`` is Hugging Face's rule (a word continues while
          tokens touch, so ``"fed."`` is one word, and so is a whole Chinese sentence).
          ``"chinese"`` segments the tokens' text with jieba (Chinese-BERT-wwm's whole words;
          every character of a word is selected together) and ``segmenter=callable`` with any
          other segmenter; both work from ``input_ids`` alone (see
          :mod:`dynmask_viz.masking.segmentation`). With ``"auto"``, whole words on Chinese
          text warn once: the ``##`` rule makes each character a word.
        * ``mlm=False`` labels the padding positions ``-100`` (Hugging Face: every token equal
          to the pad id, which drops real end-of-text tokens when ``pad_token = eos_token``).
        * Refused, never guessed: features with different keys, a per-token key whose length
          differs from its row's ``input_ids``, non-integer ids or example ids, an
          ``attention_mask`` value other than 0/1, padding with a tokenizer without pad token.

    Args:
        tokenizer: A Hugging Face tokenizer (with a mask token unless ``mlm=False``).
        masking: ``DynamicMasking`` or ``StaticMasking``; default ``DynamicMasking`` of
            ``config`` (or of the Hugging Face arguments) and ``seed``.
        mlm: False for causal language modelling: no masking, ``labels`` = ``input_ids``.
        whole_word_mask: Hugging Face's switch for ``MaskingConfig(unit="word")``.
        mlm_probability, mask_replace_prob, random_replace_prob: Hugging Face's names for the
            ``MaskingConfig`` fields (default 0.15, 0.8, 0.1); give them or ``config``/``masking``.
        pad_to_multiple_of: Pad the length up to a multiple of this, an int >= 1, or None.
        return_tensors: ``"pt"`` (torch) or ``"np"`` (numpy); a call may override it.
        seed: Seed of the masks, any int (default 0; None also means 0). With ``masking``,
            leave it out (the masking holds its seed).
        config: A ``MaskingConfig`` (token/word/span units, counts, ...).
        id_key: Feature key holding the example id (an int in ``[0, 2**32)`` per feature).
        word_boundaries: ``"auto"``, ``"word_ids"``, ``"vocab"``, ``"offsets"``, ``"chinese"``
            or ``"segmenter"`` (see above).
        segmenter: A callable ``text -> list of words`` (jieba's ``lcut``, pkuseg, ...) for
            whole words from a word segmenter; with ``word_boundaries="chinese"`` the default
            is :class:`~dynmask_viz.masking.segmenters.JiebaSegmenter`. Its words must spell
            the text (whitespace may be left out). Needs a word or span unit.
        return_mask_info: Also return ``masked`` ([B, L] bool, True = selected for MLM) and
            ``corruption`` (int8).
    """

    def __init__(
        self,
        tokenizer,
        masking: DynamicMasking | StaticMasking | None = None,
        *,
        mlm: bool = True,
        whole_word_mask: bool = False,
        mlm_probability: float | None = None,
        mask_replace_prob: float | None = None,
        random_replace_prob: float | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
        seed: int | None = None,
        config: MaskingConfig | None = None,
        id_key: str = "example_id",
        word_boundaries: str = "auto",
        segmenter=None,
        return_mask_info: bool = False,
    ) -> None:
        if isinstance(masking, bool):
            raise TypeError(
                "MLMCollator's second positional argument is masking (a DynamicMasking or "
                f"StaticMasking); got {masking!r}. Pass mlm=True/False by keyword."
            )
        if not isinstance(mlm, bool):
            raise TypeError(f"mlm must be True (masked LM) or False (causal LM); got {mlm!r}.")
        if pad_to_multiple_of is not None and (not is_int(pad_to_multiple_of) or pad_to_multiple_of < 1):
            raise ValueError(
                f"pad_to_multiple_of must be an int >= 1 or None (no rounding); got {pad_to_multiple_of!r}."
            )
        if not isinstance(id_key, str):
            raise TypeError(f"id_key must be a str (the feature key of the example id); got {id_key!r}.")
        self.tokenizer = tokenizer
        self.mlm = mlm
        self.return_tensors = check_return_tensors(return_tensors)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.id_key = id_key
        self.word_boundaries = word_boundaries
        self.segmenter = segmenter
        self.return_mask_info = return_mask_info
        hf_args = hf_masking_args(mlm_probability, mask_replace_prob, random_replace_prob, whole_word_mask)
        if not mlm:
            refuse_masking_for_causal_lm(masking, config, hf_args, return_mask_info)
            self.masking, self.vocab = None, None
        else:
            self.masking = masking_from_arguments(masking, config, seed, hf_args)
            self.vocab = MaskingVocab.from_tokenizer(tokenizer)
        unit = self.masking.config.unit if mlm else None
        rule, segmenter = check_word_boundaries(word_boundaries, segmenter, unit)
        self.segmenter = segmenter
        self._boundaries = WordBoundaries(rule, segmenter)
        if rule in ("chinese", "segmenter") and mlm:  # refuse a non-WordPiece vocabulary now
            self._boundaries.pieces(tokenizer, self.vocab)
        self._seed = 0 if seed is None else seed
        # Shared memory: DataLoader workers (even persistent ones) read the epoch and advance
        # their fresh-mode counters in it (see ._draws).
        self._state = new_state()

    # ---- Hugging Face's attribute names (read-only views of the masking config) ----------
    @property
    def seed(self) -> int:
        return self.masking.seed if self.masking is not None else self._seed

    @property
    def mlm_probability(self) -> float | None:
        return self.masking.config.mlm_probability if self.mlm else None

    @property
    def mask_replace_prob(self) -> float | None:
        return self.masking.config.mask_replace_prob if self.mlm else None

    @property
    def random_replace_prob(self) -> float | None:
        return self.masking.config.random_replace_prob if self.mlm else None

    @property
    def whole_word_mask(self) -> bool:
        return self.mlm and self.masking.config.unit != "token"

    # ---- which masks: fresh or keyed ----------------------------------------------------
    @property
    def mode(self) -> str:
        """``"fresh"`` (new masks every call) until :meth:`set_epoch`, then ``"keyed"``."""
        return "fresh" if known_epoch(self._state) is None else "keyed"

    @property
    def epoch(self) -> int | None:
        """The epoch set by :meth:`set_epoch`, or None in fresh mode."""
        return known_epoch(self._state)

    def set_epoch(self, epoch: int | None) -> None:
        """Key the masks on ``epoch`` (0-based, an int in ``[0, 2**32)``); None: fresh masks again.

        Raises:
            TypeError: ``epoch`` is not an int (``1.9`` is refused, not read as 1).
            ValueError: ``epoch`` is negative or ``>= 2**32``.
        """
        if epoch is None:
            set_known_epoch(self._state, None)
            return
        if isinstance(epoch, torch.Tensor) and epoch.dim() == 0 and not epoch.dtype.is_floating_point:
            epoch = int(epoch)  # a 0-d integer tensor holds one epoch
        if not is_int(epoch):
            raise TypeError(f"epoch must be an int >= 0 (0-based training epoch) or None; got {epoch!r}.")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}.")
        check_epoch("epoch", epoch)
        set_known_epoch(self._state, int(epoch))

    def __repr__(self) -> str:
        what = "mlm=False (causal LM)" if not self.mlm else f"{type(self.masking).__name__}"
        where = f"epoch={self.epoch}" if self.mode == "keyed" else "fresh masks every call"
        return f"MLMCollator({what}, seed={self.seed}, mode={self.mode!r}: {where})"

    # ---- the tokenizer's state, read at each call as Hugging Face's collator does -----------
    @property
    def left_padding(self) -> bool:
        return getattr(self.tokenizer, "padding_side", "right") == "left"

    @property
    def pad_token_id(self) -> int | None:
        return getattr(self.tokenizer, "pad_token_id", None)

    def _current_vocab(self) -> MaskingVocab:
        """The masking vocabulary, rebuilt once if the tokenizer's pad token changed since."""
        if self.vocab.pad_token_id != self.pad_token_id:
            self.vocab = MaskingVocab.from_tokenizer(self.tokenizer)
        return self.vocab

    def __getstate__(self) -> dict:
        # Pickled in the main process when spawned DataLoader workers start: record the
        # distributed rank there, because a spawned worker has no process group to ask.
        record_rank(self._state)
        return self.__dict__.copy()

    def __call__(self, features: Sequence, return_tensors: str | None = None):
        """Collate ``features`` into a ``BatchEncoding`` (``return_tensors`` overrides the default)."""
        kind = self.return_tensors if return_tensors is None else check_return_tensors(return_tensors)
        batch, result = self.collate(features, return_tensors=kind)
        out = {k: v for k, v in batch.items() if k not in _CONSUMED and k != self.id_key}
        if result is None:  # causal LM: predict every real token
            out["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        else:
            out["input_ids"] = result.input_ids
            out["labels"] = result.labels
            if self.return_mask_info:
                out["masked"] = result.masked
                out["corruption"] = result.corruption
        return batch_encoding(out, kind)

    @one_thread()  # padding + masking: many small CPU ops, no join waits (see dynmask_viz._threads)
    def collate(
        self, features: Sequence, return_tensors: str = "pt"
    ) -> tuple[dict[str, torch.Tensor], MaskedBatch | None]:
        """Pad ``features`` and mask them; returns the padded columns and the masking result.

        The result is None with ``mlm=False``. Columns of keys that are not padded are stacked
        (as Hugging Face does for ``return_tensors``: Python floats become float32 for ``"pt"``,
        float64 for ``"np"``).
        """
        columns = columns_from_features(features, self.id_key)
        rows = columns["input_ids"]
        lengths = row_lengths("input_ids", rows)
        length = int(lengths.max())
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        where = valid_positions(lengths, length, self.left_padding)
        pad_id = self._pad_id(where)
        for key in PADDED:  # every per-token column must have one value per token, row by row
            if key in columns:
                check_lengths(key, columns[key], lengths)

        pad_type = getattr(self.tokenizer, "pad_token_type_id", 0)
        batch = pad_model_inputs(columns, where, pad_id, pad_type)
        for key, values in columns.items():  # labels are made here, not passed on
            if (
                key not in batch
                and key not in PADDED
                and key not in ("input_ids", "labels", "chinese_ref", self.id_key)
            ):
                batch[key] = stack_column(key, values, return_tensors)
        if not self.mlm:
            return batch, None
        vocab = self._current_vocab()
        special = None
        if "special_tokens_mask" in columns:
            special = pad("special_tokens_mask", columns["special_tokens_mask"], 1, where, constant=0)
        example_ids = None
        if self.id_key in columns:
            example_ids = example_ids_of(self.id_key, columns[self.id_key])
        ids = batch["input_ids"]
        word_ids = None
        if self.masking.config.unit != "token":
            word_ids = self._boundaries.word_ids(
                self.masking.config.unit,
                self.tokenizer,
                vocab,
                columns,
                ids,
                batch["attention_mask"],
                special,
                where,
            )
        epoch, example_ids = self._draw(ids.shape[0], example_ids)
        result = self.masking(
            ids,
            vocab,
            epoch=epoch,
            example_ids=example_ids,
            attention_mask=batch["attention_mask"],
            special_tokens_mask=special,
            word_ids=word_ids,
        )
        return batch, result

    def _pad_id(self, where) -> int:
        if self.pad_token_id is not None:
            return self.pad_token_id
        if not where.all():
            raise ValueError(
                f"These features need padding (lengths differ, or pad_to_multiple_of), but the "
                f"tokenizer ({type(self.tokenizer).__name__}) has no pad token. Set one, e.g. "
                "tokenizer.pad_token = tokenizer.eos_token (GPT-2 style) or add '[PAD]', or feed "
                "sequences of equal length."
            )
        return 0  # never written: every position holds a real token

    def _draw(self, rows: int, example_ids: torch.Tensor | None):
        """``(epoch, example_ids)`` to mask with: the known epoch, or a fresh draw (see mode)."""
        epoch = known_epoch(self._state)
        if epoch is not None:
            return epoch, example_ids
        nonce = next_draw(self._state, self.seed)
        if isinstance(self.masking, StaticMasking):  # keep the example's fixed masks, pick one
            return static_copies(nonce, rows, self.masking.dupe_factor), example_ids
        if example_ids is None:  # key on the row: identical sequences get different masks
            example_ids = torch.arange(rows, dtype=torch.int64)
        return nonce, example_ids
