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
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .._device import pick_device
from ..experiments.results import device_name, git_commit
from ..hf.loading import quiet_progress_bars
from .config import PRESETS, CausalLMConfig
from .data import load_causal_lm_data
from .train import build_model, evaluate, train

__all__ = ["ENGINE", "rebuild_command", "train_to_folder"]

ENGINE = 1  # bump when the training or scoring code changes what a run computes


# The config fields the command line can override (python -m dynmask_viz.causal_lm train --steps ...).
CLI_OVERRIDES = ("steps", "seed", "device")


def rebuild_command(
    preset: str, out: str | os.PathLike, threads: int | None = 1, overrides: dict | None = None
) -> str:
    """The command line that rebuilds a preset's folder.

    Args:
        preset: A name of :data:`~dynmask_viz.causal_lm.PRESETS`.
        out: The model folder.
        threads: ``--threads`` (None: left out, i.e. the command line's default, 1).
        overrides: Config fields the command line can set (``steps``, ``seed``, ``device``) and
            their values, written as ``--steps 300`` and so on.

    Raises:
        ValueError: An override the command line has no option for.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(CLI_OVERRIDES))
    if unknown:
        raise ValueError(
            f"rebuild_command(overrides) may only hold {', '.join(CLI_OVERRIDES)} (the command line's "
            f"options); got {', '.join(unknown)}. A run with other changes has no rebuild command."
        )
    parts = ["python -m dynmask_viz.causal_lm train", f"--preset {preset}", f"--out {shlex.quote(str(out))}"]
    parts += [f"--{name} {shlex.quote(str(overrides[name]))}" for name in CLI_OVERRIDES if name in overrides]
    if threads is not None:
        parts.append(f"--threads {threads}")
    return " ".join(parts)


def _rebuild(
    config: CausalLMConfig, preset: str | None, out, threads: int, own_articles: bool
) -> tuple[str | None, str | None]:
    """(the command that rebuilds this run, None) or (None, why there is none)."""
    in_python = "Rebuild it in Python: train_to_folder(CausalLMConfig(**provenance['config']), out"
    if own_articles:
        return None, (
            "the run was given its own articles (train_to_folder(articles=...)); the command line "
            f"trains on the offline Wikipedia articles. {in_python}, articles=...)."
        )
    if preset not in PRESETS:
        return None, (
            f"preset={preset!r} is not a named preset ({', '.join(sorted(PRESETS))}): the command line "
            f"cannot rebuild this config. {in_python})."
        )
    changed = {
        name: value for name, value in config.to_dict().items() if value != getattr(PRESETS[preset], name)
    }
    other = sorted(set(changed) - set(CLI_OVERRIDES))
    if other:
        return None, (
            f"the config differs from preset {preset!r} in {', '.join(other)}, which the command line "
            f"cannot set. {in_python})."
        )
    return rebuild_command(preset, out, threads, changed), None


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
        preset: The preset's name, recorded. The rebuild command is that preset, every field
            the command line can override (``--steps``, ``--seed``, ``--device``) where
            ``config`` differs from it, and the run's intra-op thread count (``--threads``). A
            run the command line cannot repeat (no named preset, other fields changed, or
            ``articles`` given) is recorded with ``rebuild_command: null`` and a
            ``rebuild_note`` saying why.
        articles: Passed to :func:`load_causal_lm_data` (default: the Wikipedia articles).
        log: Progress lines (None: silent).
        command: The command line to record as run (default: ``sys.argv``).

    Returns:
        The provenance dict written to ``out/provenance.json``.
    """
    import transformers

    out = Path(out)
    # The thread count the run trains with (set by the caller, e.g. --threads): part of rebuilding it.
    rebuild, why_not = _rebuild(config, preset, out, torch.get_num_threads(), articles is not None)
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
        "git_commit": git_commit(),
        "device": device_name(device),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": wall,
        "command": command if command is not None else " ".join(["python", *sys.argv]),
        "rebuild_command": rebuild,
    }
    if rebuild is None:
        provenance["rebuild_note"] = why_not
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
