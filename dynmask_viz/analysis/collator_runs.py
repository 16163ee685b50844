"""Run MLM collators in a real ``DataLoader`` over epochs and record what they fed the model.

This is how the notebooks show the *seeded-workers trap*: a seeded Hugging Face
``DataCollatorForLanguageModeling`` in ``num_workers > 0`` non-persistent workers re-seeds a
fresh generator in every new worker process, so every epoch repeats the masks of the first;
``MLMCollator`` keys each mask on ``(seed, example id, epoch)`` and does not.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..masking import MaskingVocab, as_vocab, candidate_mask, corruption_from_labels
from .epoch_grids import EpochGrid, token_strings

__all__ = ["CollatedEpochs", "collate_epochs", "masks_in_batches"]


class _Features(torch.utils.data.Dataset):
    """A list of feature dicts as a map-style dataset (module level so workers can unpickle it)."""

    def __init__(self, features: Sequence[dict]) -> None:
        self.features = list(features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict:
        return self.features[index]


@dataclass(frozen=True)
class CollatedEpochs:
    """What a collator fed the model, epoch by epoch, for ``N`` examples (in dataset order).

    Attributes:
        input_ids: ``[E, N, L]`` ids fed to the model (padded to the longest example).
        labels: ``[E, N, L]`` original id where predicted, ``-100`` elsewhere and on padding.
        original: ``[N, L]`` the uncorrupted ids.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    original: torch.Tensor

    @property
    def masked(self) -> torch.Tensor:
        """``[E, N, L]`` bool, True = selected for MLM prediction."""
        return self.labels != -100

    def same_as_first_epoch(self) -> list[bool]:
        """For each epoch, whether *every* example got exactly its epoch-0 input again."""
        return [
            bool(torch.equal(self.input_ids[e], self.input_ids[0])) for e in range(self.input_ids.shape[0])
        ]

    def distinct_masks_per_example(self) -> torch.Tensor:
        """``[N]`` int64: distinct corrupted inputs each example was seen with."""
        n = self.input_ids.shape[1]
        return torch.tensor([torch.unique(self.input_ids[:, i], dim=0).shape[0] for i in range(n)])

    def grid(self, example: int, tokenizer, *, kind: str = "collator") -> EpochGrid:
        """The :class:`EpochGrid` of one example (special tokens and padding dropped)."""
        vocab = tokenizer if isinstance(tokenizer, MaskingVocab) else as_vocab(tokenizer)
        keep = candidate_mask(self.original[example : example + 1], vocab)[1][0]
        fed = self.input_ids[:, example, keep]
        labels = self.labels[:, example, keep]
        # A collator's output carries no word ids and no mask index: the defaults say so.
        return EpochGrid.build(
            token_strings(tokenizer, self.original[example, keep].tolist()),
            corruption_from_labels(fed, labels, vocab.mask_token_id),
            fed_ids=fed,
            tokenizer=tokenizer,
            masked=labels != -100,
            kind=kind,
        )


def collate_epochs(
    collator,
    features: Sequence[dict],
    *,
    epochs: int = 3,
    batch_size: int = 2,
    num_workers: int = 2,
    multiprocessing_context=None,
) -> CollatedEpochs:
    """Run a collator in a ``DataLoader`` for several epochs, as a training loop would.

    A fresh loader iterator is made per epoch, so non-persistent workers are new processes
    each epoch (PyTorch's default). Collators with ``set_epoch`` (``MLMCollator``) are told the
    epoch first; features then get an ``example_id`` (their dataset index) to key masks on.

    Args:
        collator: ``transformers.DataCollatorForLanguageModeling``, ``MLMCollator``, ...
        features: ``N`` dicts with ``input_ids`` (and optionally ``attention_mask``...).
        epochs: Number of passes over the data.
        batch_size: Examples per batch (no shuffling: example order is the dataset order).
        num_workers: DataLoader worker processes (0 = collate in this process).
        multiprocessing_context: Passed to ``DataLoader`` (default: the platform's; ``fork`` on
            Linux, which is what makes this work from a notebook without pickling the kernel).

    Returns:
        A :class:`CollatedEpochs`.
    """
    features = [dict(f) for f in features]
    has_epochs = hasattr(collator, "set_epoch")
    if has_epochs:
        id_key = getattr(collator, "id_key", "example_id")
        features = [dict(f, **{id_key: i}) for i, f in enumerate(features)]
    loader = torch.utils.data.DataLoader(
        _Features(features),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collator,
        multiprocessing_context=multiprocessing_context if num_workers else None,
    )
    length = max(len(f["input_ids"]) for f in features)
    n = len(features)
    fed = torch.zeros((epochs, n, length), dtype=torch.int64)
    labels = torch.full((epochs, n, length), -100, dtype=torch.int64)
    for epoch in range(epochs):
        if has_epochs:
            collator.set_epoch(epoch)
        start = 0
        for batch in loader:  # right padding: a batch's columns are the first columns of a row
            rows, width = batch["input_ids"].shape
            fed[epoch, start : start + rows, :width] = batch["input_ids"]
            labels[epoch, start : start + rows, :width] = batch["labels"]
            start += rows
    original = torch.zeros((n, length), dtype=torch.int64)
    for i, f in enumerate(features):
        original[i, : len(f["input_ids"])] = torch.as_tensor(f["input_ids"])
    return CollatedEpochs(fed, labels, original)


def masks_in_batches(
    collator, features: Sequence[dict], example: int, batches: Sequence[Sequence[int]]
) -> list[torch.Tensor]:
    """The mask one example gets from ``collator`` when batched with different companions.

    Args:
        collator: Any MLM collator returning ``labels`` (``-100`` = not predicted).
        features: Dicts with ``input_ids``; collators with ``set_epoch`` (``MLMCollator``) also
            get ``example_id`` = the feature's index, as in :func:`collate_epochs`. An
            ``MLMCollator`` is batch-independent once keyed (after ``set_epoch``); in its
            fresh mode every call draws new masks, as Hugging Face's collator does.
        example: Index of the example to follow.
        batches: Lists of feature indices, each containing ``example``.

    Returns:
        One ``[n]`` bool tensor per batch (``n`` = the example's length), True = selected.

    Raises:
        ValueError: If a batch does not contain ``example``.
    """
    id_key = getattr(collator, "id_key", "example_id") if hasattr(collator, "set_epoch") else None
    length = len(features[example]["input_ids"])
    masks = []
    for batch in batches:
        if example not in batch:
            raise ValueError(f"every batch must contain example {example}; got {list(batch)}.")
        chosen = [dict(features[i], **({id_key: i} if id_key else {})) for i in batch]
        labels = collator(chosen)["labels"]
        masks.append(labels[list(batch).index(example), :length] != -100)
    return masks
