"""Epoch grids: one sequence's MLM masks over epochs, the data behind the masking figures.

Computed with :mod:`dynmask_viz.masking`. :mod:`dynmask_viz.plots.masking` only draws what is
computed here, and :class:`dynmask_viz.widgets.MaskingExplorer` calls the same functions, so a
figure, a widget and a test all see the same masks. Every grid is built by
:meth:`EpochGrid.build`, whatever it comes from (a masking scheme, a collator's output, a list
of results).

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..masking import (
    MASKED,
    RANDOM,
    DynamicMasking,
    MaskedBatch,
    MaskingConfig,
    MaskingVocab,
    StaticMasking,
    as_vocab,
    candidate_mask,
)
from .encoding import EncodedText, token_strings

__all__ = ["EpochGrid", "epoch_grid_data", "grid_from_results", "static_and_dynamic_grids"]


@dataclass(frozen=True)
class EpochGrid:
    """One sequence's masks over ``E`` epochs, ready to draw (``L`` = tokens shown).

    Attributes:
        tokens: ``L`` original token strings.
        shown: ``E`` lists of ``L`` strings: the token as fed to the model in each epoch.
        input_ids: ``[E, L]`` int64, the corrupted ids fed to the model.
        corruption: ``[E, L]`` int8, ``UNCHANGED``/``MASKED``/``RANDOM``/``KEPT`` codes.
        masked: ``[E, L]`` bool, True = selected for MLM prediction.
        mask_epoch: ``[E]`` int64, which mask of the example each epoch used.
        word_ids: ``[L]`` int64 word index per token (``-1`` where none).
        kind: ``"static"``, ``"dynamic"`` or a free label (e.g. a collator's name).
        dupe_factor: Number of distinct static masks, ``None`` for anything else.
    """

    tokens: list[str]
    shown: list[list[str]]
    input_ids: torch.Tensor
    corruption: torch.Tensor
    masked: torch.Tensor
    mask_epoch: torch.Tensor
    word_ids: torch.Tensor
    kind: str = "dynamic"
    dupe_factor: int | None = None

    @classmethod
    def build(
        cls,
        tokens: Sequence[str],
        corruption: torch.Tensor,
        *,
        fed_ids: torch.Tensor | None = None,
        tokenizer=None,
        masked: torch.Tensor | None = None,
        mask_epoch: torch.Tensor | None = None,
        word_ids: torch.Tensor | None = None,
        kind: str = "dynamic",
        dupe_factor: int | None = None,
    ) -> EpochGrid:
        """The one constructor of grids: fills in what the source did not provide.

        Args:
            tokens: ``L`` original token strings.
            corruption: ``[E, L]`` corruption codes.
            fed_ids: ``[E, L]`` ids fed to the model; default zeros (unknown).
            tokenizer: Decodes ``fed_ids`` into the ``shown`` strings. Without one (or without
                ``fed_ids``) a cell shows ``[MASK]``, ``(rand)`` or its original token.
            masked: ``[E, L]`` bool, True = selected; default ``corruption != UNCHANGED``.
            mask_epoch: ``[E]`` mask index per epoch; default ``0..E-1``.
            word_ids: ``[L]`` word index per token; default ``-1`` (none).
            kind, dupe_factor: As the attributes.
        """
        tokens = [str(t) for t in tokens]
        corruption = torch.as_tensor(corruption).to(torch.int8)
        n_rows, n_cols = corruption.shape
        if n_cols != len(tokens):
            raise ValueError(
                f"{len(tokens)} tokens but results have {n_cols} columns; pass the tokens of "
                "the same (unpadded) sequence, specials included if the results have them."
            )
        if fed_ids is not None and tokenizer is not None:
            flat = token_strings(tokenizer, fed_ids.flatten().tolist())
            shown = [flat[e * n_cols : (e + 1) * n_cols] for e in range(n_rows)]
        else:  # nothing to decode: say what happened instead of the replacement's text
            labels = {MASKED: "[MASK]", RANDOM: "(rand)"}
            shown = [[labels.get(int(c), t) for t, c in zip(tokens, row, strict=True)] for row in corruption]
        return cls(
            tokens=tokens,
            shown=shown,
            input_ids=fed_ids if fed_ids is not None else torch.zeros(n_rows, n_cols, dtype=torch.int64),
            corruption=corruption,
            masked=masked if masked is not None else corruption > 0,
            mask_epoch=mask_epoch if mask_epoch is not None else torch.arange(n_rows),
            word_ids=word_ids if word_ids is not None else torch.full((n_cols,), -1),
            kind=kind,
            dupe_factor=dupe_factor,
        )

    @property
    def epochs(self) -> int:
        return int(self.masked.shape[0])

    def masks_drawn(self, upto: int | None = None) -> int:
        """Distinct masks (mask indices) used in epochs ``0..upto``: ``min(upto + 1, k)`` static."""
        return int(torch.unique(self.mask_epoch[: self._stop(upto)]).numel())

    def distinct_inputs(self, upto: int | None = None) -> int:
        """Distinct corrupted inputs the model saw in epochs ``0..upto`` (default: all).

        Below :meth:`masks_drawn` when two masks happen to give the same input (e.g. both
        select nothing in a short sentence).
        """
        rows = self.input_ids[: self._stop(upto)]
        return int(torch.unique(torch.cat([rows, self.masked[: rows.shape[0]].long()], 1), dim=0).shape[0])

    def ever_masked_share(self, upto: int | None = None) -> float:
        """Share of the shown tokens selected at least once in epochs ``0..upto``."""
        if not self.tokens:
            return 0.0
        return float(self.masked[: self._stop(upto)].any(0).float().mean())

    def words_split(self) -> int:
        """(epoch, word) pairs where only *some* pieces of a word are selected (0 for word units)."""
        words = self.word_ids
        split = 0
        for w in torch.unique(words[words >= 0]).tolist():
            selected = self.masked[:, words == w]
            split += int((selected.any(1) & ~selected.all(1)).sum())
        return split

    def _stop(self, upto: int | None) -> int:
        if upto is None:
            return self.epochs
        if not 0 <= upto < self.epochs:
            raise ValueError(f"upto must be an epoch in [0, {self.epochs}); got {upto}.")
        return upto + 1


def epoch_grid_data(
    masking,
    input_ids: torch.Tensor,
    vocab,
    epochs: int,
    *,
    tokenizer=None,
    example_id: int = 0,
    row: int = 0,
    attention_mask: torch.Tensor | None = None,
    word_ids: torch.Tensor | None = None,
    keep_special: bool = False,
) -> EpochGrid:
    """Mask one sequence in epochs ``0..epochs-1`` with ``masking`` (one vectorized call).

    Args:
        masking: A ``StaticMasking`` or ``DynamicMasking``.
        input_ids: ``[L]`` or ``[B, L]`` token ids; ``row`` picks the sequence of a batch.
        vocab: ``MaskingVocab`` or a tokenizer.
        epochs: Number of epochs ``E`` (rows of the grid), >= 1.
        tokenizer: Turns ids into token strings; default ``vocab`` when it is a tokenizer.
        example_id: Key of the sequence (as a dataset index would be).
        row: Row of ``input_ids`` (and of ``attention_mask``/``word_ids``) to use.
        attention_mask: ``[L]`` or ``[B, L]``, 1 on real tokens (default: ids != pad).
        word_ids: ``[L]`` or ``[B, L]`` word index per token (word/span units); default from
            the vocabulary's word markers (BERT's ``##`` rule) when it has them.
        keep_special: Keep ``[CLS]``/``[SEP]`` columns (never selected); padding is always cut.

    Returns:
        An :class:`EpochGrid` with ``E`` rows.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1; got {epochs!r}.")
    if tokenizer is None and not isinstance(vocab, MaskingVocab):
        tokenizer = vocab
    vocab = as_vocab(vocab)

    def pick(t):
        if t is None:
            return None
        t = torch.as_tensor(t)
        return (t[None] if t.dim() == 1 else t)[row : row + 1].to(torch.int64)

    ids, attn, words = pick(input_ids), pick(attention_mask), pick(word_ids)
    real, candidates = candidate_mask(ids, vocab, attn)
    if words is None and vocab.has_word_markers:  # the vocabulary's markers, as MLMCollator does
        words = vocab.word_ids(ids, candidates)
    keep = (real if keep_special else candidates)[0]
    expand = lambda t: None if t is None else t.expand(epochs, -1)
    result = masking(
        ids.expand(epochs, -1),
        vocab,
        epoch=torch.arange(epochs),
        example_ids=torch.full((epochs,), int(example_id)),
        attention_mask=expand(attn),
        word_ids=expand(words),
    )
    return EpochGrid.build(
        token_strings(tokenizer, ids[0, keep].tolist()),
        result.corruption[:, keep],
        fed_ids=result.input_ids[:, keep],
        tokenizer=tokenizer,
        masked=result.masked[:, keep],
        mask_epoch=result.mask_epoch,
        word_ids=words[0, keep] if words is not None else None,
        kind=getattr(masking, "kind", "dynamic"),
        dupe_factor=getattr(masking, "dupe_factor", None),
    )


def grid_from_results(tokens: Sequence[str], results: Sequence, tokenizer=None) -> EpochGrid:
    """An :class:`EpochGrid` from one result per epoch.

    Args:
        tokens: ``L`` original token strings.
        results: One entry per epoch: a one-row :class:`~dynmask_viz.masking.MaskedBatch`
            (``[1, L]``) or an ``[L]`` tensor of corruption codes.
        tokenizer: Decodes the fed ids of ``MaskedBatch`` results (random replacements).
    """
    if tokens is None:
        raise ValueError("tokens are needed unless the results are an EpochGrid.")
    if len(results) == 0:
        raise ValueError("Need at least one result (one per epoch).")
    batches = [r for r in results if isinstance(r, MaskedBatch)]
    if batches and len(batches) != len(results):
        raise ValueError("results must be all MaskedBatch or all corruption-code tensors.")
    if batches:
        corruption = torch.stack([r.corruption[0].cpu() for r in batches])
        fed = torch.stack([r.input_ids[0].cpu() for r in batches])
    else:
        corruption = torch.stack([torch.as_tensor(r).cpu().reshape(-1) for r in results])
        fed = None
    return EpochGrid.build(tokens, corruption, fed_ids=fed, tokenizer=tokenizer, kind="results")


def static_and_dynamic_grids(
    encoded: EncodedText,
    tokenizer,
    config: MaskingConfig | None = None,
    *,
    epochs: int,
    dupe_factor: int,
    seed: int = 0,
    row: int = 0,
    vocab: MaskingVocab | None = None,
) -> tuple[EpochGrid, EpochGrid]:
    """Grids of one encoded sentence under static (``dupe_factor`` masks) and dynamic masking.

    Static mask ``j`` is dynamic epoch ``j`` (same keys), so the first ``dupe_factor`` rows of
    both grids are identical: the schemes differ only in what happens afterwards.

    Args:
        encoded: From :func:`encode_texts`.
        tokenizer: The tokenizer that encoded it (for token strings).
        config: Masking configuration (default RoBERTa's).
        epochs: Rows of each grid.
        dupe_factor: Distinct static masks (BERT: 10).
        seed: Masking seed.
        row: Which text of ``encoded``.
        vocab: ``MaskingVocab.from_tokenizer(tokenizer)``, passed in hot loops (building it
            reads the whole vocabulary).

    Returns:
        ``(static_grid, dynamic_grid)``, each with ``epochs`` rows.
    """
    config = config or MaskingConfig()
    kw = dict(tokenizer=tokenizer, row=row, attention_mask=encoded.attention_mask, word_ids=encoded.word_ids)
    vocab = vocab or MaskingVocab.from_tokenizer(tokenizer)
    static = epoch_grid_data(StaticMasking(config, seed, dupe_factor), encoded.input_ids, vocab, epochs, **kw)
    dynamic = epoch_grid_data(DynamicMasking(config, seed), encoded.input_ids, vocab, epochs, **kw)
    return static, dynamic
