"""Our pretraining loop: masking on the device, keyed data order, exact resume, DDP-ready.

Every random choice is a pure function of a key, so a run restarted from a checkpoint, or
split over any number of ranks, sees the same batches with the same masks:

* data order: epoch ``e`` visits the sequences in ``randperm`` of a generator seeded with
  ``(seed, e)``; step ``s`` takes positions ``[s*B, (s+1)*B)`` of it (the last partial batch
  is dropped) and rank ``r`` of ``W`` takes every ``W``-th of those;
* masks: ``masking(input_ids, epoch=e, example_ids=ids)`` is keyed on (seed, sequence index,
  ``masking.mask_epoch(e)``) — ``e % dupe_factor`` for static, ``e`` for dynamic;
* dropout: the only consumer of the global RNG, forked for the run and saved in checkpoints.

A resume is exact or refused: checkpoints are written whole or not at all and verified
before they are loaded (:mod:`.checkpoint`), and only the run that wrote them (same
fingerprint, :mod:`.fingerprint`; same device type and number of ranks) may continue them.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch

from .._device import autocast, backward_and_step, grad_scaler, pick_device
from ..masking import make_masking, mask_batch
from .checkpoint import (
    CheckpointError,
    clean_leftovers,
    discard_run,
    load_optimizer_file,
    read_state,
    run_lock,
    save_checkpoint,
)
from .config import ExperimentConfig
from .data import PretrainingData, load_pretraining_data
from .evaluation import evaluate_epoch, run_record
from .fingerprint import run_fingerprint
from .folder import finished_record, resumable_checkpoint, runtime_of
from .model import SparseMLM, build_mlm, load_weights, save_weights
from .results import write_csv, write_json
from .schedule import linear_warmup_decay
from .threads import run_threads


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """``[n]`` int64 order of the sequences in ``epoch``: a function of ``(seed, epoch)`` only."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def step_example_ids(
    perm: torch.Tensor, step_in_epoch: int, batch_size: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """``[~B/W]`` example ids of one rank's share of a global batch (same union for any ``W``)."""
    return perm[step_in_epoch * batch_size : (step_in_epoch + 1) * batch_size][rank::world_size]


def _load_checkpoint(folder: Path, mlm, optimizer, scheduler, device, scaler=None) -> dict:
    """Load a verified checkpoint folder into the model, optimizer, scheduler, gradient scaler
    (fp16 runs) and RNGs; its state."""
    state = read_state(folder)
    try:
        load_weights(mlm, folder / "model.safetensors")
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(
            f"{folder / 'model.safetensors'} does not fit this model ({type(exc).__name__}: {exc}); "
            f"delete {folder} to restart training from step 0."
        ) from None
    saved = load_optimizer_file(folder, device)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    if scaler is not None:
        if "scaler" not in saved:  # the runtime check makes this unreachable for our checkpoints
            raise CheckpointError(
                f"{folder / 'optimizer.pt'} holds no gradient scaler state, which an fp16 run needs "
                f"to continue exactly; delete {folder} to restart training from step 0."
            )
        scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"]["cpu"])
    if "cuda" in saved["rng"] and device.type == "cuda":
        torch.cuda.set_rng_state(saved["rng"]["cuda"], device)
    return state


