"""The experiment's result files: per-run records and the summary table.

Two intervals, both 95 %:

* the median test accuracy of a condition over its seeds: a percentile bootstrap (10,000
  resamples, a fixed generator), as RoBERTa reports medians of fine-tuning runs;
* the mean paired difference to the baseline (same seed: same data order, classifier
  initialisation and dropout, only the mask differs), the sharper comparison: a Student t
  interval. With 5 pairs a percentile bootstrap of a mean covers only ~84 % (simulated), the
  t interval its nominal 95 %. Eight conditions are compared with the baseline: at 95 % each,
  about one in three such tables shows one "difference" by chance, so read a single interval
  that barely excludes 0 with care.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from ..experiments.results import write_json, write_text_atomic
from .config import CONDITIONS

__all__ = [
    "bootstrap_interval",
    "load_records",
    "read_record",
    "summarize",
    "summary_markdown",
    "t_interval",
    "write_summary",
]

RESAMPLES = 10_000
RUN_KEYS = (
    "condition",
    "seed",
    "rule",
    "test_accuracy",
    "share_kept",
    "test_accuracy_full_attention",
    "epoch_seconds",
)


def bootstrap_interval(
    values, statistic=np.median, *, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values`` (one per seed)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("bootstrap_interval needs at least one value.")
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, values.size, size=(RESAMPLES, values.size))]
    stats = statistic(draws, axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


# Student t quantiles t(0.975, df), df = 1..30 (standard tables); above 30 the normal's 1.96 is
# within 0.09 of it. Kept here because numpy has no t distribution and scipy is not a dependency.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_interval(values) -> tuple[float, float]:
    """95 % Student t interval of the mean of ``values``; one value gives ``(v, v)``."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("t_interval needs at least one value.")
    mean = float(values.mean())
    if values.size == 1:
        return mean, mean
    df = values.size - 1
    half = (_T975[df - 1] if df <= len(_T975) else 1.96) * float(values.std(ddof=1)) / np.sqrt(values.size)
    return mean - half, mean + half


def read_record(path: Path) -> dict:
    """One run record; a damaged file is refused with its name and what to do."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is damaged ({exc}); delete it and rerun: the run is redone.") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a run record; delete it and rerun.")
    return record


def load_records(folder: str | Path) -> list[dict]:
    """Every run record under ``folder/runs`` (``{condition}_seed{seed}.json``), checked."""
    runs = Path(folder) / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(
            f"No runs in {folder}: run `python -m dynmask_viz.mask_finetuning run --out {folder}` first."
        )
    records, configs = [], {}
    for path in sorted(runs.glob("*.json")):
        record = read_record(path)
        missing = [k for k in RUN_KEYS if k not in record]
        if missing:
            raise ValueError(f"{path} is not a run record (missing {missing}); delete it and rerun.")
        config = json.dumps(record.get("fingerprint", {}).get("config"), sort_keys=True)
        configs.setdefault(config, []).append(path.name)
        records.append(record)
    if len(configs) > 1:  # a table must compare runs of one design
        groups = "; ".join(f"{len(names)} like {names[0]}" for names in configs.values())
        raise ValueError(
            f"{runs} holds runs of {len(configs)} different configs ({groups}); keep one config per "
            "folder (rerun the others with --fresh, or move them to another folder)."
        )
    return records


def summarize(records: list[dict]) -> dict:
    """One row per condition, in :data:`CONDITIONS` order.

    Returns:
        ``{"rows": [...], "baseline_seeds": n}``; a row: ``condition, description, seeds,
        median, interval, share_kept, diff_mean, diff_interval`` (paired, vs ``full``),
        ``test_time_only_median, test_time_only_interval`` (the baseline's models scored with
        this mask), ``full_attention_median`` (this condition's models scored without it),
        ``epoch_seconds`` (median of each run's last epoch: the first pays for cold caches and
        the runs' order; indicative, as other work on the machine shows in it).
    """
    by = {}
    for r in records:
        by.setdefault(r["condition"], {})[r["seed"]] = r
    base = by.get("full", {})
    rows = []
    for name, cond in CONDITIONS.items():
        runs = by.get(name)
        if not runs:
            continue
        acc = [runs[s]["test_accuracy"] for s in sorted(runs)]
        row = {
            "condition": name,
            "description": cond.description,
            "rule": next(iter(runs.values()))["rule"],
            "seeds": sorted(runs),
            "accuracies": acc,
            "median": statistics.median(acc),
            "interval": bootstrap_interval(acc),
            "share_kept": statistics.mean(runs[s]["share_kept"] for s in runs),
            "full_attention_median": statistics.median(runs[s]["test_accuracy_full_attention"] for s in runs),
            "epoch_seconds": statistics.median(runs[s]["epoch_seconds"][-1] for s in runs),
        }
        paired = [s for s in sorted(runs) if s in base]
        if paired and name != "full":
            diffs = [runs[s]["test_accuracy"] - base[s]["test_accuracy"] for s in paired]
            row["diff_mean"] = statistics.mean(diffs)
            row["diff_interval"] = t_interval(diffs)
        scored = [
            base[s]["test_time_only"][name] for s in sorted(base) if name in base[s].get("test_time_only", {})
        ]
        if scored:
            row["test_time_only_median"] = statistics.median(t["accuracy"] for t in scored)
            row["test_time_only_interval"] = bootstrap_interval([t["accuracy"] for t in scored])
            row["test_time_only_share_kept"] = statistics.mean(t["share_kept"] for t in scored)
        rows.append(row)
    return {"rows": rows, "baseline_seeds": len(base)}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summary_markdown(summary: dict) -> str:
    """The summary as a Markdown table (accuracy in %, 95 % bootstrap intervals over seeds)."""
    lines = [
        "| condition | seeds | test accuracy, median [95 % CI] | vs full, paired mean [95 % CI] | "
        "mask at test time only | share of attention kept | s / epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lo, hi = r["interval"]
        diff = (
            ""
            if "diff_mean" not in r
            else (
                f"{100 * r['diff_mean']:+.1f} "
                f"[{100 * r['diff_interval'][0]:+.1f}, {100 * r['diff_interval'][1]:+.1f}]"
            )
        )
        tto = "n/a (needs its own weights)" if not CONDITIONS[r["condition"]].test_time_only else ""
        if "test_time_only_median" in r:
            tlo, thi = r["test_time_only_interval"]
            tto = f"{_pct(r['test_time_only_median'])} [{_pct(tlo)}, {_pct(thi)}]"
        lines.append(
            f"| {r['condition']} | {len(r['seeds'])} | {_pct(r['median'])} [{_pct(lo)}, {_pct(hi)}] "
            f"| {diff or '(baseline)'} "
            f"| {tto or '(baseline)'} | {_pct(r['share_kept'])} % | {r['epoch_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(folder: str | Path, meta: dict) -> dict:
    """Summarise the folder's runs into ``summary.json`` and ``summary.md`` (atomically)."""
    summary = {**summarize(load_records(folder)), **meta}
    write_json(Path(folder) / "summary.json", summary)
    write_text_atomic(Path(folder) / "summary.md", summary_markdown(summary))
    return summary
