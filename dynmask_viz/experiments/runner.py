"""One run (pretrain + probe) and the static-vs-dynamic comparison over seeds."""

from __future__ import annotations

import json
from pathlib import Path

from .config import ExperimentConfig
from .data import load_pretraining_data
from .probe import run_probe
from .results import load_runs, summarize, summary_markdown, validate_run, write_json, write_text_atomic
from .train import train


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    probe: bool = True,
    data=None,
    stop_after_steps: int | None = None,
    progress: bool = True,
) -> dict:
    """Pretrain (resuming any checkpoint in ``out_dir``), then probe; returns the run record.

    A finished run (``results.json`` with a probe) is not redone. A run stopped by
    ``stop_after_steps`` is returned without probe and without ``results.json``.
    """
    out_dir = Path(out_dir)
    data = data or load_pretraining_data(config)
    record = train(config, out_dir, data=data, stop_after_steps=stop_after_steps, progress=progress)
    if record["status"] != "complete" or not probe:
        return record
    if record.get("probe") is None:
        record["probe"] = run_probe(config, data.tokenizer, out_dir / "checkpoint" / "model.safetensors")
    problems = validate_run(record)
    if problems:
        raise RuntimeError("run record does not match its schema: " + "; ".join(problems))
    write_json(out_dir / "results.json", record)
    return record


def compare(
    config: ExperimentConfig, out_dir: str | Path, *, seeds=None, baseline: bool = True, progress: bool = True
) -> dict:
    """Both conditions x seeds into ``out_dir/<condition>_seed<k>/``, then a summary.

    Writes ``summary.json`` and ``summary.md`` (and ``baseline_probe.json``: the probe with
    an untrained encoder). Completed runs found in ``out_dir`` are reused, so an interrupted
    comparison resumes where it stopped.
    """
    out_dir = Path(out_dir)
    data = load_pretraining_data(config)
    for seed in seeds if seeds is not None else config.seeds:
        for condition in ("static", "dynamic"):
            run_dir = out_dir / f"{condition}_seed{seed}"
            done = run_dir / "results.json"
            if done.is_file():
                if json.loads(done.read_text()).get("probe") is not None:
                    continue
            run_experiment(
                config.replace(condition=condition, seed=seed), run_dir, data=data, progress=progress
            )
    base = None
    if baseline:
        path = out_dir / "baseline_probe.json"
        if path.is_file():
            base = json.loads(path.read_text())
        else:
            base = run_probe(config, data.tokenizer, None)
            write_json(path, base)
    summary = summarize(load_runs(out_dir), base)
    summary["config"] = config.to_dict()
    write_json(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "summary.md", summary_markdown(summary))
    return summary
