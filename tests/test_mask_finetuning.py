"""The mask fine-tuning experiment end to end (FAST preset): every condition runs, records are
atomic and resumable, stale records are refused, the summary and the kept model load back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dynmask_viz.hf import FullAttention, TopKKeys, layer_mask_of
from dynmask_viz.mask_finetuning import (
    CONDITIONS,
    MODEL_FOLDER,
    PRESETS,
    FinetuneConfig,
    StaleRunError,
    bootstrap_interval,
    build_rule,
    load_records,
    load_trained,
    run_all,
    summarize,
    summary_markdown,
)
from dynmask_viz.mask_finetuning.__main__ import main

FAST = PRESETS["fast"]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The CI path: every condition, one seed, through the command line."""
    out = tmp_path_factory.mktemp("maskft") / "fast"
    assert main(["run", "--preset", "fast", "--seeds", "0", "--threads", "1", "--out", str(out)]) == 0
    return out


def test_every_condition_runs_and_is_recorded(fast_run, capsys):
    records = {r["condition"]: r for r in load_records(fast_run)}
    assert set(records) == set(CONDITIONS)
    for name, r in records.items():
        assert r["fingerprint"]["condition"] == name and r["rule"] == build_rule(name, 0).name
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 < r["share_kept"] <= 1.0
        assert len(r["epoch_seconds"]) == FAST.epochs and r["steps"] == 4
        assert r["provenance"]["versions"]["torch"] == torch.__version__
    assert records["full"]["share_kept"] == 1.0
    assert records["random_drop"]["share_kept"] == pytest.approx(0.9, abs=0.02)
    assert records["topk_4"]["share_kept"] < records["topk_16"]["share_kept"] < 1.0
    # the baseline is scored under every rule that needs no learned parameters, and only those
    tto = records["full"]["test_time_only"]
    assert set(tto) == {n for n, c in CONDITIONS.items() if n != "full" and c.test_time_only}
    assert "dma" not in tto and "dma_untrained" not in tto
    summary = json.loads((fast_run / "summary.json").read_text())
    assert [r["condition"] for r in summary["rows"]] == list(CONDITIONS)
    assert summary["preset"] == "fast" and summary["config"] == FAST.to_dict()
    assert (fast_run / "summary.md").read_text() == summary_markdown(summary)


def test_a_rerun_keeps_finished_runs_and_refuses_stale_ones(fast_run, tmp_path):
    before = {p.name: p.read_text() for p in (fast_run / "runs").iterdir()}
    lines = []
    run_all(FAST, fast_run, conditions=["full", "topk_4"], seeds=[0], log=lines.append)
    assert lines == ["full seed 0: done before, kept", "topk_4 seed 0: done before, kept"]
    assert {p.name: p.read_text() for p in (fast_run / "runs").iterdir()} == before
    other = FAST.replace(lr=2e-4)
    with pytest.raises(StaleRunError, match=r"lr.*--fresh"):
        run_all(other, fast_run, conditions=["full"], seeds=[0], log=lines.append)
    assert {p.name: p.read_text() for p in (fast_run / "runs").iterdir()} == before  # nothing overwritten


def test_fresh_redoes_and_a_crash_loses_only_the_run_in_progress(tmp_path, monkeypatch):
    out = tmp_path / "crash"
    import dynmask_viz.mask_finetuning.runner as runner

    real = runner.finetune
    calls = []

    def dies_on_topk(config, condition, seed, data, **kw):
        calls.append(condition)
        if condition == "topk_4":
            raise KeyboardInterrupt
        return real(config, condition, seed, data, **kw)

    monkeypatch.setattr(runner, "finetune", dies_on_topk)
    with pytest.raises(KeyboardInterrupt):
        run_all(FAST, out, conditions=["full", "topk_4"], seeds=[0], log=lambda _: None)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["full_seed0.json"]  # no half file
    monkeypatch.setattr(runner, "finetune", real)
    lines = []
    run_all(FAST, out, conditions=["full", "topk_4"], seeds=[0], log=lines.append)
    assert lines[0] == "full seed 0: done before, kept" and lines[1].startswith("topk_4 seed 0: accuracy")
    # --fresh on one condition leaves two designs in the folder: no table mixes them
    with pytest.raises(
        ValueError, match=r"2 different configs \(1 like full_seed0.json; 1 like topk_4_seed0.json\)"
    ):
        run_all(FAST.replace(lr=2e-4), out, conditions=["full"], seeds=[0], fresh=True, log=lines.append)
    run_all(
        FAST.replace(lr=2e-4), out, conditions=["full", "topk_4"], seeds=[0], fresh=True, log=lines.append
    )
    assert {r["fingerprint"]["config"]["lr"] for r in load_records(out)} == {2e-4}


