"""One run (pretrain + probe) and the static-vs-dynamic comparison over seeds."""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import CheckpointError, clean_leftovers, find_checkpoint, read_manifest, run_lock
from .config import ExperimentConfig
from .data import load_pretraining_data
from .errors import RunFolderError
from .fingerprint import (
    FRESH_HINT,
    RunMismatchError,
    baseline_fingerprint,
    check_fingerprint,
    run_fingerprint,
)
from .folder import folder_problems
from .probe import run_probe
from .results import summarize, summary_markdown, validate_run, write_json, write_text_atomic
from .threads import run_threads
from .train import train


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    probe: bool = True,
    data=None,
    stop_after_steps: int | None = None,
    progress: bool = True,
    fresh: bool = False,
    threads: int | str = "auto",
) -> dict:
    """Pretrain (resuming any checkpoint in ``out_dir``), then probe; returns the run record.

    A finished run (``results.json`` with a probe) is returned as it is: neither training nor
    the probe is redone, and the file is not rewritten. A finished run without a probe gets
    one, and ``results.json`` is rewritten once, with it. A run stopped by
    ``stop_after_steps`` is returned without probe and without ``results.json``. What the
    folder holds is used only if it was written with this config (see :func:`train`).

    Args:
        fresh: Discard the folder's checkpoints and results first and start over.
        threads: Intra-op threads for training and probe, ``"auto"`` (one thread for the small
            CPU presets) or an int >= 1; see :func:`.threads.run_threads`. Restored after.

    Raises:
        RunMismatchError: The folder holds a run of another config (the message lists the
            differing fields and how to start fresh).
        CheckpointError: Its checkpoint is damaged, or gone while the probe still needs it.
    """
    block = run_threads(config, threads)
    out_dir = Path(out_dir)
    data = data or load_pretraining_data(config)
    with run_lock(out_dir), block:
        record = train(
            config,
            out_dir,
            data=data,
            resume=not fresh,
            stop_after_steps=stop_after_steps,
            progress=progress,
            threads=threads,
        )
        if record["status"] != "complete" or not probe or record.get("probe") is not None:
            return record
        folder = find_checkpoint(out_dir)
        if folder is None:
            raise CheckpointError(
                f"{out_dir / 'results.json'} has no probe and the run's weights (checkpoint/) are "
                f"gone, so it cannot be probed. {FRESH_HINT}"
            )
        manifest = read_manifest(folder)  # verified: the probe must read the final weights
        if manifest.get("step") != record["steps"]["step"][-1]:
            raise CheckpointError(
                f"{folder} holds step {manifest.get('step')}, not the final step "
                f"{record['steps']['step'][-1]} of {out_dir / 'results.json'}. {FRESH_HINT}"
            )
        record["probe"] = run_probe(config, data.tokenizer, folder / "model.safetensors")
        record["fingerprint"] = run_fingerprint(config, data.meta, probe=True)
        problems = validate_run(record)
        if problems:
            raise RuntimeError("run record does not match its schema: " + "; ".join(problems))
        write_json(out_dir / "results.json", record)
    return record


def _stored_baseline(config: ExperimentConfig, data, path: Path) -> dict | None:
    """The baseline probe in ``path`` if it was computed for this config, None if absent.

    Raises:
        RunMismatchError: It was computed for another config, or has no fingerprint.
        ValueError: It is damaged.
    """
    if not path.is_file():
        return None
    try:
        base = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is damaged ({exc}); delete it to recompute the baseline.") from None
    if not isinstance(base, dict) or "fingerprint" not in base:
        raise RunMismatchError(
            f"{path} has no fingerprint (written by an older version), so it cannot be checked "
            "against this config; delete it to recompute the baseline (the runs are kept)."
        )
    check_fingerprint(base["fingerprint"], baseline_fingerprint(config, data.meta), what=str(path))
    return base


def _baseline(config: ExperimentConfig, data, path: Path, fresh: bool) -> dict:
    """The probe of an untrained encoder, reused from ``path`` only if its fingerprint matches."""
    base = None if fresh else _stored_baseline(config, data, path)
    if base is None:
        fingerprint = baseline_fingerprint(config, data.meta)
        base = dict(run_probe(config, data.tokenizer, None), fingerprint=fingerprint)
        write_json(path, base)
    return base


def compare(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    seeds=None,
    probe: bool = True,
    baseline: bool = True,
    progress: bool = True,
    fresh: bool = False,
    threads: int | str = "auto",
) -> dict:
    """Both conditions x seeds into ``out_dir/<condition>_seed<k>/``, then a summary.

    Writes ``summary.json`` and ``summary.md`` (and ``baseline_probe.json``: the probe with
    an untrained encoder). Runs found in ``out_dir`` are reused (finished) or resumed
    (checkpointed), so an interrupted comparison resumes where it stopped; but only if they
    were written with this config: every folder is checked before anything is trained, and
    any mismatch is refused with the folders and fields at fault. The summary covers exactly
    the runs asked for, never other folders lying in ``out_dir``.

    Args:
        probe: Fine-tune the probe on each pretrained model (False: pretraining only, the
            summary has no probe column and no baseline is computed).
        baseline: Also probe an untrained encoder (only when ``probe``).
        fresh: Discard every run folder's checkpoints and results (and the baseline) first.
        threads: Intra-op threads, as in :func:`run_experiment`.
    """
    block = run_threads(config, threads)
    out_dir = Path(out_dir)
    baseline = baseline and probe
    data = load_pretraining_data(config)
    with run_lock(out_dir), block:  # one compare per folder; its summary and baseline written whole
        clean_leftovers(out_dir)
        return _compare(config, out_dir, data, seeds, probe, baseline, progress, fresh, threads)


def _compare(config, out_dir: Path, data, seeds, probe, baseline: bool, progress, fresh, threads) -> dict:
    plan = [
        (config.replace(condition=condition, seed=seed), out_dir / f"{condition}_seed{seed}")
        for seed in (seeds if seeds is not None else config.seeds)
        for condition in ("static", "dynamic")
    ]
    if not fresh:
        problems = [p for cfg, run_dir in plan for p in folder_problems(run_dir, cfg, data.meta)]
        if baseline:
            try:
                _stored_baseline(config, data, out_dir / "baseline_probe.json")
            except ValueError as exc:  # RunMismatchError included
                problems.append(str(exc))
        if problems:
            raise RunMismatchError(
                f"compare into {out_dir} refused, nothing was trained:\n\n" + "\n\n".join(problems)
            )
    runs = [
        run_experiment(cfg, run_dir, probe=probe, data=data, progress=progress, fresh=fresh, threads=threads)
        for cfg, run_dir in plan
    ]
    base = _baseline(config, data, out_dir / "baseline_probe.json", fresh) if baseline else None
    summary = summarize(runs, base)
    summary["config"] = config.to_dict()
    write_json(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "summary.md", summary_markdown(summary))
    return summary
