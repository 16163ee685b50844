"""Resume is exact or refused: whole checkpoints, fingerprints, kept probes, clear errors.

The fault-injection test kills the writer (an exception no handler catches) at every
filesystem step of a run, resumes, and requires the uninterrupted run's numbers bit for bit
or a clear refusal. A tiny model on 16 sequences keeps the whole file to seconds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from dynmask_viz import experiments
from dynmask_viz.experiments import ExperimentConfig, load_pretraining_data, load_run, run_experiment, train

runner = __import__("dynmask_viz.experiments.runner", fromlist=["run_probe"])

# 2 steps per epoch, 2 epochs: checkpoints at steps 2 and 4, then the results.
CFG = ExperimentConfig.from_preset(
    "cpu-tiny",
    limit_sequences=16,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 8, "epochs": 2},
    dupe_factor=2,
    eval_sequences=8,
    gap_sequences=8,
    probe={"seeds": (0,), "epochs": 1, "train_limit": 16},
    device="cpu",
)
# Exceptions whose raw text is not a message for a user (what the issue saw).
RAW = {"JSONDecodeError", "KeyError", "SafetensorError", "UnpicklingError", "EOFError"}


@pytest.fixture(scope="module")
def data():
    return load_pretraining_data(CFG)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The uninterrupted run: its record and final weights."""
    out = tmp_path_factory.mktemp("straight")
    record = train(CFG, out, data=data, progress=False)
    return record, _weights(out)


def _weights(out: Path) -> dict:
    return safetensors.torch.load_file(str(out / "checkpoint" / "model.safetensors"))


def _strip(record: dict) -> dict:
    """What must be identical between two runs: everything but wall times and provenance."""
    epochs = [{k: v for k, v in e.items() if k != "wall_s"} for e in record["epochs"]]
    return {"steps": record["steps"], "epochs": epochs, "final": record["final"]}


def _same_as(straight, record: dict, out: Path) -> bool:
    ref, ref_weights = straight
    weights = _weights(out)
    on_disk = json.loads((out / "results.json").read_text())
    return (
        _strip(record) == _strip(ref) == _strip(on_disk)
        and record["status"] == "complete"
        and weights.keys() == ref_weights.keys()
        and all(torch.equal(weights[k], ref_weights[k]) for k in weights)
    )


class Killed(BaseException):
    """A simulated kill: not an Exception, so no handler of the code under test swallows it."""


