"""The dose-response sweep: static masking with k distinct masks per sequence, and dynamic, paired seeds.

RoBERTa's static baseline saw each of its ``dupe_factor = 10`` masks 4 times in 40 epochs; the
dynamic one a new mask every epoch. The sweep asks how much memorisation of *the masks* each
k buys: static with k in e.g. {1, 2, 5, 10} and dynamic, for the same seeds. Run ``seed`` of
every condition shares the initial weights, the data order and the fixed validation masks, and
static with k masks draws the very masks dynamic draws in epochs 0..k-1 (mask index
``epoch % k`` against ``epoch``): the curves coincide for the first k epochs by construction
(bit for bit on a CPU), a control built into every figure.

Each run: :func:`run_experiment` without the fine-tuning probe, then the frozen-encoder
:func:`~.linear_probe.linear_probe`; then one JSON line is appended to ``out_dir/runs.jsonl``
at once (so a sweep cut by a time limit keeps every finished run) and the run's checkpoints
are deleted (``results.json`` and ``curves.csv`` stay; no weights are kept). ``summary.json``
and ``summary.md`` are written from the lines (:mod:`.sweep_stats`), with the unigram baseline
and the linear probe of an untrained encoder. A sweep started again in the same folder with the
same config skips the runs its lines hold and resumes a cut run from its checkpoint.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from .._device import pick_device
from .._threads import intra_op_threads
from .baselines import unigram_baseline
from .checkpoint import find_checkpoint, read_manifest, run_lock
from .config import ExperimentConfig
from .data import load_pretraining_data, probe_splits
from .errors import RunFolderError
from .fingerprint import RunMismatchError, baseline_fingerprint, run_fingerprint
from .linear_probe import linear_probe
from .results import provenance, write_json
from .runner import run_experiment
from .sweep_files import (
    BASELINES,
    LINES,
    append_line,
    drop_checkpoints,
    load_sweep_lines,
    write_sweep_summary,
)
from .sweep_stats import condition_name

__all__ = ["load_sweep_lines", "sweep", "write_sweep_summary"]

CURVE_KEYS = ("train_loss", "val_loss", "val_accuracy", "memorization_gap")
_CACHE: dict = {}  # per process: data and probe splits, loaded once for all the runs it does


def _check_ints(name: str, values, low: int) -> tuple[int, ...]:
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of ints >= {low}; got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} holds a value twice: {values!r}; list each once.")
    return values


def plan_runs(
    config: ExperimentConfig, dupe_factors, seeds
) -> list[tuple[str, ExperimentConfig, int | None]]:
    """``(run name, config, k or None)`` of every run, seed by seed (dynamic first, then static by k).

    Seed-major order: a sweep cut by its time budget leaves whole seeds, every pair complete.
    """
    runs = []
    for seed in seeds:
        base = config.replace(seed=seed, compile=False)
        runs.append((f"dynamic_seed{seed}", base.replace(condition="dynamic"), None))
        runs += [
            (f"static_k{k}_seed{seed}", base.replace(condition="static", dupe_factor=k), k)
            for k in sorted(dupe_factors)
        ]
    return runs


def _data(config: ExperimentConfig):
    key = json.dumps(config.replace(condition="dynamic", seed=0, dupe_factor=1).to_dict(), sort_keys=True)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = (load_pretraining_data(config), probe_splits(config.probe.split_seed))
    return _CACHE[key]


def _precision(record: dict, config: ExperimentConfig) -> str:
    """The recorded precision, else the one the training loop uses (bf16 autocast only on CUDA)."""
    recorded = record.get("precision") or record["provenance"].get("precision")
    if recorded:
        return str(recorded)
    cuda = record["provenance"]["device"].startswith("cuda")
    return "bf16" if config.bf16 and cuda else "fp32"


def run_one(task: dict) -> dict:
    """Train one run, probe it, append its line, delete its checkpoints; returns the line.

    ``task`` is picklable (it crosses to a worker process): ``{"config": dict, "out_dir",
    "name", "dupe_factor", "threads", "fingerprint"}``.
    """
    start = time.perf_counter()
    config = ExperimentConfig.from_dict(task["config"])
    out_dir, run_dir = Path(task["out_dir"]), Path(task["out_dir"]) / task["name"]
    data, splits = _data(config)
    with intra_op_threads(task["threads"]):
        record = run_experiment(
            config, run_dir, probe=False, data=data, progress=False, threads=task["threads"]
        )
        with run_lock(run_dir):
            folder = find_checkpoint(run_dir)
            if folder is None:
                raise RunFolderError(
                    f"{run_dir} holds a finished run but no weights to probe, and {out_dir / LINES} "
                    f"has no line for it; delete {run_dir} and run the sweep again to redo it."
                )
            read_manifest(folder)  # verified: the probe must read the final weights
            probe = linear_probe(config, data.tokenizer, folder / "model.safetensors", splits=splits)
    epochs = record["epochs"]
    line = {
        "name": task["name"],
        "condition": config.condition,
        "dupe_factor": task["dupe_factor"],
        "seed": config.seed,
        **{key: record["final"][key] for key in ("val_loss", "val_accuracy", "memorization_gap")},
        "trained_mask_loss": record["final"]["trained_mask_loss"],
        "fresh_mask_loss": record["final"]["fresh_mask_loss"],
        "probe_test_accuracy": probe["test_accuracy"],
        "probe_dev_accuracy": probe["dev_accuracy"],
        "probe_l2": probe["l2"],
        "curves": {"epoch": [e["epoch"] + 1 for e in epochs]}
        | {k: [e[k] for e in epochs] for k in CURVE_KEYS},
        "train_wall_s": record["provenance"]["wall_time_s"],
        "probe_wall_s": probe["wall_s"],
        "run_wall_s": time.perf_counter() - start,
        "device": record["provenance"]["device"],
        "precision": _precision(record, config),
        "fingerprint": task["fingerprint"],
    }
    append_line(out_dir, line)
    with run_lock(run_dir):
        drop_checkpoints(run_dir)
    return line


def _baselines(config: ExperimentConfig, out_dir: Path, data, splits) -> dict:
    """Unigram baseline on the validation masks and the untrained encoder's linear probe (stored)."""
    path = out_dir / BASELINES
    fingerprint = baseline_fingerprint(config, data.meta)["sha256"]
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("fingerprint") == fingerprint:
            return stored
    val = data.validation[: config.eval_sequences]
    unigram = unigram_baseline(data.train, val, data.vocab, config.masking, seed=config.eval_mask_seed)
    probe = linear_probe(config, data.tokenizer, None, splits=splits, init_seed=config.seed)
    stored = {"unigram": unigram, "probe_untrained": probe, "fingerprint": fingerprint}
    write_json(path, stored)
    return stored


