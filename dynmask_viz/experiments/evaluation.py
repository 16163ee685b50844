"""What a pretraining run measures after each epoch, and the record it writes."""

from __future__ import annotations

import torch

from .._device import autocast
from .model import SparseMLM, count_parameters
from .results import SCHEMA, provenance


@torch.no_grad()
def masked_loss(
    model: SparseMLM,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    precision: str = "fp32",
) -> tuple[float, float]:
    """Mean loss and accuracy over the labelled positions of ``[N, L]`` masked sequences.

    Args:
        precision: The run's precision (:func:`~dynmask_viz._device.pick_precision`).
    """
    device = input_ids.device
    was_training = model.training
    model.eval()
    loss, correct, count = 0.0, 0, 0
    for i in range(0, len(input_ids), batch_size):
        with autocast(device, precision):
            s, c, n = model(input_ids[i : i + batch_size], labels[i : i + batch_size])
        loss, correct, count = loss + float(s), correct + int(c), count + int(n)
    model.train(was_training)
    return loss / max(count, 1), correct / max(count, 1)


def evaluate_epoch(
    model, config, masking, data, train_ids, gap_ids, fresh, val_batch, state, epoch, step, precision
) -> dict:
    """Validation loss/accuracy on the fixed masks and the memorization gap, after ``epoch``."""
    bs = 2 * config.optim.batch_size
    previous = state["epochs"][-1]["step"] if state["epochs"] else 0
    since = state["steps"]["loss"][previous:step]  # this epoch's step losses
    val_loss, val_acc = masked_loss(
        model, val_batch.input_ids, val_batch.labels, batch_size=bs, precision=precision
    )
    trained = masking(train_ids[gap_ids], data.vocab, epoch=epoch, example_ids=gap_ids)
    trained_loss, _ = masked_loss(
        model, trained.input_ids, trained.labels, batch_size=bs, precision=precision
    )
    fresh_loss, _ = masked_loss(model, fresh.input_ids, fresh.labels, batch_size=bs, precision=precision)
    return {
        "epoch": epoch,
        "step": step,
        "mask_epoch": int(masking.mask_epoch(epoch)),
        "train_loss": sum(since) / max(len(since), 1),
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        "trained_mask_loss": trained_loss,
        "fresh_mask_loss": fresh_loss,
        "memorization_gap": fresh_loss - trained_loss,
        "wall_s": float(state["wall_s"]),
    }


def run_record(
    config, data, mlm, state, device, world_size, *, status: str, runtime: dict | None = None
) -> dict:
    """The run's ``results.json`` record.

    Args:
        runtime: :func:`~dynmask_viz.experiments.folder.runtime_of` of the run (device type,
            ranks, ``precision``), kept as the record's ``"runtime"``; its precision is also
            in the provenance.
    """
    final = state["epochs"][-1] if state["epochs"] else {}
    return {
        "schema": SCHEMA,
        "status": status,
        "condition": config.condition,
        "seed": config.seed,
        "config": config.to_dict(),
        "data": {k: v for k, v in data.meta.items() if not k.endswith("_titles") and k != "cache_path"}
        | {
            "seq_len": config.seq_len,
            "tokens_per_epoch": (len(data.train) // config.optim.batch_size)
            * config.optim.batch_size
            * config.seq_len,
        },
        "model": count_parameters(mlm),
        "epochs": state["epochs"],
        "steps": state["steps"],
        "final": {
            k: final[k]
            for k in ("val_loss", "val_accuracy", "memorization_gap", "trained_mask_loss", "fresh_mask_loss")
        }
        if final
        else {},
        "provenance": provenance(device, state["wall_s"], world_size)
        | ({"precision": runtime["precision"]} if runtime else {}),
    } | ({"runtime": dict(runtime)} if runtime else {})