class Killer:
    """Counts the filesystem steps under ``root`` and kills the process at step ``at``.

    Steps: every ``os.replace``/``os.rename`` (killed before it), every ``torch.save`` and
    safetensors ``save_model`` (killed halfway: the file is left truncated) and every
    ``shutil.rmtree`` (killed after removing one file).
    """

    def __init__(self, monkeypatch, root: Path, at: int | None = None):
        self.root, self.at, self.log = str(root), at, []
        real = {
            "replace": os.replace,
            "rename": os.rename,
            "rmtree": shutil.rmtree,
            "save": torch.save,
            "save_model": safetensors.torch.save_model,
        }

        def step(kind: str, path, half=None) -> None:
            if not str(path).startswith(self.root) or self.at == -1:
                return
            self.log.append((kind, Path(path).name))
            if len(self.log) == self.at:
                if half is not None:
                    half()
                self.at = -1  # one kill per run
                raise Killed(f"killed at {kind} {path}")

        def truncate(path) -> None:
            size = Path(path).stat().st_size
            with open(path, "r+b") as f:
                f.truncate(size // 2)

        def partial_rmtree(path) -> None:
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            if files:
                files[0].unlink()

        def replace(src, dst, *a, **kw):
            step("replace", dst)
            return real["replace"](src, dst, *a, **kw)

        def rename(src, dst, *a, **kw):
            step("rename", dst)
            return real["rename"](src, dst, *a, **kw)

        def rmtree(path, *a, **kw):
            step("rmtree", path, lambda: partial_rmtree(path))
            return real["rmtree"](path, *a, **kw)

        def save(obj, f, *a, **kw):
            step("torch.save", f, lambda: (real["save"](obj, f, *a, **kw), truncate(f)))
            return real["save"](obj, f, *a, **kw)

        def save_model(model, filename, *a, **kw):
            step(
                "save_model",
                filename,
                lambda: (real["save_model"](model, filename, *a, **kw), truncate(filename)),
            )
            return real["save_model"](model, filename, *a, **kw)

        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(shutil, "rmtree", rmtree)
        monkeypatch.setattr(torch, "save", save)
        monkeypatch.setattr(safetensors.torch, "save_model", save_model)


def _is_clear_refusal(exc: BaseException) -> bool:
    text = str(exc)
    return type(exc).__name__ not in RAW and "checkpoint" in text and ("delete" in text or "--fresh" in text)


def test_kill_at_every_step_of_a_run_then_resume_is_exact_or_refused(tmp_path, data, straight, monkeypatch):
    counter = Killer(monkeypatch, tmp_path / "count")
    train(CFG, tmp_path / "count", data=data, progress=False)
    steps = list(counter.log)
    assert sum(kind in ("torch.save", "save_model") for kind, _ in steps) == 4  # 2 checkpoints
    monkeypatch.undo()
    outcomes = {}
    for at in range(1, len(steps) + 1):
        out = tmp_path / f"kill{at}"
        with monkeypatch.context() as m:
            Killer(m, out, at)
            with pytest.raises(Killed):
                train(CFG, out, data=data, progress=False)
        try:
            resumed = train(CFG, out, data=data, progress=False)
        except Exception as exc:  # a refusal is allowed, if it is a clear one
            outcomes[(at, *steps[at - 1])] = "refused" if _is_clear_refusal(exc) else f"unclear: {exc!r}"
            continue
        exact = _same_as(straight, resumed, out)
        leftovers = {p.name for p in out.iterdir()} - {"results.json", "curves.csv", "checkpoint", ".lock"}
        outcome = "exact" if exact and not leftovers else f"exact={exact}, leftovers {leftovers}"
        outcomes[(at, *steps[at - 1])] = outcome
    bad = {step: outcome for step, outcome in outcomes.items() if outcome not in ("exact", "refused")}
    assert not bad, f"kill points with a wrong resume: {bad} (all: {outcomes})"
    # This protocol never needs to refuse: a kill leaves a whole checkpoint or the previous one.
    assert set(outcomes.values()) == {"exact"}, outcomes


# --- fingerprints: a folder is continued or reused only by the config that wrote it -------------


def test_finished_run_is_not_reused_for_another_condition_and_seed(tmp_path, data):
    out = tmp_path / "run"
    run_experiment(CFG.replace(condition="static", seed=0), out, data=data, probe=False, progress=False)
    before = (out / "results.json").read_bytes()
    other = CFG.replace(condition="dynamic", seed=3)
    with pytest.raises(
        ValueError, match=r"(?s)condition: stored 'static', now 'dynamic'.*seed: stored 0, now 3"
    ) as info:
        run_experiment(other, out, data=data, probe=False, progress=False)
    assert (out / "results.json").read_bytes() == before
    assert "--fresh" in str(info.value)  # the message says how to start fresh, and fresh does:
    record = run_experiment(other, out, data=data, probe=False, progress=False, fresh=True)
    reference = train(other, tmp_path / "reference", data=data, progress=False)
    assert record["condition"] == "dynamic" and record["seed"] == 3
    assert _strip(record) == _strip(reference)


def test_stopped_run_is_not_resumed_with_another_batch_size(tmp_path, data):
    out = tmp_path / "run"
    train(CFG.replace(optim={"batch_size": 4}), out, data=data, progress=False, stop_after_steps=3)
    with pytest.raises(ValueError, match=r"optim\.batch_size: stored 4, now 8"):
        train(CFG, out, data=data, progress=False)
    assert not (out / "results.json").exists()


def test_checkpoint_of_another_device_type_is_refused(tmp_path, data):
    from dynmask_viz.experiments.fingerprint import RunMismatchError
    from dynmask_viz.experiments.folder import resumable_checkpoint

    out = tmp_path / "run"
    train(CFG, out, data=data, progress=False, stop_after_steps=1)
    fingerprint = experiments.run_fingerprint(CFG, data.meta, probe=False)
    assert resumable_checkpoint(out, fingerprint, {"device_type": "cpu", "world_size": 1}) is not None
    with pytest.raises(RunMismatchError, match="device_type: stored 'cpu', now 'cuda'"):
        resumable_checkpoint(out, fingerprint, {"device_type": "cuda", "world_size": 1})
    with pytest.raises(RunMismatchError, match="world_size: stored 1, now 2"):
        resumable_checkpoint(out, fingerprint, {"device_type": "cpu", "world_size": 2})


@pytest.fixture
def fake_probe(monkeypatch):
    """run_probe replaced by a counted stub (the real one fine-tunes for seconds)."""
    calls = []

    def probe(config, tokenizer, weights, **kw):
        calls.append(weights)
        acc = 0.5 + 0.01 * config.seed
        return {"seeds": [0], "dev_accuracy": [acc], "test_accuracy": [acc], "median_test_accuracy": acc}

    monkeypatch.setattr(runner, "run_probe", probe)
    return calls


def test_compare_refuses_folders_of_another_config_and_summarizes_only_its_runs(tmp_path, data, fake_probe):
    out = tmp_path / "cmp"
    other = CFG.replace(optim={"batch_size": 4})
    run_experiment(other.replace(condition="static", seed=0), out / "static_seed0", data=data, progress=False)
    with pytest.raises(ValueError, match=r"(?s)static_seed0.*optim\.batch_size: stored 4, now 8"):
        runner.compare(CFG, out, seeds=[0], baseline=False, progress=False)
    assert not (out / "dynamic_seed0").exists()  # refused before anything was trained

    shutil.rmtree(out)
    # A run of a seed not asked for, lying in the folder, stays out of the summary.
    run_experiment(CFG.replace(condition="static", seed=7), out / "static_seed7", data=data, progress=False)
    summary = runner.compare(CFG, out, seeds=[0], progress=False)
    assert {c: row["seeds"] for c, row in summary["conditions"].items()} == {"static": [0], "dynamic": [0]}
    calls = len(fake_probe)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    again = runner.compare(CFG, out, seeds=[0], progress=False)  # everything reused
    assert len(fake_probe) == calls and again["conditions"] == summary["conditions"]
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}


