"""Memorization made visible: the right token's log-probability under a trained mask vs a fresh one.

A static-masking model sees each of its ``dupe_factor`` masks several times (4 with BERT's 10
masks over 40 epochs). On a *training* sequence it can then recall what sat under a mask it
was trained on, not only infer it: its probability of the right token is higher under that
mask than under a fresh mask of the same sequence. A dynamic-masking model saw each mask once,
so both should be about equal. Measured per sequence over many training sequences, the two
models' distributions show it, without a picked example.

Each sequence is fed exactly as in training (the 80/10/10 corruption of that mask, keyed on
the run's seed, the row index and the mask index), and the score of a sequence is its loss:
the mean, over its masked positions, of minus the log-probability of the original token. Its
*gap* is fresh-mask loss minus trained-mask loss (the experiment's memorization gap, per
sequence). Measured on the committed models, the mean probability hardly moves (the easy tokens
stay easy) while the loss does: memorization lifts the hard tokens, from very unlikely to less
unlikely, which a log scale shows and a mean of probabilities hides.
"""

from __future__ import annotations

import math
import statistics

import torch

from ..masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_batch

__all__ = ["memorization_by_sequence", "summarize_memorization"]


@torch.no_grad()
def _sequence_losses(model, input_ids: torch.Tensor, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``[N]`` float64 mean of -log p(original token) over each row's masked positions (nats)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(input_ids), batch_size):
        ids, lab = input_ids[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        logp = model(input_ids=ids).logits.float().log_softmax(-1)  # [b, L, V]
        picked = lab != IGNORE_INDEX  # [b, L]
        nll = -logp.gather(-1, lab.clamp(min=0)[..., None])[..., 0] * picked  # [b, L]
        out.append((nll.sum(1) / picked.sum(1).clamp(min=1)).cpu())
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
    """Per training sequence, each model's loss on the right tokens, under a trained vs a fresh mask.

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
        {"trained": [n] floats, "fresh": [n] floats}}}``: each row's loss (mean -log p of the
        original token over its masked positions, nats) under each mask.

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
            kind: _sequence_losses(model, batch.input_ids, batch.labels, batch_size).tolist()
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
    """Per model: median losses, the median per-sequence gap (fresh - trained) and how often it is > 0.

    Args:
        result: What :func:`memorization_by_sequence` returns.

    Returns:
        Name -> ``{"median_trained", "median_fresh", "median_gap", "share_memorized",
        "probability_ratio"}``: ``share_memorized`` is the share of sequences with a lower loss
        under the trained mask; ``probability_ratio`` is ``exp(median_gap)``, how many times more
        likely (geometric mean over the masked tokens) the right tokens are under the trained mask.
    """
    out = {}
    for name, losses in result["models"].items():
        gaps = [f - t for t, f in zip(losses["trained"], losses["fresh"], strict=True)]
        median_gap = statistics.median(gaps)
        out[name] = {
            "median_trained": statistics.median(losses["trained"]),
            "median_fresh": statistics.median(losses["fresh"]),
            "median_gap": median_gap,
            "share_memorized": sum(g > 0 for g in gaps) / len(gaps),
            "probability_ratio": math.exp(median_gap),
        }
    return out


def committed_memorization(
    *, n_sequences: int = 512, trained_mask_epoch: int = 0, batch_size: int = 64
) -> dict:
    """:func:`memorization_by_sequence` of the two committed fill-mask models, with its summary.

    Both were trained on the same rows with masks of the same seed (``mask_seed``), so one
    measurement covers both: static masking saw mask ``trained_mask_epoch`` (< ``dupe_factor``)
    ``epochs / dupe_factor`` times, dynamic masking once (at that epoch).

    Returns:
        The :func:`memorization_by_sequence` dict plus ``"summary"`` (:func:`summarize_memorization`)
        and ``"setup"`` (mask seed, dupe factor, epochs, times the static model saw the mask).
    """
    from ..hf import load_mlm
    from .fill_mask_models import training_sequences, training_setup

    setup = training_setup("static")
    if not 0 <= trained_mask_epoch < setup["dupe_factor"]:
        raise ValueError(
            f"trained_mask_epoch must be one of the static model's masks, 0..{setup['dupe_factor'] - 1}; "
            f"got {trained_mask_epoch}."
        )
    if training_setup("dynamic")["mask_seed"] != setup["mask_seed"]:
        raise ValueError("the committed models were trained with different mask seeds: not comparable.")
    models = {name: load_mlm(name)[0] for name in ("static", "dynamic")}
    _, tokenizer = load_mlm("static")
    from ..masking import MaskingVocab

    result = memorization_by_sequence(
        models,
        training_sequences("static"),
        MaskingVocab.from_tokenizer(tokenizer),
        setup["masking"],
        seed=setup["mask_seed"],
        trained_mask_epoch=trained_mask_epoch,
        fresh_mask_epoch=setup["fresh_mask_epoch"],
        n_sequences=n_sequences,
        batch_size=batch_size,
    )
    result["summary"] = summarize_memorization(result)
    result["setup"] = {
        "mask_seed": setup["mask_seed"],
        "dupe_factor": setup["dupe_factor"],
        "epochs": setup["epochs"],
        "static_saw_the_mask": setup["epochs"] // setup["dupe_factor"],
        "dynamic_saw_the_mask": 1,
    }
    return result
