"""The dupe-factor sweep: its lines, the pairing by construction, the statistics, budget and workers.

A tiny model on 64 sequences for 2 epochs, static k in (1, 2) and dynamic, 2 seeds: seconds.
"""

from __future__ import annotations

import importlib
import json
import math
import statistics

import pytest

from dynmask_viz.experiments import (
    ExperimentConfig,
    RunMismatchError,
    load_pretraining_data,
    load_sweep_lines,
    sweep,
    write_sweep_summary,
)
from dynmask_viz.experiments.__main__ import main
from dynmask_viz.experiments.baselines import unigram_baseline
from dynmask_viz.experiments.sweep_stats import mean_interval, summarize_sweep, t_quantile

TINY = ExperimentConfig.from_preset(
    "cpu-tiny",
    limit_sequences=64,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 16, "epochs": 2},
    eval_sequences=16,
    gap_sequences=16,
    probe={"train_limit": 64},
    device="cpu",
)
METRICS = ("val_loss", "val_accuracy", "memorization_gap", "trained_mask_loss", "fresh_mask_loss")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    summary = sweep(TINY, out, dupe_factors=(1, 2), seeds=(0, 1), progress=False)
    return out, summary, {line["name"]: line for line in load_sweep_lines(out)}


def test_one_line_per_run_and_no_weights_kept(swept):
    out, summary, lines = swept
    assert sorted(lines) == sorted(
        f"{name}_seed{s}" for s in (0, 1) for name in ("dynamic", "static_k1", "static_k2")
    )
    for name, line in lines.items():
        assert line["condition"] == name.split("_")[0]
        assert line["dupe_factor"] == (None if name.startswith("dynamic") else int(name.split("_")[1][1:]))
        assert line["curves"]["epoch"] == [1, 2]
        assert line["curves"]["val_loss"][-1] == line["val_loss"]
        assert 0.0 <= line["probe_test_accuracy"] <= 1.0 and line["device"].startswith("cpu")
        assert line["precision"] == "fp32" and line["run_wall_s"] > 0
        run_dir = out / name
        assert (run_dir / "results.json").is_file() and (run_dir / "curves.csv").is_file()
        assert not list(run_dir.glob("checkpoint*"))  # the weights of nothing are kept
    assert summary["plan"]["runs_done"] == 6 and summary["plan"]["runs_missing"] == []
    data = load_pretraining_data(TINY)  # the baseline is scored on the runs' validation masks
    uni = unigram_baseline(data.train, data.validation[:16], data.vocab, seed=TINY.eval_mask_seed)
    assert summary["unigram_baseline"] == uni
    assert (out / "summary.md").read_text().count("| static, k=") == 2


def test_paired_runs_coincide_until_epoch_k(swept):
    _, _, lines = swept
    for seed in (0, 1):
        dyn, k1, k2 = (lines[f"{name}_seed{seed}"] for name in ("dynamic", "static_k1", "static_k2"))
        # Epoch 1: same init, data order, training masks (index 0) and validation masks.
        assert k1["curves"]["val_loss"][0] == k2["curves"]["val_loss"][0] == dyn["curves"]["val_loss"][0]
        # k = 2 >= epochs: static draws exactly dynamic's masks, so the runs agree bit for bit.
        assert [k2[m] for m in METRICS] == [dyn[m] for m in METRICS]
        assert k2["probe_test_accuracy"] == dyn["probe_test_accuracy"]
        # k = 1 repeats mask 0 in epoch 2, where dynamic draws mask 1: they part there.
        assert k1["curves"]["val_loss"][1] != dyn["curves"]["val_loss"][1]
    assert lines["dynamic_seed0"]["curves"]["val_loss"][0] != lines["dynamic_seed1"]["curves"]["val_loss"][0]


def test_t_quantiles_match_the_table():
    table = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 9: 2.2622, 10: 2.2281, 30: 2.0423}
    for df, value in table.items():
        assert t_quantile(df) == pytest.approx(value, abs=1e-4)
    assert t_quantile(4, 0.90) == pytest.approx(2.1318, abs=1e-4)
    with pytest.raises(ValueError, match="df must be an int >= 1"):
        t_quantile(0)


def test_statistics_against_a_hand_computation(swept):
    _, summary, lines = swept
    gaps = [lines[f"static_k1_seed{s}"]["memorization_gap"] for s in (0, 1)]
    mean, sd = sum(gaps) / 2, abs(gaps[0] - gaps[1]) / math.sqrt(2)  # n = 2: sd = |a - b| / sqrt(2)
    half = 12.706204736 * sd / math.sqrt(2)
    row = summary["conditions"]["static_k1"]["memorization_gap"]
    assert row["mean"] == pytest.approx(mean) and row["sd"] == pytest.approx(sd)
    assert row["ci95"] == pytest.approx([mean - half, mean + half])
    diffs = [lines[f"static_k1_seed{s}"]["val_loss"] - lines[f"dynamic_seed{s}"]["val_loss"] for s in (0, 1)]
    paired = summary["paired_differences"]["static_k1 - dynamic"]
    assert paired["seeds"] == [0, 1] and paired["val_loss"]["values"] == pytest.approx(diffs)
    assert paired["val_loss"]["mean"] == pytest.approx(statistics.fmean(diffs))
    assert list(summary["conditions"]) == ["static_k1", "static_k2", "dynamic"]


