#!/usr/bin/env python3
"""Every GPU check of the project in one command, sized for one 10-minute call on a lent GPU.

Run in the repository root of a bare GPU machine (no registry; its own python3 with torch,
transformers, tokenizers, pytest...), with the folder ``tools/gpu_carry.py`` prepared on a
CPU machine carried as ``.gpu/``::

    python3 tools/gpu_check.py --out "$OUT"          # or: make gpu-check OUT=...

Steps, each timed, each with its own time limit, each recorded even when it fails:

1. ``setup``: the carried wheels into a temporary folder; the device, its precision, versions.
2. ``models`` (in the background from the start: what must come back first): the two
   fill-in-the-blank models, static and dynamic masking, preset ``fill-mask``, written as
   model folders.
3. ``tests``: the GPU-marked tests (bf16 and fp16 runs, torch.compile, compiled FlexAttention,
   CUDA masking, exact resume on CUDA).
4. ``bench``: ``benchmarks/bench_training.py`` with its MFU (FLOPs the loop really does, against
   the datasheet peak of the precision used and a measured matmul ceiling).
5. ``sweep``: the dose-response sweep (static ``dupe_factor`` 1, 2, 5, 10 and dynamic, 4 paired
   seeds, eager, several runs sharing the GPU, frozen-encoder linear probe), cut by the budget.

Results go to ``--out`` (at most 8 files, so the device tool returns all of them): the log, a
``summary.json``, the GPU findings, the benchmark, the two model folders and the sweep as
archives. A short table is printed last. ``--dry-run`` runs the same steps at toy sizes on
the CPU (what CI-like machines can check of this script).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The files the GPU-marked tests live in (named, not collected: the GPU image lacks the
# notebook and widget packages other test files import).
GPU_TEST_FILES = (
    "tests/test_experiments.py",
    "tests/test_masking_core.py",
    "tests/test_gpu_path.py",
    "tests/test_gpu_flex.py",
    "tests/test_bench_training.py",
)


class Check:
    """Runs the steps, keeps the log and the summary up to date under ``out`` after each step."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.start, self.budget_s = out, time.monotonic(), budget_s
        self.log = out / "gpu_check.log"
        self.summary: dict = {"steps": {}, "budget_s": budget_s}
        self.env = dict(os.environ)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def write(self, text: str) -> None:
        with self.log.open("a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        print(text, flush=True)

    def save(self) -> None:
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n", encoding="utf-8")

    def record(self, name: str, **fields) -> None:
        self.summary["steps"][name] = dict(self.summary["steps"].get(name, {}), **fields)
        self.save()

    def start_process(self, name: str, cmd: list[str], log: Path) -> subprocess.Popen:
        self.write(f"==> {name}: {' '.join(cmd)}")
        handle = log.open("w", encoding="utf-8")
        return subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def run(self, name: str, cmd: list[str], limit_s: float) -> int | None:
        """Run one step to completion or its limit (min of ``limit_s`` and the budget left)."""
        limit = max(1.0, min(limit_s, self.left()))
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "step.log"
            began = time.monotonic()
            proc = self.start_process(name, cmd, log)
            rc = _wait(proc, limit)
            seconds = time.monotonic() - began
            self.write(log.read_text(encoding="utf-8", errors="replace")[-20_000:])
        status = "ok" if rc == 0 else ("timeout" if rc is None else f"failed (rc {rc})")
        self.write(f"<== {name}: {status} in {seconds:.0f} s")
        self.record(name, status=status, seconds=round(seconds, 1), limit_s=round(limit, 1))
        return rc


def _wait(proc: subprocess.Popen, limit: float) -> int | None:
    """The exit status, or None after killing the process group at ``limit`` seconds."""
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None


def _kill(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _setup(check: Check, carry: Path, dry_run: bool) -> None:
    """Install the carried wheels, point the package at the carried cache, describe the device."""
    site = Path(tempfile.mkdtemp(prefix="dynmask-site-"))
    wheels = sorted((carry / "wheels").glob("*.whl"))
    missing = []
    for module in ("platformdirs", "mwparserfromhell"):
        found = (
            subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0
        )
        if not found:
            missing.append(module)
    if missing and wheels:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        subprocess.run([*pip, "--target", str(site), *map(str, wheels)], check=True)
    env = check.env
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(ROOT), env.get("PYTHONPATH", "")) if p)
    if (carry / "cache").is_dir():
        env["DYNMASK_VIZ_CACHE"] = str((carry / "cache").resolve())
    if (carry / "COMMIT").is_file():
        env["DYNMASK_VIZ_COMMIT"] = (carry / "COMMIT").read_text(encoding="utf-8").strip()
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
        DYNMASK_GPU_FINDINGS=str(check.out / "findings.jsonl"),
        MPLBACKEND="Agg",
    )
    probe = (
        "import json, torch, transformers, tokenizers, platform\n"
        "d = {'python': platform.python_version(), 'torch': torch.__version__,"
        " 'transformers': transformers.__version__, 'tokenizers': tokenizers.__version__,"
        " 'cuda': torch.cuda.is_available()}\n"
        "if d['cuda']:\n"
        "    p = torch.cuda.get_device_properties(0)\n"
        "    d.update(name=p.name, capability=f'{p.major}.{p.minor}',"
        " memory_gib=round(p.total_memory / 2**30, 1),"
        " bf16=torch.cuda.is_bf16_supported(), cuda_version=torch.version.cuda)\n"
        "from dynmask_viz._device import pick_precision\n"
        "d['precision'] = pick_precision(torch.device('cuda' if d['cuda'] else 'cpu'), True)\n"
        "print(json.dumps(d))\n"
    )
    got = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    try:
        device = json.loads(got.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        device = {"error": (got.stderr or got.stdout)[-2000:]}
    device["commit"] = env.get("DYNMASK_VIZ_COMMIT", "unknown")
    device["dry_run"] = dry_run
    check.summary["device"] = device
    check.write(f"device: {json.dumps(device)}")
    check.save()


def _archive(folder: Path, target: Path, *, exclude=("checkpoint", ".lock")) -> None:
    """One archive per result folder (the device tool returns at most 8 files)."""

    def keep(info: tarfile.TarInfo):
        parts = Path(info.name).parts
        return None if any(p.startswith(e) for p in parts for e in exclude) else info

    mode = "w:gz" if target.suffix == ".gz" else "w"
    with tarfile.open(target, mode) as tar:
        tar.add(folder, arcname=folder.name, filter=keep)


def _start_models(check: Check, work: Path, args) -> dict:
    """Start the two fill-mask models in the background (the must-have results first)."""
    procs = {}
    for condition in ("static", "dynamic"):
        name = f"model_{condition}"
        cmd = [sys.executable, "-m", "dynmask_viz.experiments", "pretrain-model", "--condition", condition]
        cmd += [
            "--out",
            str(work / f"mlm_{condition}"),
            "--device",
            _device(args),
            "--threads",
            "1",
            "--quiet",
        ]
        if args.dry_run:
            cmd += ["--set", "optim.max_steps=3"]
        log = work / f"{name}.log"
        procs[name] = (check.start_process(name, cmd, log), time.monotonic(), log)
    return procs


def _device(args) -> str:
    return "cpu" if args.dry_run else "cuda"


def _start_sweep(check: Check, work: Path, args) -> dict:
    """The dose-response sweep, its runs sharing the GPU; no new run starts past its budget."""
    budget = max(10, int(check.left() - args.sweep_reserve_s))
    cmd = [sys.executable, "-m", "dynmask_viz.experiments", "sweep", "--out", str(work / "sweep")]
    cmd += ["--device", _device(args), "--workers", str(args.workers), "--threads", "1"]
    cmd += ["--time-budget-s", str(budget), "--quiet"]
    if args.dry_run:
        cmd += ["--preset", "cpu-tiny", "--dupe-factors", "1", "--seeds", "0", "--epochs", "1"]
    else:
        cmd += ["--preset", "gpu", "--dupe-factors", "1", "2", "5", "10", "--seeds", "0", "1", "2", "3"]
    log = work / "sweep.log"
    return {"sweep": (check.start_process("sweep", cmd, log), time.monotonic(), log)}


def _finish(check: Check, procs: dict, *, wait: bool) -> None:
    """Record the processes that ended (all of them with ``wait``, killed at the budget)."""
    while procs:
        for name, (proc, began, log) in list(procs.items()):
            rc = proc.poll()
            if rc is None and (not wait or check.left() > 0):
                continue
            if rc is None:
                _kill(proc)
            seconds = time.monotonic() - began
            status = "ok" if rc == 0 else ("timeout" if rc is None else f"failed (rc {rc})")
            check.write(log.read_text(encoding="utf-8", errors="replace")[-6_000:])
            check.write(f"<== {name}: {status} in {seconds:.0f} s")
            check.record(name, status=status, seconds=round(seconds, 1))
            del procs[name]
        if not wait:
            return
        time.sleep(1)


def _collect(check: Check, work: Path) -> None:
    """Archive the model folders and the sweep into ``out`` (one file each)."""
    for condition in ("static", "dynamic"):
        folder = work / f"mlm_{condition}"
        if (folder / "provenance.json").is_file():
            _archive(folder, check.out / f"mlm_{condition}.tar")
            prov = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
            check.record(f"model_{condition}", heldout=prov["metrics"]["heldout"], wall_s=prov["wall_time_s"])
    if (work / "sweep").is_dir():
        _archive(work / "sweep", check.out / "sweep.tar.gz")
        summary = work / "sweep" / "summary.json"
        if summary.is_file():
            check.record("sweep", summary=json.loads(summary.read_text(encoding="utf-8")))


def _table(check: Check) -> str:
    rows = [f"{'step':<16} {'status':<18} {'seconds':>8}  figure"]
    for name, step in check.summary["steps"].items():
        figure = ""
        if "heldout" in step:
            h = step["heldout"]
            figure = (
                f"top-1 {100 * h['top1_accuracy']:.1f}% (unigram {100 * h['unigram']['accuracy']:.1f}%), "
                f"loss {h['loss']:.3f} (unigram {h['unigram']['loss']:.3f})"
            )
        rows.append(f"{name:<16} {step.get('status', '?'):<18} {step.get('seconds', 0):>8.0f}  {figure}")
    device = check.summary.get("device", {})
    rows.append(
        f"device: {device.get('name', 'cpu')} ({device.get('precision', '?')}), commit {device.get('commit')}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "artifacts" / "gpu_check"))
    )
    parser.add_argument(
        "--carry", type=Path, default=ROOT / ".gpu", help="the folder tools/gpu_carry.py wrote"
    )
    parser.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the whole check")
    parser.add_argument("--workers", type=int, default=6, help="sweep runs sharing the GPU at once")
    parser.add_argument("--sweep-reserve-s", type=float, default=30.0, help="budget kept back for packing")
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU (checks the script)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("models", "tests", "bench", "sweep"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, args.budget_s)
    check.write(f"gpu_check: budget {args.budget_s:.0f} s, out {args.out}")
    _setup(check, args.carry, args.dry_run)
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="dynmask-gpu-"))
    # The models first and in the background: they are what must come back; they share the GPU
    # with the tests (timings of the tests are not figures), and are done before the sweep.
    procs = _start_models(check, work, args) if "models" not in args.skip else {}
    if "tests" not in args.skip:
        files = [f for f in GPU_TEST_FILES if (ROOT / f).is_file()]
        # pytest's log capture off: torch's trace logger floods failures with DEBUG lines.
        cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging", "--tb=short"]
        cmd += ["-m", "gpu", "-rA", "-o", "addopts=", *files]
        check.run("tests", cmd, limit_s=170)
    _finish(check, procs, wait=False)
    if "bench" not in args.skip:
        # Eager (compiling this small model takes longer than the timed steps).
        cmd = [py, "benchmarks/bench_training.py", "--out", str(args.out / "bench_training.json")]
        cmd += ["--no-compile", "--conditions", "quiet"]
        cmd += (
            ["--preset", "cpu-tiny", "--steps", "2", "--blocks", "1"] if args.dry_run else ["--preset", "gpu"]
        )
        check.record("bench", models_running_beside=sorted(procs))
        check.run("bench", cmd, limit_s=100)
    if "sweep" not in args.skip:
        procs.update(_start_sweep(check, work, args))
    _finish(check, procs, wait=True)
    _collect(check, work)
    shutil.rmtree(work, ignore_errors=True)
    check.summary["wall_s"] = round(time.monotonic() - check.start, 1)
    check.save()
    check.write(_table(check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
