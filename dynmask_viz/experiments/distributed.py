"""Multi-process training (DDP) as launched by ``torchrun``: one process per GPU (or CPU, gloo).

Each rank takes a deterministic share of every global batch (see :func:`train.step_example_ids`)
and masks are keyed by example id, so the union of what the ranks see is exactly what one
process sees; only the summation order of gradients differs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist

from .checkpoint import discard_run, run_lock
from .config import ExperimentConfig
from .train import train


def run_distributed(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    stop_after_steps: int | None = None,
    progress: bool = True,
    probe: bool = True,
    fresh: bool = False,
) -> dict | None:
    """Train under ``torchrun`` (reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); rank 0 probes.

    ``fresh``: rank 0 discards the folder's checkpoints and results before any rank looks at
    the folder (see :func:`~dynmask_viz.experiments.run_experiment`).

    Returns:
        The run record on rank 0, None on the other ranks.
    """
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available() and config.device in ("auto", "cuda"):
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        config = config.replace(device=f"cuda:{local}")
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend)
    try:
        if fresh and rank == 0:
            with run_lock(out_dir):
                discard_run(Path(out_dir))
        dist.barrier()  # no rank reads the folder before it is cleared
        record = train(
            config,
            out_dir,
            resume=True,
            stop_after_steps=stop_after_steps,
            progress=progress,
            rank=rank,
            world_size=world,
        )
        dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return None
    if probe and record["status"] == "complete":
        from .runner import run_experiment

        return run_experiment(config, out_dir, probe=True, progress=False)  # reuses the finished training
    return record