def _line(condition: str, k: int | None, seed: int, gap: float) -> dict:
    return {"condition": condition, "dupe_factor": k, "seed": seed, "memorization_gap": gap}


def test_pairs_only_seeds_both_conditions_have():
    line = _line
    summary = summarize_sweep(
        [
            line("dynamic", None, 0, 0.0),
            line("dynamic", None, 1, 0.1),
            line("static", 5, 1, 0.4),
            line("static", 5, 2, 0.9),
        ]
    )
    paired = summary["paired_differences"]["static_k5 - dynamic"]
    assert paired["seeds"] == [1] and paired["memorization_gap"]["values"] == pytest.approx([0.3])
    assert paired["memorization_gap"]["ci95"] is None  # one pair: no interval, not a made-up one
    assert mean_interval([1.0, 2.0, 3.0])["ci95"] == pytest.approx(
        [2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)]
    )


def test_a_second_sweep_reuses_lines_and_refuses_another_config(swept):
    out, _, lines = swept
    again = sweep(TINY, out, dupe_factors=(1, 2), seeds=(0, 1), progress=False)
    assert len(load_sweep_lines(out)) == 6 and again["plan"]["runs_done"] == 6
    with pytest.raises(RunMismatchError, match="of another config"):
        sweep(TINY.replace(optim={"lr": 1e-3}), out, dupe_factors=(1,), seeds=(0,), progress=False)


def test_time_budget_starts_no_run_after_it(tmp_path):
    summary = sweep(TINY, tmp_path, dupe_factors=(1,), seeds=(0, 1), time_budget_s=1e-9, progress=False)
    assert load_sweep_lines(tmp_path) == []
    assert summary["plan"]["runs_missing"] == [
        "dynamic_seed0",
        "static_k1_seed0",
        "dynamic_seed1",
        "static_k1_seed1",
    ]
    assert "Runs: 0 of 4 done" in (tmp_path / "summary.md").read_text()
    meta = json.loads((tmp_path / "sweep.json").read_text())
    # A killed sweep leaves sweep.json as it wrote it at its start: without provenance.
    (tmp_path / "sweep.json").write_text(json.dumps(meta | {"provenance": None}))
    assert write_sweep_summary(tmp_path)["plan"]["runs_done"] == 0
    assert "cut before its end" in (tmp_path / "summary.md").read_text()


def test_two_workers_give_the_numbers_of_one(swept, tmp_path):
    _, _, lines = swept
    sweep(TINY, tmp_path, dupe_factors=(1,), seeds=(0,), workers=2, progress=False)
    other = {line["name"]: line for line in load_sweep_lines(tmp_path)}
    assert sorted(other) == ["dynamic_seed0", "static_k1_seed0"]
    for name, line in other.items():
        keys = (*METRICS, "probe_test_accuracy", "curves")
        assert [line[k] for k in keys] == [lines[name][k] for k in keys]


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="dupe_factors must be a non-empty sequence of ints >= 1"):
        sweep(TINY, tmp_path, dupe_factors=(0, 2))
    with pytest.raises(ValueError, match="seeds holds a value twice"):
        sweep(TINY, tmp_path, seeds=(1, 1))
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        sweep(TINY, tmp_path, workers=0)
    with pytest.raises(ValueError, match="time_budget_s must be > 0"):
        sweep(TINY, tmp_path, time_budget_s=0)


def test_command_line_passes_its_options(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_sweep(config, out, **kwargs):
        seen.update(kwargs, config=config)
        (tmp_path / "summary.md").write_text("table\n")
        return {"plan": {"runs_missing": []}}

    monkeypatch.setattr(importlib.import_module("dynmask_viz.experiments.sweep"), "sweep", fake_sweep)
    argv = ["sweep", "--out", str(tmp_path), "--dupe-factors", "1", "5", "--seeds", "3", "4"]
    assert main([*argv, "--workers", "2", "--epochs", "3", "--time-budget-s", "60", "--device", "cpu"]) == 0
    assert seen["dupe_factors"] == [1, 5] and seen["seeds"] == [3, 4] and seen["workers"] == 2
    assert seen["threads"] == 1 and seen["time_budget_s"] == 60.0
    assert seen["config"].optim.epochs == 3 and seen["config"].device == "cpu" and not seen["config"].compile
    assert capsys.readouterr().out == "table\n"
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--out", str(tmp_path), "--workers", "0"])
    assert exc.value.code == 2


def test_a_damaged_line_is_named(tmp_path):
    (tmp_path / "runs.jsonl").write_text(json.dumps({"name": "a"}) + "\n{cut")
    with pytest.raises(ValueError, match="line 2, is not a JSON record"):
        load_sweep_lines(tmp_path)
