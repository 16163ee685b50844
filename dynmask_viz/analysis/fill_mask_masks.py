"""Which positions a training run masked, and what it fed: the masks of
:mod:`dynmask_viz.analysis.fill_mask`, redrawn with the package's keyed masking.

The mask of training sequence ``i`` in epoch ``e`` is a pure function of ``(seed, i, mask
index)`` (:func:`~dynmask_viz.masking.mask_batch`); :func:`mask_index` maps an epoch to its mask
index (static: ``e % dupe_factor``, dynamic: ``e``; a *fresh* mask: an index no run used).

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from ..masking import MaskingConfig, MaskingVocab, mask_batch

__all__ = ["draw_mask", "draw_training_input", "mask_index", "times_seen"]

MASK_KINDS = ("static", "dynamic", "fresh")


def _as_ids(name: str, value) -> torch.Tensor:
    ids = torch.as_tensor(value)
    if ids.dim() != 1 or ids.dtype in (torch.bool,) or ids.is_floating_point() or ids.is_complex():
        raise ValueError(
            f"{name} must be a 1-D sequence of integer token ids [L]; got {ids.dtype} {tuple(ids.shape)}."
        )
    return ids.to(torch.int64).cpu()


def mask_index(kind: str, epoch: int, *, dupe_factor: int, fresh_mask_epoch: int) -> int:
    """The mask index (``mask_epoch`` of :func:`~dynmask_viz.masking.mask_batch`) to draw.

    Args:
        kind: ``"static"`` (epoch ``e`` uses mask ``e % dupe_factor``), ``"dynamic"`` (mask
            ``e``) or ``"fresh"`` (``fresh_mask_epoch``, an index no training epoch used).
        epoch: The 0-based training epoch (ignored for ``"fresh"``).
        dupe_factor: Distinct static masks, an int >= 1.
        fresh_mask_epoch: The index of a fresh mask, above every index a run used.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}; got {kind!r}.")
    for name, value, low in (("epoch", epoch, 0), ("dupe_factor", dupe_factor, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")
    if kind == "fresh":
        return int(fresh_mask_epoch)
    return int(epoch % dupe_factor) if kind == "static" else int(epoch)


def times_seen(mask_epoch: int, kind: str, *, epochs: int, dupe_factor: int) -> int:
    """How often a run trained on mask index ``mask_epoch`` of a sequence, over ``epochs``.

    Static runs use index ``e % dupe_factor`` in epoch ``e``: index ``m < dupe_factor`` comes
    back in epochs ``m, m + dupe_factor, ...``. Dynamic runs use index ``e`` once each.
    """
    if kind == "static":
        return len(range(mask_epoch, epochs, dupe_factor)) if mask_epoch < dupe_factor else 0
    if kind == "dynamic":
        return int(mask_epoch < epochs)
    raise ValueError(f"kind must be 'static' or 'dynamic'; got {kind!r}.")


def draw_mask(
    input_ids,
    vocab: MaskingVocab,
    masking: MaskingConfig,
    *,
    seed: int,
    mask_epoch: int,
    example_id: int | None = None,
    word_ids: torch.Tensor | Sequence[int] | None = None,
) -> torch.Tensor:
    """``[L]`` bool: the positions :func:`~dynmask_viz.masking.mask_batch` selects (True = selected).

    Keyed as in training: ``(seed, example_id, mask_epoch)``; the experiment's training row
    ``i`` has ``example_id=i`` (no padding, no attention mask, as the training loop draws it).

    Args:
        input_ids: ``[L]`` token ids, special tokens included.
        vocab: The :class:`~dynmask_viz.masking.MaskingVocab` of the tokenizer.
        masking: The :class:`~dynmask_viz.masking.MaskingConfig` (the run's ``masking``).
        seed: The masking seed (the run's ``seed``).
        mask_epoch: The mask index (:func:`mask_index`).
        example_id: The example id; None hashes it from the token content (a typed sentence
            then keeps its masks however often it is typed).
        word_ids: ``[L]`` word index per token (``-1`` on specials) for word and span units.
    """
    return draw_training_input(
        input_ids, vocab, masking, seed=seed, mask_epoch=mask_epoch, example_id=example_id, word_ids=word_ids
    )[0]


def draw_training_input(
    input_ids,
    vocab: MaskingVocab,
    masking: MaskingConfig,
    *,
    seed: int,
    mask_epoch: int,
    example_id: int | None = None,
    word_ids: torch.Tensor | Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mask of :func:`draw_mask` and the input training fed with it (same arguments).

    Returns:
        ``(masked [L] bool, fed_ids [L] int64)``: True = selected for prediction; ``fed_ids`` is
        the corrupted input of :func:`~dynmask_viz.masking.mask_batch` (80 % ``[MASK]``, 10 % a
        random token, 10 % kept with the default config), to pass to :func:`fill_mask_view`.
    """
    ids = _as_ids("input_ids", input_ids)[None]
    example_ids = None if example_id is None else torch.tensor([example_id])
    words = None if word_ids is None else torch.as_tensor(word_ids, dtype=torch.int64)[None]
    result = mask_batch(
        ids, vocab, masking, seed=seed, example_ids=example_ids, mask_epoch=mask_epoch, word_ids=words
    )
    return result.masked[0], result.input_ids[0]
