"""Tiny benchmark harness: interleaved medians, ratios against a baseline, provenance.

Speed targets are ratios against a baseline measured in the same run on the same inputs,
never absolute times, so they mean the same on a laptop, CI or a GPU box.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "data" / "results"


def time_interleaved(
    fns: dict[str, Callable[[], object]], *, repeats: int = 30, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin.

    Interleaving (a, b, a, b, ...) exposes every contender to the same machine noise (another
    process, thermal throttling), which matters more than the number of repeats for ratios.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


# A CPU-bound neighbour process (a browser tab, another kernel, a training loop), as one
# Python busy loop. It stops itself once the benchmark is gone (its parent changes), even if the
# benchmark is killed before its ``finally`` runs, and after 15 minutes whatever happens.
_NEIGHBOUR = """
import os, sys, time
parent, deadline = int(sys.argv[1]), time.monotonic() + 900
while os.getppid() == parent and time.monotonic() < deadline:
    for _ in range(200_000):
        pass
"""
CONDITIONS = {
    "quiet": "quiet machine",
    "busy": "one CPU-bound neighbour process (a Python busy loop)",
}


@contextlib.contextmanager
def busy_neighbour(settle_s: float = 0.5):
    """Run the block next to one CPU-bound process, which this starts and always stops."""
    proc = subprocess.Popen([sys.executable, "-c", _NEIGHBOUR, str(os.getpid())])
    try:
        time.sleep(settle_s)  # let the scheduler see it as a CPU hog before timing starts
        if proc.poll() is not None:
            raise RuntimeError(f"the busy neighbour process exited at once (status {proc.returncode})")
        yield proc
    finally:  # KeyboardInterrupt included
        proc.kill()
        proc.wait()


def condition(name: str):
    """The context of one measuring condition: ``"quiet"`` (nothing) or ``"busy"`` (one neighbour)."""
    if name == "quiet":
        return contextlib.nullcontext()
    if name == "busy":
        return busy_neighbour()
    raise ValueError(f"condition must be one of {CONDITIONS}; got {name!r}.")


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit() -> str:
    """Short commit (``-dirty`` if modified); ``$DYNMASK_VIZ_COMMIT`` first (a copy without ``.git``)."""
    if os.environ.get("DYNMASK_VIZ_COMMIT"):
        return os.environ["DYNMASK_VIZ_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        return (
            out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
            if out.returncode == 0
            else "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def record_path(name: str, out: str | Path | None = None) -> Path:
    """Where a record goes: ``out``, else ``$DYNMASK_BENCH_DIR/<name>.json``, else
    ``data/results/<name>.json`` (a GPU machine writes under its own output folder)."""
    if out is not None:
        return Path(out)
    folder = os.environ.get("DYNMASK_BENCH_DIR")
    return (Path(folder) if folder else RESULTS_DIR) / f"{name}.json"


def write_record(
    name: str, results: dict, *, record: bool = True, out: str | Path | None = None
) -> Path | None:
    """Write the figures and their provenance to :func:`record_path` (atomically)."""
    if not record:
        return None
    payload = {
        "benchmark": name,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": git_commit(),
        "machine": machine(),
        "results": results,
    }
    path = record_path(name, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path


def check(label: str, value: float, target: float, *, higher_is_better: bool = True) -> bool:
    """Print one target line and return whether it is met."""
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    print(f"  [{'PASS' if ok else 'FAIL'}] {label}: {value:.2f}x (target {sign} {target:g}x)")
    return ok


def finish(name: str, payload: dict, *, ok: bool, record: bool = True) -> int:
    """Write the record (unless ``record`` is False), say whether every target was met, and
    return the exit code (0: all met)."""
    path = write_record(name, payload, record=record)
    if path:
        print(f"  recorded in {path}")
    print("all targets met in every condition" if ok else "FAILED: a target was missed (see above)")
    return 0 if ok else 1


def parser(doc: str, name: str, *, repeats: int | None = None) -> argparse.ArgumentParser:
    """The options every quiet-and-busy benchmark takes: ``--conditions``, ``--no-record`` and,
    with a default given, ``--repeats``; add the benchmark's own to the parser returned."""
    out = argparse.ArgumentParser(description=doc.splitlines()[0])
    if repeats is not None:
        out.add_argument("--repeats", type=int, default=repeats)
    out.add_argument(
        "--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS), help="default: both"
    )
    out.add_argument("--no-record", action="store_true", help=f"do not write data/results/{name}.json")
    return out
