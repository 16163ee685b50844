"""Our pretraining loop: masking on the device, keyed data order, exact resume, DDP-ready.

Every random choice is a pure function of a key, so a run restarted from a checkpoint, or
split over any number of ranks, sees the same batches with the same masks:

* data order: epoch ``e`` visits the sequences in ``randperm`` of a generator seeded with
  ``(seed, e)``; step ``s`` takes positions ``[s*B, (s+1)*B)`` of it (the last partial batch
  is dropped) and rank ``r`` of ``W`` takes every ``W``-th of those;
* masks: ``masking(input_ids, epoch=e, example_ids=ids)`` is keyed on (seed, sequence index,
  ``masking.mask_epoch(e)``) — ``e % dupe_factor`` for static, ``e`` for dynamic;
* dropout: the only consumer of the global RNG, forked for the run and saved in checkpoints.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from .._device import pick_device
from ..masking import make_masking, mask_batch
from .config import ExperimentConfig
from .data import PretrainingData, load_pretraining_data
from .model import SparseMLM, build_mlm, count_parameters, load_weights, save_weights
from .results import SCHEMA, provenance, write_csv, write_json
from .schedule import linear_warmup_decay


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """``[n]`` int64 order of the sequences in ``epoch``: a function of ``(seed, epoch)`` only."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def step_example_ids(
    perm: torch.Tensor, step_in_epoch: int, batch_size: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """``[~B/W]`` example ids of one rank's share of a global batch (same union for any ``W``)."""
    return perm[step_in_epoch * batch_size : (step_in_epoch + 1) * batch_size][rank::world_size]


@torch.no_grad()
def masked_loss(
    model: SparseMLM, input_ids: torch.Tensor, labels: torch.Tensor, *, batch_size: int, autocast: bool
) -> tuple[float, float]:
    """Mean loss and accuracy over the labelled positions of ``[N, L]`` masked sequences."""
    was_training = model.training
    model.eval()
    loss, correct, count = 0.0, 0, 0
    for i in range(0, len(input_ids), batch_size):
        with torch.autocast("cuda", torch.bfloat16, enabled=autocast):
            s, c, n = model(input_ids[i : i + batch_size], labels[i : i + batch_size])
        loss, correct, count = loss + float(s), correct + int(c), count + int(n)
    model.train(was_training)
    return loss / max(count, 1), correct / max(count, 1)


def _save_checkpoint(folder: Path, mlm, optimizer, scheduler, state: dict, device) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(mlm, folder / "model.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
        folder / ".optim.tmp",
    )
    (folder / ".optim.tmp").replace(folder / "optimizer.pt")
    write_json(folder / "state.json", state)  # written last: it marks the checkpoint complete


