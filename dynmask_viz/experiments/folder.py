"""What a run folder already holds, checked against the run asked for before anything is reused.

A finished ``results.json`` is reused, and a checkpoint resumed, only if its fingerprint
(:mod:`.fingerprint`) is the one of the run asked for; a checkpoint must also have been
trained on the same device type and number of ranks, or the resumed run would not be exact.
"""

from __future__ import annotations

from pathlib import Path

from .._device import pick_device, pick_precision
from .checkpoint import CheckpointError, find_checkpoint, read_manifest
from .config import ExperimentConfig
from .errors import RunFolderError
from .fingerprint import FRESH_HINT, RunMismatchError, check_fingerprint, record_fingerprint, run_fingerprint
from .results import load_run


def runtime_of(config: ExperimentConfig, world_size: int = 1) -> dict:
    """What, besides the config, a resumed run must share with its checkpoint to be exact.

    Returns:
        ``{"device_type": "cpu" | "cuda" | ..., "world_size": int, "precision": "bf16" |
        "fp16+GradScaler" | "fp32"}``: the precision really used (``config.bf16`` asks for
        mixed precision on CUDA; :func:`~dynmask_viz._device.pick_precision` chooses it).
    """
    device = pick_device(config.device)
    return {
        "device_type": device.type,
        "world_size": int(world_size),
        "precision": pick_precision(device, config.bf16),
    }


# Checkpoints written before the runtime recorded the precision ran bf16 on CUDA when
# config.bf16 (which the fingerprint holds) and fp32 otherwise: exactly what pick_precision
# chooses now, except "fp16+GradScaler", which did not exist.
_LEGACY_RUNTIME = {"precision": ("bf16", "fp32")}


def finished_record(out_dir: Path, config: ExperimentConfig, data_meta: dict) -> dict | None:
    """The folder's complete ``results.json`` if it was written by this run, else None if absent.

    Raises:
        RunMismatchError: It was written by another config (the message lists the fields).
        ValueError: It is damaged (the message names it and says what to do).
    """
    path = out_dir / "results.json"
    if not path.is_file():
        return None
    record = load_run(path)
    try:
        stored = record_fingerprint(record)
    except (ValueError, TypeError) as exc:
        raise RunFolderError(f"{path}: its config cannot be read ({exc}); delete it. {FRESH_HINT}") from None
    current = run_fingerprint(config, data_meta, probe=record.get("probe") is not None)
    check_fingerprint(stored, current, what=str(path))
    if record["status"] != "complete":
        raise RunFolderError(
            f"{path} has status {record['status']!r}, not 'complete'; delete it. {FRESH_HINT}"
        )
    return record


def resumable_checkpoint(out_dir: Path, fingerprint: dict, runtime: dict) -> tuple[Path, dict] | None:
    """``(folder, manifest)`` of the verified checkpoint to resume, or None if there is none.

    Args:
        out_dir: The run folder.
        fingerprint: The run's training fingerprint (``run_fingerprint(..., probe=False)``).
        runtime: :func:`runtime_of` this run (device type, ranks, precision).

    Raises:
        CheckpointError: The checkpoint is damaged or of an older format.
        RunMismatchError: It belongs to another config, or was trained on another device type,
            number of ranks or precision (resuming there would not continue the same numbers).
    """
    folder = find_checkpoint(out_dir)
    if folder is None:
        return None
    manifest = read_manifest(folder)
    check_fingerprint(manifest.get("fingerprint", {}), fingerprint, what=str(folder))
    stored = dict(manifest.get("runtime", {}))
    for key, before in _LEGACY_RUNTIME.items():
        if key not in stored and runtime.get(key) in before:
            stored[key] = runtime[key]
    diff = [f"{k}: stored {stored.get(k)!r}, now {v!r}" for k, v in runtime.items() if stored.get(k) != v]
    if diff:
        raise RunMismatchError(
            f"{folder} was trained on another runtime ({'; '.join(diff)}); resuming it here would "
            "not give the numbers of an uninterrupted run (other kernels, RNG streams or "
            f"summation order). Resume it where it was trained. {FRESH_HINT}"
        )
    return folder, manifest


def folder_problems(out_dir: Path, config: ExperimentConfig, data_meta: dict) -> list[str]:
    """Why the run folder cannot be reused or resumed by this run (empty: it can, or is empty)."""
    try:
        if finished_record(out_dir, config, data_meta) is not None:
            return []
        resumable_checkpoint(out_dir, run_fingerprint(config, data_meta, probe=False), runtime_of(config))
    except (RunMismatchError, CheckpointError, ValueError) as exc:
        return [str(exc)]
    return []
