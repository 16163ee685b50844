"""The experiment's command line refuses values that make no sense, and explains refusals."""

from __future__ import annotations

import pytest

from dynmask_viz.experiments import ExperimentConfig
from dynmask_viz.experiments.__main__ import main

# Small enough that a value the CLI wrongly accepts still finishes in seconds.
BASE = ["run", "--preset", "cpu-tiny", "--max-steps", "1", "--no-probe", "--quiet", "--device", "cpu"]


@pytest.mark.parametrize(
    "option,value,expected",
    [
        ("--limit", "-60", "--limit: must be >= 1; got -60"),
        ("--limit", "0", "--limit: must be >= 1; got 0"),
        ("--stop-after", "-1", "--stop-after: must be >= 1; got -1"),
        ("--seed", "100000000000000000000", "--seed: must be in [0, 4294967296)"),
        ("--seed", "-1", "--seed: must be in [0, 4294967296)"),
        ("--seed", "1e20", "--seed: expected a whole number, got '1e20'"),
        ("--batch-size", "0", "--batch-size: must be >= 1"),
        ("--epochs", "-2", "--epochs: must be >= 1"),
        ("--train-fraction", "0", "--train-fraction: must be in (0, 1]"),
        ("--probe-train-limit", "-5", "--probe-train-limit: must be >= 1"),
    ],
)
def test_nonsense_values_are_refused_before_anything_runs(tmp_path, capsys, option, value, expected):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main([*BASE, "--out", str(out), option, value])
    assert info.value.code == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_config_refuses_what_the_cli_refuses():
    base = ExperimentConfig.from_preset("cpu-tiny")
    with pytest.raises(ValueError, match="limit_sequences must be >= 1 or None"):
        base.replace(limit_sequences=-60)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32\)"):
        base.replace(seed=10**20)
    with pytest.raises(TypeError, match="seed must be an int"):
        base.replace(seed=1e20)
    with pytest.raises(ValueError, match="ProbeConfig.train_limit must be >= 1 or None"):
        base.replace(probe={"train_limit": 0})
    with pytest.raises(ValueError, match="eval_sequences must be >= 1 or None"):
        base.replace(eval_sequences=-1)


def test_fresh_is_documented_and_a_mismatch_is_a_message_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--fresh" in capsys.readouterr().out
    out = str(tmp_path / "run")
    small = [*BASE, "--limit", "16", "--batch-size", "8", "--out", out]
    assert main([*small, "--condition", "static"]) == 0
    capsys.readouterr()
    assert main([*small, "--condition", "dynamic", "--seed", "3"]) == 1
    err = capsys.readouterr().err
    assert "condition: stored 'static', now 'dynamic'" in err and "--fresh" in err and "Traceback" not in err
    assert main([*small, "--condition", "dynamic", "--seed", "3", "--fresh"]) == 0


def test_compare_no_probe_pretrains_only(tmp_path, monkeypatch):
    """`compare --no-probe` used to skip only the baseline and still fine-tune every run."""
    from dynmask_viz.experiments import runner

    def no_probe(*args, **kwargs):
        raise AssertionError("compare --no-probe fine-tuned a probe")

    monkeypatch.setattr(runner, "run_probe", no_probe)
    out = tmp_path / "cmp"
    argv = ["compare", *BASE[1:], "--limit", "16", "--batch-size", "8", "--seeds", "0", "--out", str(out)]
    assert main(argv) == 0
    for condition in ("static", "dynamic"):
        assert (out / f"{condition}_seed0" / "results.json").is_file()
    assert not (out / "baseline_probe.json").exists()
