"""bench_training's model FLOPs and MFU: counted from the architecture, checked against torch's
FLOP counter, divided by the peak of the precision really used; where its record goes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from dynmask_viz.experiments import ExperimentConfig

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))  # the benchmarks import their helpers by bare name

import _harness  # noqa: E402
import _mfu  # noqa: E402
import bench_training  # noqa: E402

# Small enough for a CPU in a second, with every part weighing: a 2-layer encoder, 64-token
# sequences, a 512-word head.
SMALL = ExperimentConfig.from_preset(
    "cpu-tiny",
    vocab_size=512,
    model={"n_layers": 2, "hidden": 64, "heads": 2, "intermediate": 128},
    attn_implementation="eager",  # FlopCounterMode counts sdpa's backward with its recomputation
    device="cpu",
)


def test_flops_per_token_match_torch_flop_counter():
    counted, fraction = _mfu.counted_flops_per_token(SMALL, "cpu", batch_size=4)
    ours = _mfu.training_flops_per_token(SMALL, masked_fraction=fraction)
    assert ours["total"] == pytest.approx(counted, rel=0.01)
    assert ours["total"] == pytest.approx(ours["encoder"] + ours["attention"] + ours["head"])


def test_flops_default_masked_fraction_is_the_labelled_share():
    """Default: mlm_probability of the tokens that can be chosen ([CLS], [SEP] never are)."""
    full = _mfu.training_flops_per_token(SMALL)
    explicit = _mfu.training_flops_per_token(SMALL, masked_fraction=0.15 * 62 / 64)
    assert full == explicit
    with pytest.raises(ValueError, match="masked_fraction"):
        _mfu.training_flops_per_token(SMALL, masked_fraction=1.5)


def test_gpu_preset_does_about_24_mflop_per_token_not_6n():
    flops = _mfu.training_flops_per_token(ExperimentConfig.from_preset("gpu"))
    assert flops["total"] == pytest.approx(24.0e6, rel=0.01)
    assert flops["encoder"] == pytest.approx(18.9e6, rel=0.01)
    assert flops["attention"] == pytest.approx(3.1e6, rel=0.02)
    assert flops["head"] == pytest.approx(1.9e6, rel=0.03)
    assert flops["total"] < 0.8 * 32.4e6  # what 6 x all parameters said


def test_peaks_follow_the_precision_used():
    assert _mfu.datasheet_peak("NVIDIA H200", "bf16") == 989e12
    assert _mfu.datasheet_peak("NVIDIA H100 80GB HBM3", "fp16+GradScaler") == 989e12
    assert _mfu.datasheet_peak("NVIDIA H100 PCIe", "bf16") == 756e12
    # fp32 is never compared with the bf16 peak: plain FP32, or TF32 when torch allows it.
    assert _mfu.datasheet_peak("NVIDIA H200", "fp32") == 67e12
    assert _mfu.datasheet_peak("NVIDIA H200", "fp32", tf32=True) == 495e12
    assert _mfu.datasheet_peak("Tesla T4", "bf16") is None  # no bf16 tensor cores listed
    assert _mfu.datasheet_peak("Some Future GPU", "bf16") is None
    with pytest.raises(ValueError, match="precision"):
        _mfu.peak_key("bfloat16")


def test_matmul_ceiling_measures_flops():
    flops = _mfu.matmul_ceiling("cpu", "fp32", n=64, min_s=0.01)
    assert 1e6 < flops < 1e14


def test_report_mfu_divides_model_flops_by_both_peaks(monkeypatch):
    """On CUDA (faked here): datasheet peak of the precision used, and the measured ceiling."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(bench_training, "matmul_ceiling", lambda device, precision: 790e12)
    results = {"conditions": {"quiet": {"tokens_per_s": {"ours": 1e7, "hf_trainer": 5e6}}}}
    meta = bench_training.report_mfu(results, torch.device("cuda"), "bf16", 24e6)
    quiet = results["conditions"]["quiet"]
    assert quiet["mfu_ours"] == pytest.approx(24e6 * 1e7 / 989e12)
    assert quiet["mfu_ceiling_ours"] == pytest.approx(24e6 * 1e7 / 790e12)
    assert quiet["mfu_hf_trainer"] == pytest.approx(24e6 * 5e6 / 989e12)
    assert meta["datasheet_peak_flops"] == 989e12 and meta["peak_key"] == "bf16"
    fp32 = {"conditions": {"quiet": {"tokens_per_s": {"ours": 1e6}}}}
    bench_training.report_mfu(fp32, torch.device("cuda"), "fp32", 24e6)
    assert fp32["conditions"]["quiet"]["mfu_ours"] == pytest.approx(24e6 * 1e6 / 67e12)


def test_record_goes_to_out_or_the_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNMASK_VIZ_COMMIT", "abc1234")
    out = _harness.write_record("bench_x", {"a": 1}, out=tmp_path / "sub" / "x.json")
    assert out == tmp_path / "sub" / "x.json"
    payload = json.loads(out.read_text())
    assert payload["results"] == {"a": 1} and payload["git_commit"] == "abc1234"
    monkeypatch.setenv("DYNMASK_BENCH_DIR", str(tmp_path / "env"))
    assert _harness.write_record("bench_x", {"a": 2}) == tmp_path / "env" / "bench_x.json"
    assert _harness.write_record("bench_x", {"a": 3}, record=False) is None
