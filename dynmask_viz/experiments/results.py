"""Result files of the experiment: provenance, atomic writes, schema checks, loading."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from .errors import RunFolderError

# v2: the config is grouped (model / optim / probe); v1 records (flat config) still read.
# v3: a "fingerprint" of what determined the run (see fingerprint.py); v1 and v2 still read
# (their fingerprint is rebuilt from their config and data).
SCHEMA = "dynmask-viz/pretraining-run/v3"
READABLE_SCHEMAS = ("dynmask-viz/pretraining-run/v1", "dynmask-viz/pretraining-run/v2", SCHEMA)

# key -> type(s) of a run record (results.json); nested records are checked one level down.
RUN_SCHEMA = {
    "schema": str,
    "status": str,
    "condition": str,
    "seed": int,
    "config": dict,
    "data": dict,
    "model": dict,
    "epochs": list,
    "steps": dict,
    "final": dict,
    "provenance": dict,
}
EPOCH_SCHEMA = {
    "epoch": int,
    "step": int,
    "mask_epoch": int,
    "train_loss": float,
    "val_loss": float,
    "val_accuracy": float,
    "trained_mask_loss": float,
    "fresh_mask_loss": float,
    "memorization_gap": float,
    "wall_s": float,
}
PROVENANCE_SCHEMA = {
    "git_commit": str,
    "device": str,
    "versions": dict,
    "date": str,
    "command": str,
    "wall_time_s": float,
    "world_size": int,
}


def git_commit() -> str:
    """Short commit of the package's checkout (``-dirty`` if modified), or ``"unknown"``.

    ``$DYNMASK_VIZ_COMMIT``, if set, is returned instead: a copy without ``.git`` (a lent GPU
    machine) is told its commit that way.
    """
    if os.environ.get("DYNMASK_VIZ_COMMIT"):
        return os.environ["DYNMASK_VIZ_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def device_name(device: torch.device) -> str:
    """``"cpu (N threads)"`` or the CUDA device's name."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def versions() -> dict:
    """Versions of what shapes the numbers."""
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def provenance(device: torch.device, wall_time_s: float, world_size: int = 1) -> dict:
    """Where, when and with what a result was produced."""
    return {
        "git_commit": git_commit(),
        "device": device_name(device),
        "versions": versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "wall_time_s": float(wall_time_s),
        "world_size": int(world_size),
    }


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path`` and rename it (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except Exception:
        tmp.unlink(missing_ok=True)  # a kill leaves it instead: runs clean those up when they start
        raise
    return path


def write_json(path: str | Path, payload: dict) -> Path:
    """Atomic, indented JSON."""
    return write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Atomic CSV of a list of flat dicts (columns from the first row)."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def _check(where: str, record: dict, schema: dict) -> list[str]:
    problems = []
    for key, kind in schema.items():
        if key not in record:
            problems.append(f"{where}: missing key {key!r}")
        elif kind is float and isinstance(record[key], int) and not isinstance(record[key], bool):
            continue  # JSON writes 1.0 as 1.0, but accept ints for floats anyway
        elif not isinstance(record[key], kind) or (kind is int and isinstance(record[key], bool)):
            problems.append(f"{where}: {key!r} should be {kind.__name__}, got {type(record[key]).__name__}")
    return problems


def validate_run(record: dict) -> list[str]:
    """Problems with a run record (empty list: it matches :data:`RUN_SCHEMA`)."""
    problems = _check("run", record, RUN_SCHEMA)
    if problems:
        return problems
    if record["schema"] not in READABLE_SCHEMAS:
        problems.append(f"run: schema {record['schema']!r}, expected one of {READABLE_SCHEMAS}")
    for i, epoch in enumerate(record["epochs"]):
        problems += _check(f"epochs[{i}]", epoch, EPOCH_SCHEMA)
    problems += _check("provenance", record["provenance"], PROVENANCE_SCHEMA)
    if record["schema"] == SCHEMA:
        fingerprint = record.get("fingerprint")
        if not isinstance(fingerprint, dict):
            problems.append("run: missing key 'fingerprint' (required from schema v3)")
        else:
            problems += _check("fingerprint", fingerprint, {"sha256": str, "fields": dict})
    steps = record["steps"]
    if set(steps) != {"step", "loss", "lr"} or not len(steps["step"]) == len(steps["loss"]) == len(
        steps["lr"]
    ):
        problems.append("steps: expected equal-length lists 'step', 'loss', 'lr'")
    probe = record.get("probe")
    if probe is not None:
        problems += _check(
            "probe",
            probe,
            {"test_accuracy": list, "dev_accuracy": list, "median_test_accuracy": float, "seeds": list},
        )
    return problems


def load_run(path: str | Path) -> dict:
    """Read and validate a ``results.json`` (a file or the run folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(
            f"{path} is damaged (not JSON: {exc}). Delete it (and curves.csv) and run again: the "
            "run is then finished from its checkpoint, or retrained if there is none."
        ) from None
    if not isinstance(record, dict):
        raise RunFolderError(f"{path} does not hold a run record (a JSON object); delete it and run again.")
    problems = validate_run(record)
    if problems:
        raise RunFolderError(f"{path} does not match the run schema:\n  " + "\n  ".join(problems))
    return record


def load_runs(folder: str | Path) -> list[dict]:
    """Every valid run under ``folder`` (``*/results.json``), sorted by condition then seed."""
    runs = [load_run(p) for p in sorted(Path(folder).glob("*/results.json"))]
    return sorted(runs, key=lambda r: (r["condition"], r["seed"]))


# RoBERTa (Liu et al., 2019), Table 1: BERT-base, 1M steps on BOOKCORPUS + WIKIPEDIA; the
# median of 5 fine-tuning runs. Our reimplementation rows (static / dynamic).
ROBERTA_TABLE1 = {
    "static": {"SQuAD 2.0 (F1)": 78.3, "MNLI-m": 84.3, "SST-2": 92.5},
    "dynamic": {"SQuAD 2.0 (F1)": 78.7, "MNLI-m": 84.0, "SST-2": 92.9},
}


def summarize(runs: list[dict], baseline: dict | None = None) -> dict:
    """Per-condition medians (and spreads) over pretraining seeds.

    Args:
        runs: Run records (with ``probe``) of both conditions.
        baseline: Probe result of a randomly initialised encoder, if any.

    Returns:
        ``{"conditions": {cond: {...}}, "baseline_median_test_accuracy", "roberta_table1"}``.
    """
    import statistics

    out = {}
    for cond in sorted({r["condition"] for r in runs}):
        rs = [r for r in runs if r["condition"] == cond]
        row = {"seeds": [r["seed"] for r in rs]}
        for key in ("val_loss", "val_accuracy", "memorization_gap"):
            values = [r["final"][key] for r in rs]
            row[key] = values
            row[f"median_{key}"] = float(statistics.median(values))
        probes = [r["probe"]["median_test_accuracy"] for r in rs if r.get("probe")]
        row["probe_test_accuracy"] = probes
        row["median_probe_test_accuracy"] = float(statistics.median(probes)) if probes else None
        out[cond] = row
    return {
        "conditions": out,
        "roberta_table1": ROBERTA_TABLE1,
        "baseline_median_test_accuracy": None if baseline is None else baseline["median_test_accuracy"],
    }


def summary_markdown(summary: dict) -> str:
    """The summary as a Markdown table, next to RoBERTa's Table 1."""
    lines = [
        "| condition | seeds | val MLM loss (median) | val MLM acc (median) | memorization gap (median) "
        "| probe test acc, % (median of seeds) | RoBERTa SST-2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for cond, row in summary["conditions"].items():
        probe = row["median_probe_test_accuracy"]
        lines.append(
            f"| {cond} | {len(row['seeds'])} | {row['median_val_loss']:.3f} "
            f"| {row['median_val_accuracy']:.3f} "
            f"| {row['median_memorization_gap']:+.3f} | {'-' if probe is None else f'{100 * probe:.1f}'} "
            f"| {ROBERTA_TABLE1[cond]['SST-2']} |"
        )
    if summary.get("baseline_median_test_accuracy") is not None:
        lines.append(
            f"| no pretraining | - | - | - | - | {100 * summary['baseline_median_test_accuracy']:.1f} | - |"
        )
    return "\n".join(lines) + "\n"