def sweep(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    dupe_factors=(1, 2, 5, 10),
    seeds=(0, 1, 2, 3),
    workers: int = 1,
    threads: int = 1,
    time_budget_s: float | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Static with each k of ``dupe_factors`` and dynamic, for every seed; returns the summary.

    Args:
        config: The base run (preset and overrides); condition, seed and dupe_factor are set
            per run, ``compile`` is switched off (a small model compiles longer than it trains).
        out_dir: The sweep folder: one folder per run, ``runs.jsonl``, ``baselines.json``,
            ``sweep.json``, ``summary.json``, ``summary.md``.
        dupe_factors, seeds: The static k's and the paired seeds.
        workers: Runs at once, each in its own (spawned) process; on one GPU they share it.
        threads: Intra-op threads of each run (CPU).
        time_budget_s: No new run starts once this many seconds have passed since the sweep
            began (loading and baselines included; runs under way finish); None: no limit. The
            summary lists the runs that did not start.
        device: Overrides the config's device.
        progress: Print one line per finished run.

    Raises:
        RunMismatchError: ``runs.jsonl`` holds a line of another config for a planned run.
        ValueError: An argument is out of range (the message names it).
    """
    dupe_factors, seeds = _check_ints("dupe_factors", dupe_factors, 1), _check_ints("seeds", seeds, 0)
    for name, value in (("workers", workers), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be > 0 seconds or None (no limit); got {time_budget_s!r}.")
    start = time.perf_counter()
    config = config.replace(compile=False, **({"device": device} if device else {}))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_runs(config, dupe_factors, seeds)
    with run_lock(out_dir), intra_op_threads(threads):  # one sweep per folder
        data, splits = _data(config)
        fingerprints = {name: run_fingerprint(cfg, data.meta, probe=True)["sha256"] for name, cfg, _ in plan}
        done = {line["name"]: line for line in load_sweep_lines(out_dir)}
        stale = [n for n in fingerprints if n in done and done[n]["fingerprint"] != fingerprints[n]]
        if stale:
            raise RunMismatchError(
                f"{out_dir / LINES} holds runs {stale} of another config; use another output folder, "
                "or delete this one to start over."
            )
        meta = {
            "dupe_factors": sorted(dupe_factors),
            "seeds": list(seeds),
            "runs": [name for name, _, _ in plan],
            "workers": workers,
            "config": config.to_dict(),
            "provenance": None,  # written when the sweep ends; a cut sweep's summary can still be made
        }
        write_json(out_dir / "sweep.json", meta)
        _baselines(config, out_dir, data, splits)
        tasks = [
            {
                "config": cfg.to_dict(),
                "out_dir": str(out_dir),
                "name": name,
                "dupe_factor": k,
                "threads": threads,
                "fingerprint": fingerprints[name],
            }
            for name, cfg, k in plan
            if name not in done
        ]
        report = _reporter(progress, len(plan), len(done))

        def in_time() -> bool:
            return time_budget_s is None or time.perf_counter() - start < time_budget_s

        if workers == 1:
            for task in tasks:
                if not in_time():
                    break
                report(run_one(task))
        else:
            _run_pool(tasks, workers, in_time, report)
        (out_dir / f".{LINES}.lock").unlink(missing_ok=True)  # every writer is done: no stray file
        meta["provenance"] = provenance(pick_device(config.device), time.perf_counter() - start)
        write_json(out_dir / "sweep.json", meta)
        return write_sweep_summary(out_dir, meta)


def _run_pool(tasks: list[dict], workers: int, in_time, report) -> None:
    """Run ``tasks`` on ``workers`` spawned processes, starting each only while ``in_time()``."""
    pending, queue = set(), list(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        try:
            while queue or pending:
                while queue and len(pending) < workers and in_time():
                    pending.add(pool.submit(run_one, queue.pop(0)))
                if not pending:
                    break  # budget spent: nothing under way, nothing more starts
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    report(future.result())  # a failed run raises here, with its traceback
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _reporter(progress: bool, total: int, already: int):
    count = [already]

    def report(line: dict) -> None:
        count[0] += 1
        if progress:
            label = condition_name(line["condition"], line["dupe_factor"])
            print(
                f"[{count[0]}/{total}] {label} seed {line['seed']}: gap {line['memorization_gap']:+.3f}, "
                f"val loss {line['val_loss']:.3f}, val acc {100 * line['val_accuracy']:.1f}%, "
                f"probe {100 * line['probe_test_accuracy']:.1f}%, {line['run_wall_s']:.0f} s",
                flush=True,
            )

    return report