def test_compare_reuses_the_baseline_only_for_its_config(tmp_path, data, fake_probe):
    out = tmp_path / "cmp"
    runner.compare(CFG.replace(probe={"epochs": 2}), out, seeds=[0], progress=False)
    for run_dir in out.glob("*_seed0"):
        shutil.rmtree(run_dir)
    with pytest.raises(ValueError, match=r"(?s)baseline_probe\.json.*probe\.epochs: stored 2, now 1"):
        runner.compare(CFG, out, seeds=[0], progress=False)
    assert not list(out.glob("*_seed0")), "the baseline is checked before anything is trained"
    (out / "baseline_probe.json").write_text('{"median_test_accuracy": 0.5}')  # an older version's
    with pytest.raises(ValueError, match=r"baseline_probe\.json has no fingerprint.*delete it"):
        runner.compare(CFG, out, seeds=[0], progress=False)


def test_rerunning_a_finished_run_keeps_its_probe(tmp_path, data, fake_probe, monkeypatch):
    out = tmp_path / "run"
    first = run_experiment(CFG, out, data=data, progress=False)
    assert len(fake_probe) == 1 and first["probe"] is not None
    before = (out / "results.json").read_bytes()
    with monkeypatch.context() as m:
        Killer(m, out, at=1)  # a kill at the first write into the folder, if there is one
        again = run_experiment(CFG, out, data=data, progress=False)
    assert len(fake_probe) == 1, "the probe was redone"
    assert (out / "results.json").read_bytes() == before and again["probe"] == first["probe"]


# --- damaged files: a message naming the file and what to do ----------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00not what it should be{")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "name,damage",
    [
        ("state.json", _garbage),
        ("state.json", lambda p: p.write_text("{}")),
        ("model.safetensors", _truncate),
        ("optimizer.pt", _garbage),
        ("manifest.json", _garbage),
    ],
)
def test_damaged_checkpoint_is_refused_with_the_file_named(tmp_path, data, name, damage):
    out = tmp_path / "run"
    train(CFG, out, data=data, progress=False, stop_after_steps=1)
    damage(out / "checkpoint" / name)
    with pytest.raises(Exception) as info:
        train(CFG, out, data=data, progress=False)
    text = str(info.value)
    assert type(info.value).__name__ not in RAW and "weights_only" not in text, repr(info.value)
    assert name in text and "delete" in text, text


def test_damaged_results_json_is_named(tmp_path, data):
    out = tmp_path / "run"
    train(CFG, out, data=data, progress=False)
    _truncate(out / "results.json")
    with pytest.raises(ValueError, match="results.json is damaged") as info:
        run_experiment(CFG, out, data=data, probe=False, progress=False)
    assert type(info.value).__name__ not in RAW
    with pytest.raises(ValueError, match="results.json is damaged"):
        load_run(out)


def test_old_checkpoint_without_manifest_is_refused(tmp_path, data):
    out = tmp_path / "run"
    train(CFG, out, data=data, progress=False, stop_after_steps=1)
    (out / "checkpoint" / "manifest.json").unlink(missing_ok=True)
    with pytest.raises(Exception, match="no manifest.json") as info:
        train(CFG, out, data=data, progress=False)
    assert type(info.value).__name__ not in RAW


def test_leftovers_of_killed_writes_are_removed(tmp_path, data):
    out = tmp_path / "run"
    train(CFG, out, data=data, progress=False, stop_after_steps=1)
    (out / "checkpoint.tmp-99999").mkdir()
    (out / "checkpoint.tmp-99999" / "model.safetensors").write_bytes(b"half")
    (out / ".results.json.99999.tmp").write_text("{")
    (out / ".curves.csv.99999.tmp").write_text("epoch")
    train(CFG, out, data=data, progress=False)
    assert {p.name for p in out.iterdir()} <= {"results.json", "curves.csv", "checkpoint", ".lock"}


def test_stop_after_must_be_a_positive_step(tmp_path, data):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="stop_after_steps must be an int >= 1"):
            train(CFG, tmp_path / "run", data=data, progress=False, stop_after_steps=bad)
    assert not (tmp_path / "run" / "checkpoint").exists()
