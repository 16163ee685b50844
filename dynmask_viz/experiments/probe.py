"""Downstream probe (SST-2 analogue): fine-tune the pretrained encoder on Rotten Tomatoes.

Like RoBERTa's Table 1, which reports the median of 5 fine-tuning runs, every pretrained model
is fine-tuned with several seeds; each run keeps the epoch with the best dev accuracy and is
scored on the fixed test split. The median over fine-tuning seeds is the model's score.
"""

from __future__ import annotations

import copy
import statistics
from pathlib import Path

import torch

from .._device import autocast, backward_and_step, grad_scaler, pick_device, pick_precision
from .config import ExperimentConfig
from .data import ProbeSplits, probe_splits
from .model import bert_config, build_mlm, load_weights
from .schedule import linear_warmup_decay


def build_classifier(
    config: ExperimentConfig,
    vocab_size: int,
    *,
    seed: int,
    pad_token_id: int = 0,
    mlm_weights: str | Path | None = None,
):
    """``BertForSequenceClassification`` (2 labels) with the encoder of a pretrained MLM.

    Args:
        mlm_weights: ``model.safetensors`` of a :func:`train` run; None = no pretraining (a
            randomly initialised encoder, the baseline every pretraining must beat).

    The pooler and classifier (absent from an MLM) are initialised from ``seed``.
    """
    from transformers import BertForSequenceClassification

    cfg = bert_config(config, vocab_size, pad_token_id=pad_token_id)
    cfg.num_labels = 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = BertForSequenceClassification(cfg)
    if mlm_weights is not None:
        mlm = load_weights(build_mlm(config, vocab_size, seed=0, pad_token_id=pad_token_id), mlm_weights)
        missing, unexpected = clf.bert.load_state_dict(mlm.bert.state_dict(), strict=False)
        if unexpected or any(not k.startswith("pooler.") for k in missing):
            raise RuntimeError(f"Encoder weights do not fit: missing {missing}, unexpected {unexpected}.")
    return clf


def _encode(tokenizer, texts: list[str], max_len: int) -> list[list[int]]:
    return tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]


def _batches(ids: list[list[int]], labels: list[int], order, batch_size: int, pad_id: int, device):
    """Yield ``(input_ids [b, Lmax], attention_mask [b, Lmax], labels [b])``, padded per batch."""
    for i in range(0, len(order), batch_size):
        rows = [ids[j] for j in order[i : i + batch_size]]
        width = max(len(r) for r in rows)
        x = torch.full((len(rows), width), pad_id, dtype=torch.int64)
        for k, r in enumerate(rows):
            x[k, : len(r)] = torch.tensor(r)
        y = torch.tensor([labels[j] for j in order[i : i + batch_size]])
        yield x.to(device), (x != pad_id).to(device), y.to(device)


@torch.no_grad()
def accuracy(clf, ids, labels, *, batch_size: int, pad_id: int, device, precision: str = "fp32") -> float:
    """Share of correctly classified examples (``precision``: :func:`~dynmask_viz._device.pick_precision`)."""
    clf.eval()
    correct = 0
    for x, mask, y in _batches(ids, labels, range(len(ids)), batch_size, pad_id, device):
        with autocast(device, precision):
            correct += int((clf(input_ids=x, attention_mask=mask).logits.argmax(-1) == y).sum())
    return correct / max(len(ids), 1)


def finetune(
    config: ExperimentConfig,
    tokenizer,
    *,
    seed: int,
    mlm_weights: str | Path | None,
    splits: ProbeSplits | None = None,
) -> dict:
    """One fine-tuning run: best-dev epoch, its dev and test accuracy."""
    device = pick_device(config.device)
    precision = pick_precision(device, config.bf16)
    splits = splits or probe_splits(config.probe.split_seed)
    pad = tokenizer.pad_token_id
    tr_texts, tr_labels = splits.train
    if config.probe.train_limit is not None:
        tr_texts, tr_labels = tr_texts[: config.probe.train_limit], tr_labels[: config.probe.train_limit]
    enc = {
        name: (_encode(tokenizer, t, config.probe.max_len), y)
        for name, (t, y) in (("train", (tr_texts, tr_labels)), ("dev", splits.dev), ("test", splits.test))
    }
    clf = build_classifier(config, len(tokenizer), seed=seed, pad_token_id=pad, mlm_weights=mlm_weights).to(
        device
    )
    optimizer = torch.optim.AdamW(clf.parameters(), lr=config.probe.lr, weight_decay=0.01)
    scaler = grad_scaler(device, precision)  # fp16 only (pre-Ampere GPUs)
    steps = config.probe.epochs * -(-len(tr_texts) // config.probe.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(steps, max(1, steps // 10)))
    best = (-1.0, None, 0)
    kw = dict(batch_size=2 * config.probe.batch_size, pad_id=pad, device=device, precision=precision)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed + 104_729)  # dropout stream of this fine-tuning run
        g = torch.Generator().manual_seed(seed)
        for epoch in range(config.probe.epochs):
            clf.train()
            order = torch.randperm(len(tr_texts), generator=g).tolist()
            for x, mask, y in _batches(*enc["train"], order, config.probe.batch_size, pad, device):
                with autocast(device, precision):
                    loss = torch.nn.functional.cross_entropy(
                        clf(input_ids=x, attention_mask=mask).logits.float(), y
                    )
                backward_and_step(loss, optimizer, clf.parameters(), 1.0, scaler)
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
            dev = accuracy(clf, *enc["dev"], **kw)
            if dev > best[0]:
                best = (dev, copy.deepcopy(clf.state_dict()), epoch)
    clf.load_state_dict(best[1])
    return {
        "seed": seed,
        "dev_accuracy": best[0],
        "test_accuracy": accuracy(clf, *enc["test"], **kw),
        "best_epoch": best[2],
        "precision": precision,
    }


def run_probe(
    config: ExperimentConfig, tokenizer, mlm_weights: str | Path | None, *, splits: ProbeSplits | None = None
) -> dict:
    """Fine-tune with every seed of ``config.probe.seeds``; median test accuracy.

    Returns:
        ``{"seeds", "dev_accuracy", "test_accuracy" (lists, one per seed),
        "median_test_accuracy", "pretrained" (bool), "train_examples"}``.
    """
    splits = splits or probe_splits(config.probe.split_seed)
    runs = [
        finetune(config, tokenizer, seed=s, mlm_weights=mlm_weights, splits=splits)
        for s in config.probe.seeds
    ]
    n_train = (
        len(splits.train[0])
        if config.probe.train_limit is None
        else min(config.probe.train_limit, len(splits.train[0]))
    )
    return {
        "seeds": [r["seed"] for r in runs],
        "dev_accuracy": [r["dev_accuracy"] for r in runs],
        "test_accuracy": [r["test_accuracy"] for r in runs],
        "median_test_accuracy": float(statistics.median(r["test_accuracy"] for r in runs)),
        "pretrained": mlm_weights is not None,
        "train_examples": n_train,
        "dev_examples": len(splits.dev[0]),
        "test_examples": len(splits.test[0]),
    }
