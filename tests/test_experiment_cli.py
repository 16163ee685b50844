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
        ("--threads", "0", "--threads: must be auto or >= 1; got 0"),
        ("--threads", "two", "--threads: expected auto or a whole number >= 1, got 'two'"),
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


@pytest.mark.parametrize(("option", "threads"), [([], 1), (["--threads", "2"], 2)])
def test_threads_reach_the_run_and_come_back(tmp_path, capsys, option, threads):
    """cpu-tiny on the CPU trains on one thread by default (auto); the caller's count comes back."""
    import json

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        out = tmp_path / "run"
        assert main([*BASE, "--limit", "16", "--batch-size", "8", "--out", str(out), *option]) == 0
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    record = json.loads((out / "results.json").read_text())
    assert record["provenance"]["device"].startswith(f"cpu ({threads} threads")


def _finished_run(tmp_path, capsys) -> tuple[list[str], object]:
    out = tmp_path / "run"
    argv = [*BASE, "--limit", "16", "--batch-size", "8", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    return argv, out


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def test_damaged_results_json_is_a_message_not_a_traceback(tmp_path, capsys):
    argv, out = _finished_run(tmp_path, capsys)
    (out / "results.json").write_text("{bad\n", encoding="utf-8")
    assert main(argv) == 1
    _one_line_error(capsys, "results.json is damaged (not JSON")


def test_unfinished_results_json_is_a_message_not_a_traceback(tmp_path, capsys):
    import json

    argv, out = _finished_run(tmp_path, capsys)
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))
    (out / "results.json").write_text(json.dumps(dict(record, status="stopped")), encoding="utf-8")
    assert main(argv) == 1
    _one_line_error(capsys, "has status 'stopped', not 'complete'", "--fresh")


def test_a_folder_locked_by_another_process_is_a_message_not_a_traceback(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock\n"
            f"lock = FileLock({str(out / '.lock')!r}); lock.acquire(); print('held', flush=True)\n"
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main([*BASE, "--limit", "16", "--batch-size", "8", "--out", str(out)]) == 1
    finally:
        holder.communicate("", timeout=30)
    _one_line_error(capsys, "Another process is writing to", "wait for it to finish")


def test_too_little_data_is_a_message_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*BASE, "--limit", "1", "--out", str(out)]) == 1
    _one_line_error(capsys, "Only 1 training sequences for batch_size")


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch):
    """Only the expected, user-caused errors become messages: a bug still raises."""
    from dynmask_viz.experiments import runner

    def bug(*args, **kwargs):
        raise ValueError("a genuine bug")

    monkeypatch.setattr(runner, "run_experiment", bug)
    with pytest.raises(ValueError, match="a genuine bug"):
        main([*BASE, "--out", str(tmp_path / "run")])


@pytest.mark.parametrize("device", ["banana", "cuda:x", "cpu:", ":0", "cuda:-1", ""])
def test_nonsense_device_is_refused_while_parsing(tmp_path, capsys, device):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main([*BASE, "--out", str(out), "--device", device])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and all(form in err for form in ("cpu", "cuda", "cuda:0", "mps")), err
    assert not out.exists()


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_config_accepts_the_device_forms(device):
    assert ExperimentConfig.from_preset("cpu-tiny").replace(device=device).device == device


@pytest.mark.parametrize("device", ["banana", "cuda:x", "gpu", "", 0])
def test_config_refuses_a_nonsense_device(device):
    with pytest.raises((ValueError, TypeError), match=r"^device must be"):
        ExperimentConfig.from_preset("cpu-tiny").replace(device=device)


@pytest.mark.parametrize(
    "device,fragment", [("cuda", "CUDA is not available"), ("mps", "MPS is not available")]
)
def test_an_unavailable_device_is_a_message_before_anything_runs(
    tmp_path, capsys, monkeypatch, device, fragment
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "run"
    assert main([*BASE, "--out", str(out), "--device", device]) == 1
    _one_line_error(capsys, f"--device {device}", fragment)
    assert not out.exists()
