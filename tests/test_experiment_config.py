"""ExperimentConfig: nested groups (model / optim / probe), presets, JSON round trip, old records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynmask_viz.experiments import (
    PRESETS,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    ProbeConfig,
    load_runs,
)

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results" / "pretraining_cpu-tiny"


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
    records = load_runs(RESULTS)
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