def train(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    data: PretrainingData | None = None,
    resume: bool = True,
    stop_after_steps: int | None = None,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> dict:
    """Pretrain one model; write ``results.json``, ``curves.csv`` and ``checkpoint/`` to ``out_dir``.

    Args:
        config: The run (condition, seed, sizes...).
        out_dir: Run folder; an existing complete checkpoint there is resumed (``resume``).
        data: Pre-loaded data (else :func:`load_pretraining_data`).
        resume: Continue from ``out_dir/checkpoint`` if present.
        stop_after_steps: Checkpoint and return after this global step (simulates a crash
            or a time limit; the LR schedule still targets the full run).
        progress: Show a tqdm bar (rank 0).
        rank, world_size: Distributed position (``torch.distributed`` must be initialised
            when ``world_size > 1``).

    Returns:
        The run record (also written as ``results.json`` once training is complete; its
        ``status`` is ``"stopped"`` for a run cut by ``stop_after_steps``).
    """
    import torch.distributed as dist
    from tqdm.auto import tqdm

    start = time.perf_counter()
    out_dir, device = Path(out_dir), pick_device(config.device)
    ckpt = out_dir / "checkpoint"
    data = data or load_pretraining_data(config)
    masking = make_masking(config.condition, config.masking, seed=config.seed, dupe_factor=config.dupe_factor)
    train_ids = data.train.to(device)
    n, B = len(train_ids), config.optim.batch_size
    per_epoch = n // B
    total = min(config.optim.epochs * per_epoch, config.optim.max_steps or math.inf)
    autocast = config.bf16 and device.type == "cuda"

    mlm = build_mlm(
        config, len(data.tokenizer), seed=config.seed, pad_token_id=data.tokenizer.pad_token_id
    ).to(device)
    encoder = torch.compile(mlm.bert) if config.compile else None
    model = SparseMLM(mlm, encoder)
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    decay = [p for name, p in mlm.named_parameters() if p.dim() >= 2]
    no_decay = [p for name, p in mlm.named_parameters() if p.dim() < 2]  # biases, LayerNorm
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.optim.lr,
        betas=config.optim.betas,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_warmup_decay(total, max(1, round(config.optim.warmup_fraction * total)))
    )

    # Fixed evaluation masks: one mask per validation sequence, the same for every run/epoch.
    val = data.validation[: config.eval_sequences].to(device)
    val_batch = mask_batch(
        val,
        data.vocab,
        config.masking,
        seed=config.eval_mask_seed,
        example_ids=torch.arange(len(val), device=device),
        mask_epoch=0,
    )
    gap_ids = torch.arange(min(config.gap_sequences, n), device=device)
    fresh = mask_batch(
        train_ids[gap_ids],
        data.vocab,
        config.masking,
        seed=config.seed,
        example_ids=gap_ids,
        mask_epoch=config.fresh_mask_epoch,
    )

    state = {"step": 0, "epochs": [], "steps": {"step": [], "loss": [], "lr": []}, "wall_s": 0.0}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed + 7_919)  # dropout stream, distinct from the init seed
        if resume and (ckpt / "state.json").is_file():
            state = json.loads((ckpt / "state.json").read_text())
            load_weights(mlm, ckpt / "model.safetensors")
            saved = torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=True)
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng"]["cpu"])
            if "cuda" in saved["rng"] and device.type == "cuda":
                torch.cuda.set_rng_state(saved["rng"]["cuda"], device)
        step, perm, base_wall = state["step"], None, state["wall_s"]
        bar = tqdm(
            total=total,
            initial=step,
            disable=not progress or rank != 0,
            desc=f"{config.condition} seed {config.seed}",
        )
        wrapped.train()
        while step < total:
            epoch, i = divmod(step, per_epoch)
            if perm is None or i == 0:
                perm = epoch_permutation(config.seed, epoch, n)
            ids = step_example_ids(perm, i, B, rank, world_size).to(device)
            batch = masking(train_ids[ids], data.vocab, epoch=epoch, example_ids=ids)
            with torch.autocast("cuda", torch.bfloat16, enabled=autocast):
                loss_sum, _, count = wrapped(batch.input_ids, batch.labels)
            stats = torch.stack([count.to(torch.float64), loss_sum.detach().to(torch.float64)])
            if world_size > 1:
                dist.all_reduce(stats)  # global prediction count and loss, for every rank
            # Mean over the global batch's predictions; DDP averages gradients over ranks,
            # hence the factor world_size. Identical to the single-process loss for any W.
            (loss_sum * world_size / stats[0].clamp(min=1)).backward()
            torch.nn.utils.clip_grad_norm_(mlm.parameters(), config.optim.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            mean_loss = float(stats[1] / stats[0].clamp(min=1))
            state["steps"]["step"].append(step)
            state["steps"]["loss"].append(mean_loss)
            state["steps"]["lr"].append(lr)
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.3f}", epoch=epoch)
            if i == per_epoch - 1 or step == total:  # end of an epoch (or of the run)
                state["wall_s"] = base_wall + time.perf_counter() - start
                state["epochs"].append(
                    _evaluate(
                        model,
                        config,
                        masking,
                        data,
                        train_ids,
                        gap_ids,
                        fresh,
                        val_batch,
                        state,
                        epoch,
                        step,
                        autocast,
                    )
                )
            state["step"] = step
            if rank == 0 and (i == per_epoch - 1 or step == total or step == stop_after_steps):
                state["wall_s"] = base_wall + time.perf_counter() - start
                _save_checkpoint(ckpt, mlm, optimizer, scheduler, state, device)
            if step == stop_after_steps and step < total:
                break
        bar.close()
    record = _record(
        config, data, mlm, state, device, world_size, status="complete" if step >= total else "stopped"
    )
    if rank == 0 and step >= total:
        write_json(out_dir / "results.json", record)
        write_csv(out_dir / "curves.csv", record["epochs"])
    return record


def _evaluate(
    model, config, masking, data, train_ids, gap_ids, fresh, val_batch, state, epoch, step, autocast
) -> dict:
    """Validation loss/accuracy on the fixed masks and the memorization gap, after ``epoch``."""
    bs = 2 * config.optim.batch_size
    previous = state["epochs"][-1]["step"] if state["epochs"] else 0
    since = state["steps"]["loss"][previous:step]  # this epoch's step losses
    val_loss, val_acc = masked_loss(
        model, val_batch.input_ids, val_batch.labels, batch_size=bs, autocast=autocast
    )
    trained = masking(train_ids[gap_ids], data.vocab, epoch=epoch, example_ids=gap_ids)
    trained_loss, _ = masked_loss(model, trained.input_ids, trained.labels, batch_size=bs, autocast=autocast)
    fresh_loss, _ = masked_loss(model, fresh.input_ids, fresh.labels, batch_size=bs, autocast=autocast)
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


def _record(config, data, mlm, state, device, world_size, *, status: str) -> dict:
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
        "provenance": provenance(device, state["wall_s"], world_size),
    }
