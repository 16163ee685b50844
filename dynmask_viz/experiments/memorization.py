"""Memorization made visible: the right token's probability under a trained mask vs a fresh one.

A static-masking model sees each of its ``dupe_factor`` masks several times (4 with BERT's 10
masks over 40 epochs). On a *training* sequence it can then recall what sat under a mask it
was trained on, not only infer it: its probability of the right token is higher under that
mask than under a fresh mask of the same sequence. A dynamic-masking model saw each mask once,
so both should be about equal. Measured per sequence over many training sequences, the two
models' distributions show it, without a picked example.

Each sequence is fed exactly as in training (the 80/10/10 corruption of that mask, keyed on
the run's seed, the row index and the mask index), and the score of a sequence is the mean,
over its masked positions, of the probability the model gives the original token.
"""

from __future__ import annotations

import statistics

import torch

from ..masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_batch

__all__ = ["memorization_by_sequence", "summarize_memorization"]


@torch.no_grad()
def _mean_true_prob(model, input_ids: torch.Tensor, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``[N]`` mean probability of the original token over each row's masked positions."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(input_ids), batch_size):
        ids, lab = input_ids[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        logp = model(input_ids=ids).logits.float().log_softmax(-1)  # [b, L, V]
        picked = lab != IGNORE_INDEX  # [b, L]
        p = logp.gather(-1, lab.clamp(min=0)[..., None])[..., 0].exp() * picked  # [b, L]
        out.append((p.sum(1) / picked.sum(1).clamp(min=1)).cpu())
    return torch.cat(out).double()


def memorization_by_sequence(
    models: dict,
    train_ids: torch.Tensor,
    vocab: MaskingVocab,
    masking: MaskingConfig,
    *,
    seed: int,
    trained_mask_epoch: int = 0,
    fresh_mask_epoch: int = 10_000,
    n_sequences: int = 512,
    batch_size: int = 64,
) -> dict:
    """Per training sequence, each model's probability of the right tokens, trained vs fresh mask.

    Args:
        models: Name -> ``BertForMaskedLM`` (eval mode), e.g. ``{"static": ..., "dynamic": ...}``
            trained on ``train_ids`` with masks of ``seed``.
        train_ids: ``[N, L]`` packed training rows (row index = example id).
        vocab, masking: The masking vocabulary and config of the training runs.
        seed: The runs' masking seed.
        trained_mask_epoch: The mask index of "a mask it trained on": static masking used
            indices ``0 .. dupe_factor-1`` (each seen ``epochs / dupe_factor`` times), dynamic
            used ``0 .. epochs-1`` (each once).
        fresh_mask_epoch: A mask index no run trained on.
        n_sequences: How many training rows to score (the first ones; every row was trained on).

    Returns:
        ``{"sequences": n, "trained_mask_epoch", "fresh_mask_epoch", "models": {name:
        {"trained": [n] floats, "fresh": [n] floats}}}``: mean probability of the original
        token over each row's masked positions.

    Raises:
        ValueError: ``n_sequences`` < 1, or the two mask indices are equal.
    """
    if n_sequences < 1:
        raise ValueError(f"n_sequences must be >= 1; got {n_sequences}.")
    if trained_mask_epoch == fresh_mask_epoch:
        raise ValueError(
            f"trained_mask_epoch and fresh_mask_epoch must differ; both are {trained_mask_epoch}."
        )
    rows = train_ids[:n_sequences]
    ids = torch.arange(len(rows))
    masked = {
        kind: mask_batch(rows, vocab, masking, seed=seed, example_ids=ids, mask_epoch=epoch)
        for kind, epoch in (("trained", trained_mask_epoch), ("fresh", fresh_mask_epoch))
    }
    result = {
        name: {
            kind: _mean_true_prob(model, batch.input_ids, batch.labels, batch_size).tolist()
            for kind, batch in masked.items()
        }
        for name, model in models.items()
    }
    return {
        "sequences": len(rows),
        "trained_mask_epoch": trained_mask_epoch,
        "fresh_mask_epoch": fresh_mask_epoch,
        "models": result,
    }


def summarize_memorization(result: dict) -> dict:
    """Per model: medians, the median per-sequence drop (trained - fresh) and how often it is > 0.

    Args:
        result: What :func:`memorization_by_sequence` returns.

    Returns:
        Name -> ``{"median_trained", "median_fresh", "median_drop", "share_dropped"}``.
    """
    out = {}
    for name, probs in result["models"].items():
        drops = [t - f for t, f in zip(probs["trained"], probs["fresh"], strict=True)]
        out[name] = {
            "median_trained": statistics.median(probs["trained"]),
            "median_fresh": statistics.median(probs["fresh"]),
            "median_drop": statistics.median(drops),
            "share_dropped": sum(d > 0 for d in drops) / len(drops),
        }
    return out
