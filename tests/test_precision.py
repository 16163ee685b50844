"""The precision a run trains in: bf16 on fast-bf16 GPUs, fp16 + GradScaler on older ones, fp32
on a CPU; chosen in one place, recorded with the run, and resumed exactly (scaler included)."""

from __future__ import annotations

import importlib

import pytest
import safetensors.torch
import torch

from dynmask_viz import _device
from dynmask_viz.experiments import ExperimentConfig, load_pretraining_data, train
from dynmask_viz.experiments.checkpoint import load_optimizer_file
from dynmask_viz.experiments.fingerprint import RunMismatchError

folder_module = importlib.import_module("dynmask_viz.experiments.folder")
train_module = importlib.import_module("dynmask_viz.experiments.train")
mf_runner = importlib.import_module("dynmask_viz.mask_finetuning.runner")

# 2 steps per epoch, 2 epochs (as tests/test_experiment_resume.py).
CFG = ExperimentConfig.from_preset(
    "cpu-tiny",
    limit_sequences=16,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 8, "epochs": 2},
    dupe_factor=2,
    eval_sequences=8,
    gap_sequences=8,
    device="cpu",
)


@pytest.mark.parametrize(
    ("capability", "expected"),
    [((7, 5), "fp16+GradScaler"), ((7, 0), "fp16+GradScaler"), ((8, 0), "bf16"), ((9, 0), "bf16")],
)
def test_precision_follows_the_gpu_capability(monkeypatch, capability, expected):
    """T4 (7.5) and V100 (7.0) have no fast bf16: fp16 with a scaler; Ampere and later bf16."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.version, "hip", None)
    assert _device.pick_precision(torch.device("cuda"), True) == expected
    assert _device.pick_precision("cuda:0", False) == "fp32"  # mixed precision not asked for


def test_precision_on_cpu_is_fp32():
    assert _device.pick_precision("cpu", True) == "fp32"
    assert _device.pick_precision(torch.device("cpu"), False) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        _device.autocast("cpu", "float16")


def test_grad_scaler_only_for_fp16():
    assert _device.grad_scaler("cpu", "bf16") is None and _device.grad_scaler("cpu", "fp32") is None
    assert isinstance(_device.grad_scaler("cpu", "fp16+GradScaler"), torch.amp.GradScaler)


def test_scaled_step_skips_an_overflowing_step():
    """With a scaler, an inf gradient skips the step and lowers the scale (plain fp32 would not)."""
    layer = torch.nn.Linear(2, 1)
    before = layer.weight.detach().clone()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    loss = layer(torch.tensor([[float("inf"), 1.0]])).sum()
    _device.backward_and_step(loss, optimizer, layer.parameters(), 1.0, scaler)
    assert torch.equal(layer.weight, before) and scaler.get_scale() == 2.0
    optimizer.zero_grad()
    loss = layer(torch.tensor([[1.0, 1.0]])).sum()
    _device.backward_and_step(loss, optimizer, layer.parameters(), 1.0, scaler)
    assert not torch.equal(layer.weight, before)


def test_runtime_records_the_precision_and_old_checkpoints_still_resume(monkeypatch, tmp_path):
    runtime = folder_module.runtime_of(CFG)
    assert runtime == {"device_type": "cpu", "world_size": 1, "precision": "fp32"}
    manifest = {"fingerprint": {"sha256": "x"}, "runtime": {"device_type": "cpu", "world_size": 1}}
    monkeypatch.setattr(folder_module, "find_checkpoint", lambda out: tmp_path)
    monkeypatch.setattr(folder_module, "read_manifest", lambda folder: manifest)
    monkeypatch.setattr(folder_module, "check_fingerprint", lambda *a, **k: None)
    # Written before the field existed: fp32 on a CPU then, exactly as now.
    assert folder_module.resumable_checkpoint(tmp_path, {}, runtime) == (tmp_path, manifest)
    # fp16 did not exist then: an old checkpoint is not continued in fp16.
    with pytest.raises(RunMismatchError, match="precision"):
        folder_module.resumable_checkpoint(tmp_path, {}, dict(runtime, precision="fp16+GradScaler"))
    manifest["runtime"]["precision"] = "bf16"
    with pytest.raises(RunMismatchError, match="precision: stored 'bf16'"):
        folder_module.resumable_checkpoint(tmp_path, {}, runtime)


def test_mask_finetuning_fingerprint_names_fp16_only(monkeypatch):
    from dynmask_viz.mask_finetuning import FinetuneConfig

    config = FinetuneConfig(device="cpu", bf16=True)
    assert "precision" not in mf_runner.run_fingerprint(config, "full", 0)["config"]
    monkeypatch.setattr(mf_runner, "pick_precision", lambda device, wanted: "fp16+GradScaler")
    cfg = mf_runner.run_fingerprint(config, "full", 0)["config"]
    assert cfg["precision"] == "fp16+GradScaler" and cfg["bf16"] is True


@pytest.fixture(scope="module")
def data():
    return load_pretraining_data(CFG)


def _fp16(monkeypatch):
    """Force the fp16 + GradScaler path on the CPU (CPU autocast runs fp16 too). The scaler grows
    every step, so a resume that did not restore its scale would train differently."""
    monkeypatch.setattr(folder_module, "pick_precision", lambda device, wanted: "fp16+GradScaler")
    monkeypatch.setattr(
        train_module, "grad_scaler", lambda device, precision: torch.amp.GradScaler("cpu", growth_interval=1)
    )


def test_fp16_grad_scaler_run_resumes_exactly(monkeypatch, tmp_path, data):
    _fp16(monkeypatch)
    straight = train(CFG, tmp_path / "a", data=data, progress=False)
    assert straight["runtime"]["precision"] == "fp16+GradScaler"
    assert straight["provenance"]["precision"] == "fp16+GradScaler"
    saved = load_optimizer_file(tmp_path / "a" / "checkpoint", torch.device("cpu"))
    assert saved["scaler"]["scale"] > 2.0**16  # grew every step from its initial 2**16
    stopped = train(CFG, tmp_path / "b", data=data, progress=False, stop_after_steps=1)
    assert stopped["status"] == "stopped"
    resumed = train(CFG, tmp_path / "b", data=data, progress=False)
    assert resumed["steps"] == straight["steps"]
    a, b = (
        safetensors.torch.load_file(str(tmp_path / name / "checkpoint" / "model.safetensors"))
        for name in ("a", "b")
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fp32_run_records_its_precision(tmp_path, data):
    record = train(CFG.replace(optim={"max_steps": 1}), tmp_path, data=data, progress=False)
    assert record["runtime"] == {"device_type": "cpu", "world_size": 1, "precision": "fp32"}


def test_optimizer_file_keeps_rng_states_on_the_cpu_whatever_the_run_device(tmp_path, data):
    # On the H200, the file was mapped to CUDA and torch.set_rng_state refused the moved CPU RNG
    # state ("RNG state must be a torch.ByteTensor"): every resume on a GPU failed. "meta" stands
    # for a device other than the CPU here.
    train(CFG.replace(optim={"max_steps": 1}), tmp_path / "a", data=data, progress=False)
    saved = load_optimizer_file(tmp_path / "a" / "checkpoint", torch.device("meta"))
    assert saved["rng"]["cpu"].device.type == "cpu" and saved["rng"]["cpu"].dtype == torch.uint8
    with torch.random.fork_rng(devices=[]):  # the suite's global RNG is left as it was
        torch.set_rng_state(saved["rng"]["cpu"])  # what a resume does; it raised with the state moved
