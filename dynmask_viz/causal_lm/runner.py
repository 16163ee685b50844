"""One training run into a model folder: train, score, write it atomically with its provenance.

The folder is what :func:`dynmask_viz.hf.load_causal_lm` loads: ``model.safetensors``,
``config.json``, ``generation_config.json``, ``tokenizer.json`` and
``tokenizer_config.json``, and ``provenance.json`` (data, config, commit, device, versions, wall
time, metrics and the command that rebuilds it). Everything is written into a temporary folder
next to the target and renamed into place at the end, so a killed run leaves the previous model
whole (and a half-written folder is never loaded).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .._device import pick_device
from ..hf.loading import quiet_progress_bars
from .config import CausalLMConfig
from .data import load_causal_lm_data
from .train import build_model, evaluate, train

__all__ = ["ENGINE", "rebuild_command", "train_to_folder"]

ENGINE = 1  # bump when the training or scoring code changes what a run computes


def rebuild_command(preset: str, out: str | os.PathLike, threads: int | None = 1) -> str:
    """The command line that rebuilds a preset's folder."""
    extra = f" --threads {threads}" if threads is not None else ""
    return f"python -m dynmask_viz.causal_lm train --preset {preset} --out {out}{extra}"


def _git_commit() -> str:
    """Short commit of the package's checkout (``-dirty`` if modified), or ``"unknown"``."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} intra-op threads, {platform.processor() or platform.machine()})"


def train_to_folder(
    config: CausalLMConfig,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    articles: list | None = None,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict:
    """Train a model of ``config``, score it and write the folder ``out`` (replaced atomically).

    Args:
        config: The run's settings.
        out: The model folder to write (its parent is created).
        preset: The preset's name, recorded (and used in the rebuild command).
        articles: Passed to :func:`load_causal_lm_data` (default: the Wikipedia articles).
        log: Progress lines (None: silent).
        command: The command line to record as run (default: ``sys.argv``).

    Returns:
        The provenance dict written to ``out/provenance.json``.
    """
    import transformers

    out = Path(out)
    device = pick_device(config.device)
    start = time.perf_counter()
    data = load_causal_lm_data(config, articles)
    model = build_model(config, data.tokenizer)
    history = train(model, data, config, device=device, log=log)
    metrics = evaluate(model, data, config, device=device)
    model.to("cpu").set_attn_implementation("eager")  # the loaded model must show attention
    wall = time.perf_counter() - start
    provenance = {
        "what": "a small GPT-2 causal LM trained on the offline Wikipedia articles (dynmask_viz.causal_lm)",
        "preset": preset,
        "config": config.to_dict(),
        "engine": ENGINE,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {k: v for k, v in data.meta.items() if not k.endswith("_titles")}
        | {"validation_titles": data.meta["validation_titles"]},
        "metrics": metrics,
        "training": history,
        "git_commit": _git_commit(),
        "device": _device_name(device),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": wall,
        "command": command if command is not None else " ".join(["python", *sys.argv]),
        "rebuild_command": rebuild_command(preset or "tiny", out),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with quiet_progress_bars():
            model.save_pretrained(tmp, safe_serialization=True)
        data.tokenizer.save_pretrained(tmp)
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        for path in tmp.iterdir():
            path.chmod(0o644)  # safetensors writes its file private (0600); these are shared files
        old = out.parent / f".{out.name}.{os.getpid()}.old"
        if out.exists():
            os.replace(out, old)  # rename, not delete: a crash right here leaves the old folder
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return provenance