def _save(out_dir: Path, mlm, optimizer, scheduler, state: dict, device, meta: dict, scaler=None) -> None:
    rng = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    payload = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng}
    if scaler is not None:  # its loss scale and growth tracker: a resumed fp16 run continues them
        payload["scaler"] = scaler.state_dict()
    writers = {
        "model.safetensors": lambda path: save_weights(mlm, path),
        "optimizer.pt": lambda path: torch.save(payload, path),
    }
    save_checkpoint(out_dir, writers, state, dict(meta, step=state["step"]))


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
    threads: int | str = "auto",
) -> dict:
    """Pretrain one model; write ``results.json``, ``curves.csv`` and ``checkpoint/`` to ``out_dir``.

    Args:
        config: The run (condition, seed, sizes...).
        out_dir: Run folder. What it holds is used only if it was written by this very run
            (same fingerprint, :mod:`.fingerprint`): a finished ``results.json`` is returned
            as it is, else a checkpoint is verified (:mod:`.checkpoint`) and resumed.
        data: Pre-loaded data (else :func:`load_pretraining_data`).
        resume: True: reuse or resume what ``out_dir`` holds (see above). False: start over,
            discarding the folder's checkpoints and results first.
        stop_after_steps: Checkpoint and return after this global step, an int >= 1
            (simulates a crash or a time limit; the LR schedule still targets the full run).
            At or beyond the run's length it changes nothing.
        progress: Show a tqdm bar (rank 0).
        rank, world_size: Distributed position (``torch.distributed`` must be initialised
            when ``world_size > 1``). Only rank 0 writes, holding the folder's lock.
        threads: Intra-op threads while training: ``"auto"`` or an int >= 1 (see
            :func:`run_threads`); the caller's setting is restored after.

    Returns:
        The run record (also written as ``results.json`` once training is complete; its
        ``status`` is ``"stopped"`` for a run cut by ``stop_after_steps``).

    Raises:
        RunMismatchError: The folder's results or checkpoint belong to another config
            (the message lists the differing fields and how to start fresh).
        CheckpointError: The checkpoint is damaged, incomplete or of an older format.
        ValueError: ``stop_after_steps`` is not an int >= 1, or ``results.json`` is damaged.
    """
    if stop_after_steps is not None and (
        isinstance(stop_after_steps, bool) or not isinstance(stop_after_steps, int) or stop_after_steps < 1
    ):
        raise ValueError(
            f"stop_after_steps must be an int >= 1 (the global step to stop after) or None; "
            f"got {stop_after_steps!r}."
        )
    block = run_threads(config, threads)
    out_dir = Path(out_dir)
    data = data or load_pretraining_data(config)
    with run_lock(out_dir) if rank == 0 else contextlib.nullcontext(), block:
        if rank == 0:
            clean_leftovers(out_dir)
            if not resume:
                discard_run(out_dir)
        if resume:
            finished = finished_record(out_dir, config, data.meta)
            if finished is not None:
                return finished  # never rewritten: it may hold the probe
        return _train(config, out_dir, data, resume, stop_after_steps, progress, rank, world_size)


def _train(config, out_dir: Path, data, resume, stop_after_steps, progress, rank, world_size) -> dict:
    """The loop of :func:`train`, once the folder has been checked."""
    import torch.distributed as dist
    from tqdm.auto import tqdm

    start = time.perf_counter()
    device = pick_device(config.device)
    fingerprint = run_fingerprint(config, data.meta, probe=False)
    runtime = runtime_of(config, world_size)
    found = resumable_checkpoint(out_dir, fingerprint, runtime) if resume else None
    masking = make_masking(config.condition, config.masking, seed=config.seed, dupe_factor=config.dupe_factor)
    train_ids = data.train.to(device)
    n, B = len(train_ids), config.optim.batch_size
    per_epoch = n // B
    total = min(config.optim.epochs * per_epoch, config.optim.max_steps or math.inf)
    precision = runtime["precision"]  # "bf16" | "fp16+GradScaler" | "fp32" (see pick_precision)
    scaler = grad_scaler(device, precision)

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
        if found is not None:
            state = _load_checkpoint(found[0], mlm, optimizer, scheduler, device, scaler)
            if state["step"] != found[1].get("step") or not 0 < state["step"] <= total:
                raise CheckpointError(
                    f"{found[0] / 'state.json'} is at step {state['step']}, its manifest says "
                    f"{found[1].get('step')} and the run has {total} steps; delete {found[0]} to "
                    "restart training from step 0."
                )
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
            with autocast(device, precision):
                loss_sum, _, count = wrapped(batch.input_ids, batch.labels)
            stats = torch.stack([count.to(torch.float64), loss_sum.detach().to(torch.float64)])
            if world_size > 1:
                dist.all_reduce(stats)  # global prediction count and loss, for every rank
            # Mean over the global batch's predictions; DDP averages gradients over ranks,
            # hence the factor world_size. Identical to the single-process loss for any W.
            loss = loss_sum * world_size / stats[0].clamp(min=1)
            backward_and_step(loss, optimizer, mlm.parameters(), config.optim.grad_clip, scaler)
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
                    evaluate_epoch(
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
                        precision,
                    )
                )
            state["step"] = step
            if rank == 0 and (i == per_epoch - 1 or step == total or step == stop_after_steps):
                state["wall_s"] = base_wall + time.perf_counter() - start
                meta = {"fingerprint": fingerprint, "runtime": runtime, "config": config.to_dict()}
                _save(out_dir, mlm, optimizer, scheduler, state, device, meta, scaler)
            if step == stop_after_steps and step < total:
                break
        bar.close()
    record = run_record(
        config,
        data,
        mlm,
        state,
        device,
        world_size,
        status="complete" if step >= total else "stopped",
        runtime=runtime,
    )
    record["fingerprint"] = fingerprint
    if rank == 0 and step >= total:
        write_csv(out_dir / "curves.csv", record["epochs"])
        write_json(out_dir / "results.json", record)  # last: its presence means the run is finished
    return record
