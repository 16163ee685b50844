"""``mask_batch``: vectorized, keyed MLM masking of a padded batch of token ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._hashing import (
    STREAM_CORRUPT,
    STREAM_COUNT,
    STREAM_REPLACE,
    STREAM_SELECT,
    STREAM_SPAN,
    below,
    content_ids,
    example_stream_keys,
    keyed_uniform32,
    rehash,
    to_unsigned,
)
from .._threads import one_thread_for_small_input
from ._checks import check_epoch, check_example_ids, check_seed, check_token_ids
from ._select import select, unit_ids
from .config import MaskingConfig
from .vocab import MaskingVocab, as_vocab

IGNORE_INDEX = -100  # label of positions without a prediction (Hugging Face / PyTorch default)

# Values of MaskedBatch.corruption: what happened to each token.
UNCHANGED, MASKED, RANDOM, KEPT = 0, 1, 2, 3
CORRUPTION_NAMES = {UNCHANGED: "unchanged", MASKED: "[MASK]", RANDOM: "random", KEPT: "kept"}


@dataclass
class MaskedBatch:
    """Result of :func:`mask_batch`. Tensors are ``[B, L]`` on the input's device unless noted.

    Attributes:
        input_ids: Corrupted ids to feed the model.
        labels: Original id where a prediction is required, ``-100`` elsewhere.
        masked: bool, True = selected for MLM prediction (whatever its corruption).
        replaced_by_mask: bool, True where the mask token was written (~80% of ``masked``).
        replaced_by_random: bool, True where a random token was written (~10% of ``masked``).
        example_ids: ``[B]`` int64, the ids the masks were keyed on.
        mask_epoch: ``[B]`` int64, which mask of each example was drawn.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    masked: torch.Tensor
    replaced_by_mask: torch.Tensor
    replaced_by_random: torch.Tensor
    example_ids: torch.Tensor
    mask_epoch: torch.Tensor

    @property
    def corruption(self) -> torch.Tensor:
        """``[B, L]`` int8: ``UNCHANGED`` (0), ``MASKED`` (1, mask token written), ``RANDOM``
        (2, random token written) or ``KEPT`` (3, selected for prediction but unchanged)."""
        kind = self.masked.to(torch.int8) * KEPT
        kind[self.replaced_by_mask] = MASKED
        kind[self.replaced_by_random] = RANDOM
        return kind


