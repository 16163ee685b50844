"""The CUDA code paths: exact resume (with and without deterministic algorithms), forced fp16 +
GradScaler, torch.compile, and bench_training's FLOP count. Each test takes seconds on an H200.

Findings (bitwise equality, timings, nondeterminism warnings) are printed and, if the
environment variable ``DYNMASK_GPU_FINDINGS`` names a file, appended to it as one JSON line
each. Runs that differ without deterministic algorithms are the expected finding, not a failure.

``DYNMASK_GPU_TEST_DEVICE=cpu`` runs this file on a CPU: a dry run of its code, not of CUDA.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("DYNMASK_GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _config():
    from dynmask_viz.experiments import ExperimentConfig

    # 64 sequences of cpu-tiny's data, 8 steps per epoch, 2 epochs; the gpu preset's precision
    # and attention. eval/gap batches (2 x 8) are one batch each.
    return ExperimentConfig.from_preset(
        "cpu-tiny",
        limit_sequences=64,
        model={"n_layers": 2, "hidden": 64, "heads": 2, "intermediate": 128},
        optim={"batch_size": 8, "epochs": 2},
        dupe_factor=2,
        eval_sequences=16,
        gap_sequences=16,
        device=DEVICE,
        bf16=True,
        attn_implementation="sdpa",
    )


def record_finding(name: str, **finding) -> dict:
    """Print one finding and append it to ``$DYNMASK_GPU_FINDINGS`` (one JSON line), if set."""
    line = {"finding": name, "device": _device_name(), **finding}
    print(json.dumps(line))
    path = os.environ.get("DYNMASK_GPU_FINDINGS")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    return line


def _device_name() -> str:
    return torch.cuda.get_device_name(0) if DEVICE == "cuda" and torch.cuda.is_available() else DEVICE


def _weights(folder: Path) -> dict:
    import safetensors.torch

    return safetensors.torch.load_file(str(folder / "checkpoint" / "model.safetensors"))


def _compare(a: dict, b: dict) -> tuple[bool, float]:
    equal = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    return equal, diff


def resume_worker(mode: str, out: Path) -> dict:
    """Train straight, again straight, and stopped + resumed; compare weights bit for bit.

    Runs in its own process: ``mode="deterministic"`` switches deterministic algorithms on
    (``warn_only``: an op without a deterministic kernel warns, and is reported) with
    ``CUBLAS_WORKSPACE_CONFIG`` set by the parent before CUDA starts.
    """
    from dynmask_viz.experiments import load_pretraining_data, train

    if mode == "deterministic":
        torch.use_deterministic_algorithms(True, warn_only=True)
    config = _config()
    data = load_pretraining_data(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        times, losses = {}, {}
        for name, stop in (("straight", None), ("straight_again", None), ("resumed", 5)):
            start = time.perf_counter()
            record = train(config, out / name, data=data, progress=False, stop_after_steps=stop)
            if stop is not None:
                assert record["status"] == "stopped"
                record = train(config, out / name, data=data, progress=False)
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            times[name] = time.perf_counter() - start
            losses[name] = record["steps"]["loss"]
            assert record["status"] == "complete" and all(math.isfinite(x) for x in record["steps"]["loss"])
    straight = _weights(out / "straight")
    repeat_equal, repeat_diff = _compare(straight, _weights(out / "straight_again"))
    resume_equal, resume_diff = _compare(straight, _weights(out / "resumed"))
    nondeterministic = sorted(
        {str(w.message)[:160] for w in caught if "determinis" in str(w.message).lower()}
    )
    return {
        "mode": mode,
        "precision": record["runtime"]["precision"],
        "repeat_bitwise_equal": repeat_equal,
        "repeat_max_abs_diff": repeat_diff,
        "resume_bitwise_equal": resume_equal,
        "resume_max_abs_diff": resume_diff,
        "resume_max_step_loss_gap": max(abs(a - b) for a, b in zip(losses["straight"], losses["resumed"])),
        "seconds": times,
        "nondeterminism_warnings": nondeterministic,
    }


@pytest.mark.parametrize("mode", ["default", "deterministic"])
def test_exact_resume_on_the_device(mode, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if mode == "deterministic":
        env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # cuBLAS's deterministic workspace
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--resume-worker", mode, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    finding = record_finding(f"exact_resume_{mode}", process_s=time.perf_counter() - start, **result)
    if DEVICE == "cpu":  # every CPU kernel is deterministic: resumed = uninterrupted, bit for bit
        assert finding["repeat_bitwise_equal"] and finding["resume_bitwise_equal"], finding
    # On CUDA, bitwise equality is the finding (atomics in backward kernels; deterministic mode
    # may still leave a kernel without a deterministic version, named in the warnings). The
    # runs must still be close: a resume that restored the wrong state would not be.
    assert finding["resume_max_step_loss_gap"] < 0.05, finding


def test_forced_fp16_grad_scaler_trains_and_resumes(monkeypatch, tmp_path):
    """What a T4 or V100 runs (fp16 autocast + GradScaler), forced on this GPU."""
    from dynmask_viz.experiments import load_pretraining_data, train
    from dynmask_viz.experiments.checkpoint import load_optimizer_file
    from dynmask_viz.experiments.probe import finetune

    folder = importlib.import_module("dynmask_viz.experiments.folder")
    probe = importlib.import_module("dynmask_viz.experiments.probe")
    monkeypatch.setattr(folder, "pick_precision", lambda device, wanted: "fp16+GradScaler")
    monkeypatch.setattr(probe, "pick_precision", lambda device, wanted: "fp16+GradScaler")
    config = _config()
    data = load_pretraining_data(config)
    start = time.perf_counter()
    straight = train(config, tmp_path / "a", data=data, progress=False)
    seconds = time.perf_counter() - start
    train(config, tmp_path / "b", data=data, progress=False, stop_after_steps=5)
    resumed = train(config, tmp_path / "b", data=data, progress=False)
    assert straight["runtime"]["precision"] == resumed["runtime"]["precision"] == "fp16+GradScaler"
    assert all(math.isfinite(x) for x in straight["steps"]["loss"] + resumed["steps"]["loss"])
    assert straight["final"]["val_loss"] < straight["epochs"][0]["val_loss"] + 0.5  # it trained
    scaler = load_optimizer_file(tmp_path / "a" / "checkpoint", torch.device(DEVICE))["scaler"]
    equal, diff = _compare(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    tuned = finetune(
        config.replace(probe={"seeds": (0,), "epochs": 1, "train_limit": 64}),
        data.tokenizer,
        seed=0,
        mlm_weights=tmp_path / "a" / "checkpoint" / "model.safetensors",
    )
    assert tuned["precision"] == "fp16+GradScaler" and 0.0 <= tuned["test_accuracy"] <= 1.0
    record_finding(
        "fp16_grad_scaler",
        seconds=seconds,
        loss_scale=scaler["scale"],
        final_val_loss=straight["final"]["val_loss"],
        resume_bitwise_equal=equal,
        resume_max_abs_diff=diff,
        probe_test_accuracy=tuned["test_accuracy"],
    )


def test_compiled_tiny_run(tmp_path):
    from dynmask_viz.experiments import load_pretraining_data, train

    if DEVICE == "cpu":
        pytest.skip("compiling on a CPU dry run takes minutes; the eager path is tested elsewhere")
    config = _config().replace(compile=True, optim={"max_steps": 4, "epochs": 1})
    data = load_pretraining_data(config)
    start = time.perf_counter()
    record = train(config, tmp_path / "compiled", data=data, progress=False, resume=False)
    seconds = time.perf_counter() - start
    eager = train(config.replace(compile=False), tmp_path / "eager", data=data, progress=False)
    assert record["status"] == "complete" and len(record["steps"]["loss"]) == 4
    assert all(math.isfinite(x) for x in record["steps"]["loss"])
    gap = max(abs(a - b) for a, b in zip(record["steps"]["loss"], eager["steps"]["loss"]))
    record_finding("compile_tiny_run", seconds_with_compiling=seconds, max_step_loss_gap_vs_eager=gap)
    assert gap < 0.1  # the same model and batches: compiled and eager agree up to bf16 rounding


def test_flop_formula_against_the_flop_counter_on_the_device():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import _mfu

    config = _config().replace(attn_implementation="eager")
    counted, fraction = _mfu.counted_flops_per_token(config, DEVICE, batch_size=4)
    ours = _mfu.training_flops_per_token(config, masked_fraction=fraction)["total"]
    sdpa, _ = _mfu.counted_flops_per_token(config.replace(attn_implementation="sdpa"), DEVICE, batch_size=4)
    record_finding("flops_per_token", formula=ours, counted_eager=counted, counted_sdpa_incl_recompute=sdpa)
    assert ours == pytest.approx(counted, rel=0.01)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--resume-worker":
    print(json.dumps(resume_worker(sys.argv[2], Path(sys.argv[3]))))
