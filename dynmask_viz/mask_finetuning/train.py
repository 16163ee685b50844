"""One fine-tuning run: the offline encoder, a layer mask in every layer, trained and scored.

The layer mask is on while training and while scoring (what the claim proposes); a run also
scores its model with full attention, and the baseline's models are scored under every rule
(mask at test time only: what the tutorial's code does to an already trained model).
"""

from __future__ import annotations

import contextlib
import time

import torch

from .._device import autocast, backward_and_step, grad_scaler, pick_device, pick_precision
from ..experiments.schedule import linear_warmup_decay
from ..hf.layer_attention import LayerMaskRecording, install_layer_mask, set_layer_mask
from ..hf.layer_masks import FullAttention, LayerMask, RandomKeyDrop
from ..hf.loading import load_model
from .config import CONDITIONS, FinetuneConfig, build_rule
from .data import EncodedSplit, FinetuneData

__all__ = ["build_classifier", "evaluate", "finetune"]


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and progress bar for one call (the user's settings come back)."""
    from transformers.utils import logging

    saved, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()  # "Loading weights 0/103" would be saved in a notebook at 0 %
    try:
        yield
    finally:
        logging.set_verbosity(saved)
        if bar:
            logging.enable_progress_bar()


def build_classifier(config: FinetuneConfig, rule: LayerMask, *, seed: int, model_dir=None):
    """``BertForSequenceClassification`` (2 labels) from the offline encoder, with ``rule`` installed.

    The classifier (and a learned rule's parameters) are initialised from ``seed``; the
    embeddings and all but the top ``config.trainable_layers`` layers are frozen.
    """
    from transformers import BertForSequenceClassification

    with torch.random.fork_rng(devices=[]), _quiet_transformers():
        torch.manual_seed(seed)
        model = load_model(model_dir, model_class=BertForSequenceClassification)
    install_layer_mask(model, rule, seed=seed)
    layers = model.bert.encoder.layer
    frozen = 0 if config.trainable_layers is None else max(0, len(layers) - config.trainable_layers)
    if frozen:
        model.bert.embeddings.requires_grad_(False)
        for layer in layers[:frozen]:
            layer.requires_grad_(False)
    if rule.learned:  # a learned rule's weights train in every layer, frozen ones included
        for name, p in model.named_parameters():
            if "dma_scorer" in name:
                p.requires_grad_(True)
    return model


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(
    model, split: EncodedSplit, config: FinetuneConfig, pad_id: int, *, condition: str = "full", rule=None
) -> dict:
    """Accuracy and the share of (real query, real key) pairs kept, optionally under another rule.

    Args:
        condition: Whose key-keep rows the batches carry (a token rule's, e.g.
            ``"drop_stopwords"``; others carry none).
        rule: Score under this layer mask instead of the installed one (restored after).

    Returns:
        ``{"accuracy", "share_kept", "share_kept_per_layer"}``.

    Raises:
        RuntimeError: No (query, key) pair went through the layer mask (the model does not use it).
    """
    key_keep = condition if condition in split.keep else None
    device = next(model.parameters()).device
    installed = set_layer_mask(model, rule) if rule is not None else None
    model.eval()
    correct = 0
    try:
        with LayerMaskRecording(model) as rec:
            for rows in split.eval_order(config.eval_batch_size):
                batch = _to(split.batch(rows, pad_id, key_keep), device)
                labels = batch.pop("labels")
                with autocast(device, pick_precision(device, config.bf16)):
                    logits = model(**batch, mask_draw=RandomKeyDrop.EVAL_DRAW).logits
                correct += int((logits.argmax(-1) == labels).sum())
    finally:
        if rule is not None:
            set_layer_mask(model, installed)
    if not sum(rec.valid):
        raise RuntimeError("The model scored without its layer mask (no pair recorded): was it installed?")
    return {
        "accuracy": correct / len(split),
        "share_kept": rec.share_kept,
        "share_kept_per_layer": [k / v for k, v in zip(rec.kept, rec.valid)],
    }


def finetune(
    config: FinetuneConfig, condition: str, seed: int, data: FinetuneData, *, model_dir=None, progress=None
):
    """Fine-tune with one condition's layer mask and seed; score it.

    Returns:
        ``(model, record)``; record: ``condition, seed, rule, test_accuracy, share_kept,
        share_kept_per_layer, test_accuracy_full_attention, epoch_seconds, steps, train_loss``
        and, for the baseline, ``test_time_only`` ``{condition: {accuracy, share_kept}}``.
    """
    device = pick_device(config.device)
    rule = build_rule(condition, seed)
    key_keep = condition if condition in data.train.keep else None
    model = build_classifier(config, rule, seed=seed, model_dir=model_dir).to(device)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    scorer = [p for n, p in named if "dma_scorer" in n]  # a learned mask's new weights: own rate
    groups = [{"params": [p for n, p in named if "dma_scorer" not in n]}]
    if scorer:
        groups.append({"params": scorer, "lr": config.scorer_lr})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=0.01)
    per_epoch = -(-len(data.train) // config.batch_size)
    steps = config.epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_warmup_decay(steps, max(1, round(steps * config.warmup)))
    )
    precision = pick_precision(device, config.bf16)  # "bf16" | "fp16+GradScaler" | "fp32"
    scaler = grad_scaler(device, precision)
    generator = torch.Generator().manual_seed(seed)
    epoch_seconds, losses, step = [], [], 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed + 104_729)  # this run's dropout stream
        for _epoch in range(config.epochs):
            model.train()
            start = time.perf_counter()
            for rows in data.train.train_order(config.batch_size, generator):
                batch = _to(data.train.batch(rows, data.pad_id, key_keep), device)
                labels = batch.pop("labels")
                with autocast(device, precision):
                    logits = model(**batch, mask_draw=step).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
                backward_and_step(loss, optimizer, params, 1.0, scaler)
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                losses.append(float(loss.detach()))
                step += 1
                if progress is not None:
                    progress(step, steps)
            epoch_seconds.append(time.perf_counter() - start)
    scored = evaluate(model, data.test, config, data.pad_id, condition=condition)
    record = {
        "condition": condition,
        "seed": seed,
        "rule": rule.name,
        "test_accuracy": scored["accuracy"],
        "share_kept": scored["share_kept"],
        "share_kept_per_layer": scored["share_kept_per_layer"],
        "test_accuracy_full_attention": evaluate(model, data.test, config, data.pad_id, rule=FullAttention())[
            "accuracy"
        ],
        "epoch_seconds": epoch_seconds,
        "steps": steps,
        "train_loss_last_epoch": sum(losses[-per_epoch:]) / len(losses[-per_epoch:]),
        "precision": precision,
    }
    if condition == "full":
        record["test_time_only"] = {
            name: {
                k: v
                for k, v in evaluate(
                    model, data.test, config, data.pad_id, condition=name, rule=c.build(seed)
                ).items()
                if k != "share_kept_per_layer"
            }
            for name, c in CONDITIONS.items()
            if name != "full" and c.test_time_only
        }
    return model, record
