"""The floor every masked-LM loss is read against: a unigram model of the training text.

A model that ignores the context and predicts each masked token from its frequency in the
training split alone scores ``unigram loss`` (cross-entropy in nats) and ``unigram accuracy``
(it always guesses the most frequent token). A pretrained model is worth something only by how
far it gets below that loss and above that accuracy; the chapter prints both next to every loss.
"""

from __future__ import annotations

import math

import torch

from ..masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_batch

__all__ = ["unigram_baseline", "unigram_log_probs"]


def unigram_log_probs(
    train_ids: torch.Tensor, vocab: MaskingVocab, *, smoothing: float = 1.0
) -> torch.Tensor:
    """``[V]`` float64 log-probabilities of each id in the training text (add-``smoothing``).

    Special ids ([CLS], [SEP], [PAD], [MASK]) never occur as labels, so they get no mass; every
    other id gets ``count + smoothing``, so an id unseen in training still has a finite loss.

    Args:
        train_ids: ``[N, L]`` (or any shape) integer training token ids.
        vocab: The masking vocabulary (its ``vocab_size`` and ``special_ids``).
        smoothing: Pseudo-count added to every non-special id, >= 0.

    Raises:
        ValueError: ``smoothing`` is negative, or an id lies outside ``[0, vocab.vocab_size)``.
    """
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0 (a pseudo-count); got {smoothing}.")
    flat = train_ids.reshape(-1).long().cpu()
    if len(flat) and (int(flat.min()) < 0 or int(flat.max()) >= vocab.vocab_size):
        raise ValueError(
            f"train_ids must lie in [0, vocab_size={vocab.vocab_size}); got ids in "
            f"[{int(flat.min())}, {int(flat.max())}]. Pass the vocabulary of the tokenizer that made them."
        )
    counts = torch.bincount(flat, minlength=vocab.vocab_size).double() + smoothing
    special = torch.tensor(list(vocab.special_ids), dtype=torch.long)
    counts[special] = 0.0
    return counts.log() - math.log(float(counts.sum()))


def unigram_baseline(
    train_ids: torch.Tensor,
    eval_ids: torch.Tensor,
    vocab: MaskingVocab,
    config: MaskingConfig | None = None,
    *,
    seed: int,
    mask_epoch: int = 0,
) -> dict:
    """Loss and top-1 accuracy of the unigram model on masked evaluation positions.

    The evaluation masks are drawn as the experiment draws its fixed validation masks
    (:func:`~dynmask_viz.masking.mask_batch` keyed on ``seed``, the row index and
    ``mask_epoch``), so pass the run's ``eval_mask_seed`` to score the very positions the
    models are scored on.

    Args:
        train_ids: ``[N, L]`` training sequences (the frequencies).
        eval_ids: ``[M, L]`` held-out sequences.
        vocab: The masking vocabulary.
        config: The masking config (default RoBERTa's 15%, 80/10/10).
        seed: Seed of the evaluation masks.
        mask_epoch: Mask index of the evaluation masks.

    Returns:
        ``{"loss": nats, "accuracy": fraction, "predictions": count, "top_token_id": id}``.
    """
    log_p = unigram_log_probs(train_ids, vocab)
    batch = mask_batch(
        eval_ids,
        vocab,
        config or MaskingConfig(),
        seed=seed,
        example_ids=torch.arange(len(eval_ids)),
        mask_epoch=mask_epoch,
    )
    labels = batch.labels[batch.labels != IGNORE_INDEX].long().cpu()
    if len(labels) == 0:
        raise ValueError("eval_ids gave no masked position to score; pass longer or more sequences.")
    top = int(log_p.argmax())
    return {
        "loss": float(-log_p[labels].mean()),
        "accuracy": float((labels == top).double().mean()),
        "predictions": len(labels),
        "top_token_id": top,
    }