def test_the_kept_baseline_loads_back_and_predicts_as_scored(fast_run):
    model, meta = load_trained(fast_run / MODEL_FOLDER)
    assert meta["condition"] == "full" and meta["seed"] == 0
    assert isinstance(layer_mask_of(model), FullAttention)
    # its trained tensors are the saved ones (float16), the frozen ones the offline encoder's
    from safetensors.torch import load_file

    saved = load_file(str(fast_run / MODEL_FOLDER / "trained.safetensors"))
    params = dict(model.named_parameters())
    assert any(n.startswith("bert.encoder.layer.5.") for n in saved) and "classifier.weight" in saved
    assert not any(n.startswith("bert.embeddings.") or n.startswith("bert.encoder.layer.0.") for n in saved)
    for name, t in saved.items():
        assert torch.equal(params[name].detach(), t.float())


def test_summary_table_and_intervals(fast_run):
    summary = summarize(load_records(fast_run))
    full = summary["rows"][0]
    assert full["condition"] == "full" and "diff_mean" not in full
    for row in summary["rows"][1:]:
        lo, hi = row["diff_interval"]
        assert lo <= row["diff_mean"] <= hi
    table = summary_markdown(summary)
    assert table.count("\n") == len(CONDITIONS) + 2
    assert table.count("n/a (needs its own weights)") == 2  # dma and its untrained control


def test_bootstrap_interval_brackets_the_median_and_narrows_with_agreement():
    lo, hi = bootstrap_interval([0.70, 0.72, 0.74, 0.76, 0.78])
    assert lo <= 0.74 <= hi and lo >= 0.70 and hi <= 0.78
    assert bootstrap_interval([0.8] * 5) == (0.8, 0.8)
    mlo, mhi = bootstrap_interval([0.01, -0.01, 0.02, 0.0, 0.01], np.mean)
    assert mlo < 0.006 < mhi
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_interval([])


def test_config_and_command_line_refuse_nonsense(tmp_path, capsys):
    with pytest.raises(ValueError, match="train_examples must be an int >= 1 or None"):
        FinetuneConfig(train_examples=0)
    with pytest.raises(ValueError, match="lr must be in"):
        FinetuneConfig(lr=0.0)
    with pytest.raises(ValueError, match="Unknown condition 'topk'"):
        build_rule("topk", 0)
    with pytest.raises(ValueError, match="Unknown conditions"):
        run_all(FAST, tmp_path / "x", conditions=["topk"], seeds=[0])
    for argv, expected in (
        (["--seeds", "-1"], "--seeds: must be in [0, 65536); got -1"),
        (["--threads", "0"], "--threads: must be >= 1; got 0"),
        (["--conditions", "topk"], "invalid choice: 'topk'"),
    ):
        with pytest.raises(SystemExit):
            main(["run", "--preset", "fast", "--out", str(tmp_path / "y"), *argv])
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    assert main(["summary", str(tmp_path / "nothing")]) == 1
    assert "No runs in" in capsys.readouterr().err


def test_topk_rule_is_fresh_per_call_and_learned_rules_own_their_parameters():
    assert isinstance(build_rule("topk_4", 0), TopKKeys)
    assert build_rule("topk_4", 0) is not build_rule("topk_4", 0)
    assert CONDITIONS["dma"].build(0).learned and not CONDITIONS["dma"].test_time_only
    assert not CONDITIONS["dma_untrained"].build(0).learned and not CONDITIONS["dma_untrained"].test_time_only


def test_command_line_overrides_the_preset_sizes(tmp_path, capsys):
    out = tmp_path / "override"
    argv = ["run", "--preset", "fast", "--conditions", "full", "--seeds", "0", "--out", str(out)]
    assert main([*argv, "--trainable-layers", "all", "--train-examples", "32"]) == 0
    (record,) = load_records(out)
    assert record["fingerprint"]["config"]["trainable_layers"] is None
    assert record["fingerprint"]["config"]["train_examples"] == 32 and record["steps"] == 2
    with pytest.raises(SystemExit):
        main([*argv, "--train-examples", "0"])
    assert "--train-examples: must be >= 1 or 'all'; got 0" in capsys.readouterr().err


def test_records_name_the_commit_the_run_started_from(tmp_path, monkeypatch):
    import dynmask_viz.mask_finetuning.runner as runner

    commits = iter(["abc1234", "later-dirty", "later-dirty", "later-dirty"])
    monkeypatch.setattr(runner, "git_commit", lambda: next(commits))
    out = tmp_path / "commit"
    summary = run_all(FAST, out, conditions=["full", "topk_4"], seeds=[0], log=lambda _: None)
    assert [r["provenance"]["git_commit"] for r in load_records(out)] == ["abc1234", "abc1234"]
    assert summary["provenance"]["git_commit"] == "abc1234"


