"""ExperimentConfig: nested groups (model / optim / probe), presets, JSON round trip, old records,
and the fingerprint that ties a run folder to its config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynmask_viz.experiments import (
    PRESETS,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    ProbeConfig,
    load_runs,
    run_fingerprint,
    validate_run,
)
from dynmask_viz.experiments.fingerprint import MASKING_ENGINE, differences, record_fingerprint
from dynmask_viz.experiments.results import SCHEMA

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results" / "pretraining_cpu-tiny"
# Records as first committed (schema v1, flat config, no fingerprint, masking engine 1).
V1_RUNS = Path(__file__).resolve().parent / "fixtures" / "pretraining_v1"


def test_groups_replace_only_the_fields_given():
    base = ExperimentConfig.from_preset("cpu-tiny")
    changed = base.replace(seed=3, model={"hidden": 64}, optim={"epochs": 4}, probe={"seeds": [1, 2]})
    assert changed.model == ModelConfig(n_layers=2, hidden=64, heads=2, intermediate=256)
    assert changed.optim.epochs == 4 and changed.optim.lr == base.optim.lr
    assert changed.probe.seeds == (1, 2) and changed.probe.max_len == base.probe.max_len
    assert changed.seed == 3 and base.model.hidden == 128  # frozen: the preset is untouched
    assert isinstance(changed.replace(optim=OptimConfig(epochs=2)).optim, OptimConfig)


def test_json_round_trip_of_every_preset():
    for name, preset in PRESETS.items():
        data = json.loads(json.dumps(preset.to_dict()))
        assert set(data) >= {"model", "optim", "probe"} and "n_layers" not in data, name
        assert ExperimentConfig.from_dict(data) == preset


def test_flat_records_of_earlier_runs_still_load():
    records = load_runs(V1_RUNS)
    assert records and all("n_layers" in r["config"] for r in records)  # committed before the groups
    config = ExperimentConfig.from_dict(records[0]["config"])
    assert config.model.n_layers == records[0]["config"]["n_layers"]
    assert config.optim.epochs == records[0]["config"]["epochs"]
    assert config.probe.seeds == tuple(records[0]["config"]["probe_seeds"])
    assert config.to_dict()["model"]["hidden"] == records[0]["config"]["hidden"]


def test_bad_values_name_the_field():
    base = ExperimentConfig()
    with pytest.raises(ValueError, match=r"n_layers -> model=\{'n_layers': \.\.\.\}"):
        base.replace(n_layers=1)
    with pytest.raises(ValueError, match=r"probe_seeds -> probe=\{'seeds'"):
        base.replace(probe_seeds=(0,))
    with pytest.raises(ValueError, match="ModelConfig.hidden .* divisible by heads"):
        base.replace(model={"hidden": 33})
    with pytest.raises(ValueError, match="OptimConfig.batch_size must be >= 1"):
        base.replace(optim={"batch_size": 0})
    with pytest.raises(ValueError, match="Unknown ProbeConfig fields \\['sedes'\\]"):
        ExperimentConfig(probe={"sedes": (0,)})
    with pytest.raises(ValueError, match="Unknown ExperimentConfig fields"):
        ExperimentConfig.from_dict({"bogus": 1})
    with pytest.raises(TypeError, match="ExperimentConfig.probe must be a ProbeConfig or a dict"):
        ExperimentConfig(probe=3)
    assert ProbeConfig().seeds == (0, 1, 2)


# --- fingerprints ----------------------------------------------------------------------------

META = {
    "source_sha256": "ab" * 32,
    "cache_key": "0123456789abcdef",
    "train_sequences": 1073,
    "validation_sequences": 1070,
    "vocab_size": 4096,
    "cache_path": "/anywhere/pretraining.pt",  # not an identity: left out
    "train_titles": ["Anarchism"],
}


def _leaves(value, prefix=""):
    if isinstance(value, dict):
        return {k: v for key, inner in value.items() for k, v in _leaves(inner, f"{prefix}{key}.").items()}
    return {prefix[:-1]: value}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_fingerprint_holds_every_field_that_shapes_a_run(name):
    from dynmask_viz.experiments.fingerprint import NOT_FINGERPRINTED

    config = PRESETS[name]
    fields = run_fingerprint(config, META, probe=True)["fields"]
    expected = {
        k: v for k, v in _leaves(config.to_dict()).items() if k.split(".")[0] not in NOT_FINGERPRINTED
    }
    expected |= {f"data.{k}": META[k] for k in META if k not in ("cache_path", "train_titles")}
    expected["masking_engine"] = MASKING_ENGINE  # how masks are drawn from a config
    assert fields == expected
    assert NOT_FINGERPRINTED == {"preset", "seeds", "device"}  # labels and runtime only
    without_probe = run_fingerprint(config, META, probe=False)["fields"]
    assert without_probe == {k: v for k, v in expected.items() if not k.startswith("probe.")}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 3),
    batch_size=st.sampled_from([8, 16]),
    condition=st.sampled_from(["static", "dynamic"]),
    mlm_probability=st.sampled_from([0.15, 0.2]),
    cosmetic=st.tuples(st.sampled_from(["cpu-tiny", "custom"]), st.sampled_from(["auto", "cpu"])),
)
def test_fingerprints_are_equal_exactly_when_the_runs_are(
    seed, batch_size, condition, mlm_probability, cosmetic
):
    base = PRESETS["cpu-tiny"]
    other = base.replace(
        seed=seed,
        condition=condition,
        optim={"batch_size": batch_size},
        masking=dataclasses.replace(base.masking, mlm_probability=mlm_probability),
        preset=cosmetic[0],
        device=cosmetic[1],
        seeds=(seed, 9),
    )
    same_run = (seed, batch_size, condition, mlm_probability) == (0, 32, "dynamic", 0.15)
    a, b = run_fingerprint(base, META, probe=True), run_fingerprint(other, META, probe=True)
    assert (a["sha256"] == b["sha256"]) == same_run
    assert (differences(a, b) == []) == same_run


def test_records_without_a_fingerprint_still_load_and_get_one():
    records = load_runs(V1_RUNS)  # schema v1 (flat config), committed before fingerprints
    assert records and all("fingerprint" not in r for r in records)
    for record in records:
        config = ExperimentConfig.from_dict(record["config"])
        current = run_fingerprint(config, record["data"], probe=True)
        rebuilt = record_fingerprint(record)  # every field but the engine, which came later
        assert rebuilt["fields"] == {k: v for k, v in current["fields"].items() if k != "masking_engine"}
        # masks of engine 1 never selected [UNK]: such a record is not reused as today's
        assert differences(rebuilt, current) == [
            "masking_engine: stored 1, now 2 (engine 1: [UNK] was never selected for prediction)"
        ]
    v3 = dict(records[0], schema=SCHEMA)
    assert any("fingerprint" in p for p in validate_run(v3))
    v3["fingerprint"] = record_fingerprint(records[0])
    assert validate_run(v3) == []
    assert validate_run(dict(records[0], schema="dynmask-viz/pretraining-run/v2")) == []


def test_committed_results_are_reusable_by_the_readme_command():
    """`compare --preset cpu-tiny --out data/results/pretraining_cpu-tiny` (the data README's
    reproduce command) must find every committed run and the baseline matching its config: a
    missing or stale fingerprint there would refuse the command before anything runs."""
    from types import SimpleNamespace

    from dynmask_viz.experiments.folder import folder_problems
    from dynmask_viz.experiments.runner import _stored_baseline

    config = ExperimentConfig.from_preset("cpu-tiny")
    meta = json.loads((RESULTS / "static_seed0" / "results.json").read_text())["data"]
    problems = [
        p
        for seed in config.seeds
        for condition in ("static", "dynamic")
        for p in folder_problems(
            RESULTS / f"{condition}_seed{seed}", config.replace(condition=condition, seed=seed), meta
        )
    ]
    assert problems == []
    assert _stored_baseline(config, SimpleNamespace(meta=meta), RESULTS / "baseline_probe.json") is not None


# --- intra-op threads: a runtime choice (like the device), never part of what a run is ---

TINY = ExperimentConfig.from_preset(
    "cpu-tiny",
    device="cpu",
    limit_sequences=16,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 8, "epochs": 1, "max_steps": 2},
    eval_sequences=8,
    gap_sequences=8,
)


@pytest.fixture
def two_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("config", "threads", "inside"),
    [
        (ExperimentConfig.from_preset("cpu-tiny", device="cpu"), "auto", 1),  # 32 x 64 x 256: small
        (ExperimentConfig.from_preset("gpu", device="cpu"), "auto", 2),  # 128 x 256 x 1024: not small
        (ExperimentConfig.from_preset("cpu-tiny", device="cpu"), 3, 3),
        (ExperimentConfig.from_preset("cpu-tiny", device="cpu"), 2, 2),
    ],
)
def test_run_threads_picks_one_thread_for_small_cpu_presets(two_threads, config, threads, inside):
    import torch

    from dynmask_viz.experiments.threads import run_threads

    with run_threads(config, threads):
        assert torch.get_num_threads() == inside
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -1, True, 1.5, "two", None])
def test_run_threads_refuses_nonsense(threads):
    from dynmask_viz.experiments.threads import run_threads

    with pytest.raises(ValueError, match=r'^threads must be "auto" or an int >= 1'):
        run_threads(TINY, threads)


def test_training_results_do_not_depend_on_threads_and_the_count_comes_back(two_threads, tmp_path):
    """The same run with 1 and 2 threads, up to float rounding (the order of a split sum; like
    another CPU, so threads stay out of the fingerprint); the record names the count it ran
    with; the caller's 2 threads come back, also after an error."""
    import torch

    from dynmask_viz.experiments import load_pretraining_data
    from dynmask_viz.experiments.train import train

    data = load_pretraining_data(TINY)
    runs = {n: train(TINY, tmp_path / str(n), data=data, progress=False, threads=n) for n in (1, 2, "auto")}
    assert torch.get_num_threads() == 2
    assert runs[1]["steps"] == runs["auto"]["steps"]  # auto is one thread here: exactly the same run
    assert runs[1]["steps"]["loss"] == pytest.approx(runs[2]["steps"]["loss"], rel=1e-6)
    val = {n: [e["val_loss"] for e in runs[n]["epochs"]] for n in (1, 2)}
    assert val[1] == pytest.approx(val[2], rel=1e-6)  # measured: 1e-7 relative apart
    assert runs[1]["fingerprint"] == runs[2]["fingerprint"]
    assert "cpu (1 threads" in runs["auto"]["provenance"]["device"]
    assert "cpu (2 threads" in runs[2]["provenance"]["device"]


def test_threads_come_back_after_a_failed_run(two_threads, tmp_path, monkeypatch):
    import importlib

    import torch

    from dynmask_viz.experiments import load_pretraining_data

    train_module = importlib.import_module(
        "dynmask_viz.experiments.train"
    )  # the package's `train` is the function
    seen = []

    def crash(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("crashed mid-run")

    monkeypatch.setattr(train_module, "_train", crash)
    with pytest.raises(RuntimeError, match="crashed mid-run"):
        train_module.train(TINY, tmp_path, data=load_pretraining_data(TINY), progress=False)
    assert seen == [1] and torch.get_num_threads() == 2
