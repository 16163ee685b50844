"""The sweep's files: ``runs.jsonl`` (one line per finished run), the summary written from it.

A line is appended the moment a run is probed, under a lock (workers append concurrently), so a
sweep cut by a time limit keeps every finished run; ``summary.json`` and ``summary.md`` are
always rebuilt from the lines, also for a sweep that was killed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .checkpoint import CURRENT, DISCARD_PREFIX, PREVIOUS
from .errors import RunFolderError
from .results import write_json, write_text_atomic
from .sweep_stats import summarize_sweep, sweep_markdown

__all__ = ["load_sweep_lines", "write_sweep_summary"]

LINES, BASELINES, SUMMARY_SCHEMA = "runs.jsonl", "baselines.json", "dynmask-viz/sweep-summary/v1"


def load_sweep_lines(out_dir: str | Path) -> list[dict]:
    """The records of ``out_dir/runs.jsonl`` (empty if there is none).

    Raises:
        RunFolderError: A line is not a JSON object (its number is named).
    """
    path = Path(out_dir) / LINES
    if not path.is_file():
        return []
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise RunFolderError(
                f"{path}, line {number}, is not a JSON record (cut mid-write?); delete that line "
                "and run the sweep again: the run is redone from its folder."
            )
        lines.append(record)
    return lines


def append_line(out_dir: Path, record: dict) -> None:
    """Append one JSON line under a lock (workers of one sweep append concurrently)."""
    from filelock import FileLock

    with FileLock(str(out_dir / f".{LINES}.lock")):
        with open(out_dir / LINES, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


def drop_checkpoints(run_dir: Path) -> None:
    """Delete the weights of a finished run: renamed first, so no half-deleted checkpoint remains."""
    for name in (CURRENT, PREVIOUS):
        if (run_dir / name).exists():
            os.replace(run_dir / name, run_dir / f"{DISCARD_PREFIX}{name}")
    for path in run_dir.glob(f"{DISCARD_PREFIX}*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def write_sweep_summary(out_dir: str | Path, meta: dict | None = None) -> dict:
    """Write ``summary.json`` and ``summary.md`` from ``runs.jsonl`` and ``baselines.json``; return it.

    Also makes the summary of a sweep that was cut (killed): ``sweep.json`` is written when a
    sweep starts, its provenance (``None`` then) when it ends.

    Args:
        out_dir: The sweep folder.
        meta: What :func:`sweep` adds (plan, wall time, workers); None: read from ``sweep.json``.
    """
    out_dir = Path(out_dir)
    meta = meta or json.loads((out_dir / "sweep.json").read_text(encoding="utf-8"))
    lines = load_sweep_lines(out_dir)
    summary = {"schema": SUMMARY_SCHEMA, **summarize_sweep(lines)}
    base_path = out_dir / BASELINES
    if base_path.is_file():
        base = json.loads(base_path.read_text(encoding="utf-8"))
        summary["unigram_baseline"] = base["unigram"]
        summary["probe_baseline"] = base["probe_untrained"]
    done = {line["name"] for line in lines}
    summary["plan"] = {
        "dupe_factors": meta["dupe_factors"],
        "seeds": meta["seeds"],
        "runs_planned": len(meta["runs"]),
        "runs_done": sum(name in done for name in meta["runs"]),
        "runs_missing": [name for name in meta["runs"] if name not in done],
    }
    summary["devices"] = sorted({line["device"] for line in lines})
    summary["precisions"] = sorted({line["precision"] for line in lines})
    summary["run_wall_s_sum"] = sum(line["run_wall_s"] for line in lines)
    summary["workers"] = meta.get("workers", 1)
    summary["config"] = meta["config"]
    summary["provenance"] = meta["provenance"]
    write_json(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "summary.md", sweep_markdown(summary))
    return summary