def test_what_trains_in_the_cpu_and_gpu_presets():
    from dynmask_viz.mask_finetuning import build_classifier

    def trained(config, rule):
        model = build_classifier(config, rule, seed=0)
        return {
            n.split(".")[3] if n.startswith("bert.encoder.layer.") else n.split(".")[1]
            for n, p in model.named_parameters()
            if p.requires_grad
        }, model

    names, _ = trained(PRESETS["cpu"], FullAttention())
    assert names == {"4", "5", "pooler", "weight", "bias"}  # top 2 layers, pooler, classifier
    names, model = trained(PRESETS["cpu"], build_rule("dma", 0))
    assert {"0", "1", "2", "3"} <= names  # the learned rule's scorers train in every layer ...
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all("dma_scorer" not in n for n in frozen)  # ... and nothing else below layer 4
    assert all(n.startswith("bert.embeddings.") or n.split(".")[3] in "0123" for n in frozen)
    gpu = PRESETS["gpu"].replace(device="cpu")
    _, model = trained(gpu, FullAttention())
    assert all(p.requires_grad for p in model.parameters())  # every layer, embeddings included
    assert PRESETS["gpu"].bf16 and PRESETS["gpu"].train_examples is None


def test_paired_t_interval_and_damaged_records(tmp_path):
    from dynmask_viz.mask_finetuning import read_record, t_interval

    lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, sd 1.581, t(0.975, 4) = 2.776
    assert (lo, hi) == pytest.approx((3 - 1.9630, 3 + 1.9630), abs=1e-3)
    assert t_interval([0.5]) == (0.5, 0.5)
    # wider than the percentile bootstrap of the mean, which covers only ~84 % with 5 pairs
    blo, bhi = bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0], np.mean)
    assert lo < blo and hi > bhi
    bad = tmp_path / "runs" / "full_seed0.json"
    bad.parent.mkdir()
    bad.write_text('{"condition": "full", ', encoding="utf-8")  # a run cut off mid-write by hand
    with pytest.raises(ValueError, match=r"full_seed0.json is damaged .*delete it and rerun"):
        read_record(bad)
    with pytest.raises(ValueError, match="full_seed0.json is damaged"):
        load_records(tmp_path)


def test_fingerprint_holds_what_ran_not_what_was_asked():
    from dynmask_viz.mask_finetuning import run_fingerprint

    asked_bf16 = run_fingerprint(PRESETS["gpu"].replace(device="cpu"), "full", 0)["config"]
    assert asked_bf16["bf16"] is False and asked_bf16["device"] == "cpu"  # no autocast on a CPU
    cpu = run_fingerprint(PRESETS["cpu"], "random_drop", 0)
    # the random rule's test pattern is keyed by the slot in the batch: the batch size matters
    assert cpu != run_fingerprint(PRESETS["cpu"].replace(eval_batch_size=64), "random_drop", 0)
    assert cpu["rule"] == "random_drop(p=0.1)" and cpu["seed"] == 0


def test_only_seed_zero_keeps_its_model_and_the_scorer_gets_its_own_rate(tmp_path, monkeypatch):
    import dynmask_viz.mask_finetuning.train as train

    groups = []
    real = torch.optim.AdamW

    def recording(params, **kw):
        groups.append([(len(g["params"]), g.get("lr", kw["lr"])) for g in params])
        return real(params, **kw)

    monkeypatch.setattr(train.torch.optim, "AdamW", recording)
    out = tmp_path / "seed1"
    run_all(FAST, out, conditions=["full", "dma", "dma_untrained"], seeds=[1], log=lambda _: None)
    assert not (out / MODEL_FOLDER).exists()  # seed 1 must not take the place of seed 0's model
    full, dma, untrained = groups
    assert len(full) == 1 and full[0][1] == FAST.lr
    assert dma[1] == (2 * 6, FAST.scorer_lr)  # dt_proj.weight and A in each of the 6 layers
    assert untrained == full  # frozen scorers: nothing new trains


def test_untrained_control_starts_where_dma_starts_and_never_moves():
    from dynmask_viz.mask_finetuning import build_classifier

    dma = build_classifier(FAST, build_rule("dma", 3), seed=3)
    control = build_classifier(FAST, build_rule("dma_untrained", 3), seed=3)
    scorers = {n: p for n, p in dma.named_parameters() if "dma_scorer" in n}
    frozen = {n: p for n, p in control.named_parameters() if "dma_scorer" in n}
    assert scorers.keys() == frozen.keys() and all(torch.equal(scorers[n], frozen[n]) for n in scorers)
    assert all(p.requires_grad for p in scorers.values()) and not any(
        p.requires_grad for p in frozen.values()
    )


def test_runs_train_on_one_thread_on_a_cpu_and_give_the_callers_count_back(tmp_path, monkeypatch):
    import dynmask_viz.mask_finetuning.runner as runner

    seen = []

    def records_threads(config, condition, seed, data, **kw):
        seen.append(torch.get_num_threads())
        raise KeyboardInterrupt  # the thread count is all this test needs

    monkeypatch.setattr(runner, "finetune", records_threads)
    monkeypatch.setattr(runner, "load_finetune_data", lambda config, tokenizer: None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads, expected in (("auto", 1), (2, 2)):
            with pytest.raises(KeyboardInterrupt):
                run_all(FAST, tmp_path / str(threads), conditions=["full"], seeds=[0], threads=threads)
            assert seen.pop() == expected and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match=r'threads must be "auto" or an int >= 1'):
            run_all(FAST, tmp_path / "bad", conditions=["full"], seeds=[0], threads=0)
    finally:
        torch.set_num_threads(before)