def _check_2d(name: str, tensor: torch.Tensor | None, shape: torch.Size) -> None:
    if tensor is not None and not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {tuple(shape)} or None; got {type(tensor).__name__}."
        )
    if tensor is not None and (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        kind = "integer word indices" if name == "word_ids" else "bool or 0/1 integers"
        raise TypeError(f"{name} must hold {kind}; got dtype {tensor.dtype} (floats are not truncated).")
    if tensor is not None and tuple(tensor.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the shape of input_ids {tuple(shape)} (batch, seq_len); "
            f"got {tuple(tensor.shape)}."
        )


def candidate_mask(
    input_ids: torch.Tensor,
    vocab: MaskingVocab,
    attention_mask: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tokens are real, and which may be selected for MLM.

    Args:
        input_ids: ``[B, L]`` token ids.
        vocab: The vocabulary's special ids.
        attention_mask: ``[B, L]``, 1/True on real tokens; default ``input_ids != pad``.
        special_tokens_mask: ``[B, L]``, 1/True on extra tokens never to select.

    Returns:
        ``(real, candidates)``, both ``[B, L]`` bool: True = real token / may be selected.
    """
    device = input_ids.device
    if attention_mask is None:
        if vocab.pad_token_id is None:
            real = torch.ones_like(input_ids, dtype=torch.bool)
        else:
            real = input_ids != vocab.pad_token_id
    else:
        real = attention_mask.to(device=device, dtype=torch.bool)
    candidates = real & ~vocab.is_special(input_ids)
    if special_tokens_mask is not None:
        candidates &= ~special_tokens_mask.to(device=device, dtype=torch.bool)
    return real, candidates


@one_thread_for_small_input  # ~50 small ops: one thread, no join waits (see dynmask_viz._threads)
def mask_batch(
    input_ids: torch.Tensor,
    vocab: MaskingVocab,
    config: MaskingConfig | None = None,
    *,
    seed: int = 0,
    example_ids: torch.Tensor | None = None,
    mask_epoch: int | torch.Tensor = 0,
    attention_mask: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
    word_ids: torch.Tensor | None = None,
) -> MaskedBatch:
    """Select and corrupt MLM positions; the mask is a pure function of the example's key.

    The mask of row ``i`` depends only on ``(seed, example_ids[i], mask_epoch[i])``, the row's
    real tokens and ``config``: not on the rest of the batch, its order, padding, the device,
    DataLoader workers or distributed rank. Padding and special tokens are never selected;
    ``[UNK]`` is selected like any token (as BERT and fairseq do), but random replacements
    are never special tokens nor ``[UNK]`` (as fairseq). Word and span units keep every piece
    of a word together. No Python loop over tokens or examples.

    Args:
        input_ids: ``[B, L]`` integer token ids (right or left padded).
        vocab: A :class:`MaskingVocab` (or a Hugging Face tokenizer, converted on each call:
            build the vocab once in hot loops).
        config: What to select and how to corrupt it; default ``MaskingConfig()`` (RoBERTa).
        seed: Experiment seed, any int.
        example_ids: ``[B]`` integer ids in ``[0, 2**32)`` (e.g. dataset indices), one per
            row: float ids are refused, not truncated, and other shapes are not reshaped.
            ``None``: ids are hashed from the token content (padding ignored), so identical
            sequences share masks.
        mask_epoch: int or integer tensor ``[]``/``[B]`` in ``[0, 2**32)``: which mask to draw
            (ids and epochs are hashed modulo 2**32, so larger epochs are refused). Dynamic
            masking passes the epoch, static masking ``epoch % dupe_factor`` (see
            :mod:`.schedules`).
        attention_mask: ``[B, L]``, 1/True on real tokens. Default: ``input_ids != pad``.
        special_tokens_mask: ``[B, L]``, 1/True on tokens never to select, on top of the
            vocab's special ids.
        word_ids: ``[B, L]`` word index of each token (``-1`` where none), required for
            ``unit="word"`` and ``unit="span"``. See :func:`.units.word_ids_from_offsets`
            and :meth:`MaskingVocab.word_ids`.

    Returns:
        A :class:`MaskedBatch`. An empty batch (``B == 0``) or zero-length rows (``L == 0``)
        give a result of the same ``[B, L]`` shape with nothing selected.

    Raises:
        TypeError: On an argument of the wrong type (float ids or epochs, a non-config).
        ValueError: On shapes or values that cannot be right, with what was expected.
    """
    config = MaskingConfig() if config is None else config
    if not isinstance(config, MaskingConfig):
        raise TypeError(
            f"config must be a MaskingConfig or None; got {type(config).__name__}. "
            "Build one with MaskingConfig(...) or MaskingConfig.from_preset(name)."
        )
    vocab = as_vocab(vocab)
    check_token_ids(input_ids)
    seed = check_seed(seed)
    batch, length = input_ids.shape
    device = input_ids.device
    ids = input_ids.to(torch.int64)
    for name, tensor in (
        ("attention_mask", attention_mask),
        ("special_tokens_mask", special_tokens_mask),
        ("word_ids", word_ids),
    ):
        _check_2d(name, tensor, input_ids.shape)
    check_epoch("mask_epoch", mask_epoch, batch)
    if batch == 0 or length == 0:
        return _empty_result(input_ids, example_ids, mask_epoch)

    real, candidates = candidate_mask(ids, vocab, attention_mask, special_tokens_mask)

    if example_ids is None:
        example_ids = content_ids(ids, real)
    example_ids = check_example_ids(example_ids, batch, device)
    epochs = torch.as_tensor(mask_epoch, dtype=torch.int64, device=device).expand(batch).clone()
    # Only the streams a config uses are hashed (each stream's key is independent of the others).
    streams = (STREAM_SELECT, STREAM_CORRUPT)
    if config.unit == "span":
        streams += (STREAM_SPAN,)
    if config.count == "fairseq":
        streams += (STREAM_COUNT,)
    keys = example_stream_keys(seed, example_ids, epochs, streams)

    # Positions count from the first real token so left padding does not shift any mask.
    if bool(real[:, 0].all()):
        positions = torch.arange(length, device=device, dtype=torch.int32).expand(batch, length)
    else:
        positions = real.to(torch.int32).cumsum(1, dtype=torch.int32) - 1
    units = unit_ids(config, positions, candidates, word_ids)
    selected, u, groups = select(config, units, candidates, keys, real)

    # 80/10/10 is decided per selected token, as in BERT and Hugging Face. For token units with
    # Bernoulli selection the selection word itself decides: given u < p * 2**32, u is uniform
    # on [0, p * 2**32), so thresholds at 0.8p and 0.9p split it exactly (one hash, not two).
    # Otherwise (whole units, exact counts) each token gets a word of its own, or with
    # corruption_per="unit" each word or span one word that all its tokens share (its
    # counter is the unit's index, which left padding and batching do not shift either).
    scale = config.mlm_probability
    if groups is not None:
        u, scale = keyed_uniform32(keys[1][:, None], groups), 1.0
    elif u is None:
        u, scale = keyed_uniform32(keys[1][:, None], positions), 1.0
    by_mask = selected & below(u, scale * config.mask_replace_prob)
    by_random = (
        selected & below(u, scale * (config.mask_replace_prob + config.random_replace_prob)) & ~by_mask
    )
    out_ids = torch.where(by_mask, vocab.mask_token_id, ids)
    rows, cols = by_random.nonzero(as_tuple=True)
    if rows.numel():
        pool = vocab.replacement_ids.to(device)
        if groups is None:
            draw = u[rows, cols]
        else:  # one random id per token of a randomly replaced word, as fairseq draws them
            draw = keyed_uniform32(keys[1][rows], positions[rows, cols])
        # Rehash: the draw must not depend on the bits that made the 80/10/10 decision.
        out_ids[rows, cols] = pool[to_unsigned(rehash(draw, STREAM_REPLACE)) % pool.numel()]
    return MaskedBatch(
        input_ids=out_ids.to(input_ids.dtype),
        labels=torch.where(selected, ids, IGNORE_INDEX),
        masked=selected,
        replaced_by_mask=by_mask,
        replaced_by_random=by_random,
        example_ids=example_ids,
        mask_epoch=epochs,
    )


def _empty_result(input_ids: torch.Tensor, example_ids, mask_epoch) -> MaskedBatch:
    """The result for ``B == 0`` or ``L == 0``: nothing to select, every tensor of the right shape.

    Without ``example_ids`` a zero-length row gets the content id of a row with no real token
    (the id a fully padded row gets), so the result is the same as for any other row.
    """
    batch, _ = input_ids.shape
    device = input_ids.device
    if example_ids is None:
        nothing = torch.zeros((batch, 1), dtype=torch.int64, device=device)
        example_ids = content_ids(nothing, nothing.to(torch.bool))
    example_ids = check_example_ids(example_ids, batch, device)
    none = torch.zeros(input_ids.shape, dtype=torch.bool, device=device)
    return MaskedBatch(
        input_ids=input_ids.clone(),
        labels=torch.full(input_ids.shape, IGNORE_INDEX, dtype=torch.int64, device=device),
        masked=none,
        replaced_by_mask=none.clone(),
        replaced_by_random=none.clone(),
        example_ids=example_ids,
        mask_epoch=torch.as_tensor(mask_epoch, dtype=torch.int64, device=device).expand(batch).clone(),
    )
