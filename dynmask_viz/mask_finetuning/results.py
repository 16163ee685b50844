"""The experiment's result files: per-run records, the summary table, the baseline model.

Intervals are percentile bootstraps over seeds (10,000 resamples, a fixed generator): of the
median test accuracy, and of the mean paired difference to the baseline (same seed, same data
order and classifier initialisation, only the mask differs), the sharper comparison.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from ..experiments.results import write_json, write_text_atomic
from .config import CONDITIONS

__all__ = ["bootstrap_interval", "load_records", "summarize", "summary_markdown", "write_summary"]

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


def load_records(folder: str | Path) -> list[dict]:
    """Every run record under ``folder/runs`` (``{condition}_seed{seed}.json``), checked."""
    runs = Path(folder) / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(
            f"No runs in {folder}: run `python -m dynmask_viz.mask_finetuning run --out {folder}` first."
        )
    records = []
    for path in sorted(runs.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in RUN_KEYS if k not in record]
        if missing:
            raise ValueError(f"{path} is not a run record (missing {missing}); delete it and rerun.")
        records.append(record)
    return records


def summarize(records: list[dict]) -> dict:
    """One row per condition, in :data:`CONDITIONS` order.

    Returns:
        ``{"rows": [...], "baseline_seeds": n}``; a row: ``condition, description, seeds,
        median, interval, share_kept, diff_mean, diff_interval`` (paired, vs ``full``),
        ``test_time_only_median, test_time_only_interval`` (the baseline's models scored with
        this mask), ``full_attention_median`` (this condition's models scored without it),
        ``epoch_seconds`` (median).
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
            "epoch_seconds": statistics.median(t for s in runs for t in runs[s]["epoch_seconds"]),
        }
        paired = [s for s in sorted(runs) if s in base]
        if paired and name != "full":
            diffs = [runs[s]["test_accuracy"] - base[s]["test_accuracy"] for s in paired]
            row["diff_mean"] = statistics.mean(diffs)
            row["diff_interval"] = bootstrap_interval(diffs, np.mean)
        tto = [
            base[s]["test_time_only"][name]["accuracy"]
            for s in sorted(base)
            if name in base[s].get("test_time_only", {})
        ]
        if tto:
            row["test_time_only_median"] = statistics.median(tto)
            row["test_time_only_interval"] = bootstrap_interval(tto)
            row["test_time_only_share_kept"] = statistics.mean(
                base[s]["test_time_only"][name]["share_kept"] for s in sorted(base)
            )
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
        tto = "n/a (learned with the model)" if r["condition"] == "dma" else ""
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
