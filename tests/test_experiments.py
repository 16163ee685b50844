"""The static-vs-dynamic pretraining experiment: data, loop, resume, DDP determinism, probe.

Everything runs a tiny model on a few sequences of the real text, so the file takes well under
two minutes on 2 CPU cores.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest
import torch

from dynmask_viz.experiments import (
    ExperimentConfig,
    epoch_permutation,
    load_pretraining_data,
    load_run,
    probe_splits,
    run_experiment,
    step_example_ids,
    train,
    validate_run,
)
from dynmask_viz.experiments.data import pack
from dynmask_viz.experiments.model import build_mlm, load_weights
from dynmask_viz.masking import make_masking

train_module = importlib.import_module("dynmask_viz.experiments.train")  # the name `train` is the function

# Tiny but real: the cpu-tiny data (shared cache), a one-layer 32-wide model, 64 sequences.
TINY = ExperimentConfig.from_preset(
    "cpu-tiny",
    limit_sequences=64,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 8, "epochs": 4},
    dupe_factor=2,
    eval_sequences=16,
    gap_sequences=16,
    probe={"seeds": (0,), "epochs": 1, "train_limit": 64},
    device="cpu",
)


@pytest.fixture(scope="module")
def data():
    return load_pretraining_data(TINY)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


# --- data ------------------------------------------------------------------------------------


def test_split_has_no_article_in_both(data):
    train_titles, val_titles = set(data.meta["train_titles"]), set(data.meta["validation_titles"])
    assert train_titles and val_titles
    assert not train_titles & val_titles
    assert data.train.shape == (64, TINY.seq_len) and data.validation.shape[1] == TINY.seq_len
    assert bool((data.train[:, 0] == data.tokenizer.cls_token_id).all())
    assert bool((data.train[:, -1] == data.tokenizer.sep_token_id).all())
    assert int(data.train.max()) < len(data.tokenizer) == TINY.vocab_size


def test_pack_fixed_length_with_separators():
    seqs = pack([[5, 6, 7], [8, 9]], seq_len=5, cls_id=2, sep_id=3)
    # stream 5 6 7 [SEP] 8 9 -> bodies of 3: (5 6 7) (3 8 9)
    assert seqs.tolist() == [[2, 5, 6, 7, 3], [2, 3, 8, 9, 3]]
    assert pack([[1]], seq_len=5, cls_id=2, sep_id=3).shape == (0, 5)


def test_folder_of_txt_files(tmp_path, monkeypatch):
    # A private cache; the trained tokenizer needs no asset, so nothing is fetched.
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(4):
        (folder / f"doc{i}.txt").write_text(
            f"Document {i} talks about masking and tokens. " * 80, encoding="utf-8"
        )
    cfg = TINY.replace(
        source=str(folder),
        vocab_size=64,
        validation_fraction=0.25,
        limit_sequences=None,
        train_fraction=1.0,
        optim={"batch_size": 2},
    )
    d = load_pretraining_data(cfg)
    assert len(d.meta["validation_titles"]) == 1 and len(d.meta["train_titles"]) == 3
    assert d.train.shape[1] == cfg.seq_len and len(d.train) >= 2 and len(d.validation) >= 1
    assert int(d.train.max()) < len(d.tokenizer) <= 64
    assert not (tmp_path / "cache" / "assets").exists()
    assert list((tmp_path / "cache" / "experiments").glob("pretraining_*.pt")), "token ids not cached"
    with pytest.raises(FileNotFoundError):
        load_pretraining_data(cfg.replace(source=str(tmp_path / "missing")))


def test_token_cache_removes_temp_files_of_killed_writers_only(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "experiments"
    cache.mkdir(parents=True)
    dead = cache / "pretraining_0123.99999999.tmp"  # no such pid (above Linux's pid_max)
    live = cache / f"pretraining_4567.{os.getpid()}.tmp"  # a writer still running
    dead.write_bytes(b"half a file")
    live.write_bytes(b"in progress")
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("Masking tokens in a small text. " * 60, encoding="utf-8")
    (folder / "b.txt").write_text("Another document about attention. " * 60, encoding="utf-8")
    cfg = TINY.replace(source=str(folder), vocab_size=64, validation_fraction=0.5, limit_sequences=None)
    load_pretraining_data(cfg.replace(train_fraction=1.0, optim={"batch_size": 2}))
    assert not dead.exists() and live.exists()
    assert len(list(cache.glob("pretraining_*.pt"))) == 1


def test_probe_split_is_stratified_and_fixed():
    a, b, other = probe_splits(0), probe_splits(0), probe_splits(1)
    assert a.test == b.test and a.train == b.train and a.test != other.test
    sizes = [len(s[0]) for s in (a.train, a.dev, a.test)]
    assert 12_700 < sum(sizes) <= 12_752 and abs(sizes[1] - sizes[2]) <= 1  # 12,752 distinct texts
    rates = [sum(s[1]) / len(s[1]) for s in (a.train, a.dev, a.test)]
    assert max(rates) - min(rates) < 0.002, rates  # ~58% fresh in every split
    texts = [set(s[0]) for s in (a.train, a.dev, a.test)]
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]


# --- training loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["static", "dynamic"])
def test_run_writes_results_matching_schema(tmp_path, data, condition):
    cfg = TINY.replace(condition=condition, optim={"max_steps": 6})
    record = run_experiment(cfg, tmp_path / condition, data=data, progress=False)
    loaded = load_run(tmp_path / condition)
    assert validate_run(loaded) == [] and loaded["status"] == "complete"
    assert loaded["condition"] == condition and loaded["config"]["condition"] == condition
    assert [e["epoch"] for e in loaded["epochs"]] == [0] and loaded["epochs"][0]["step"] == 6
    assert loaded["steps"]["step"] == list(range(1, 7))
    assert (
        isinstance(loaded["probe"]["median_test_accuracy"], float)
        and 0 <= loaded["probe"]["median_test_accuracy"] <= 1
    )
    assert loaded["provenance"]["versions"]["torch"] == torch.__version__
    assert (tmp_path / condition / "curves.csv").read_text().startswith("epoch,step,mask_epoch")
    assert (tmp_path / condition / "checkpoint" / "model.safetensors").is_file()
    assert record["final"]["val_loss"] == loaded["final"]["val_loss"]
    assert any("'seed'" in p for p in validate_run(dict(loaded, seed="0")))
    del loaded["epochs"][0]["val_loss"]
    assert any("'val_loss'" in p for p in validate_run(loaded))


def test_resume_is_exact(tmp_path, data):
    cfg = TINY.replace(condition="static", optim={"epochs": 2})  # 16 steps, checkpoints mid-epoch
    straight = train(cfg, tmp_path / "straight", data=data, progress=False)
    first = train(cfg, tmp_path / "resumed", data=data, progress=False, stop_after_steps=5)
    assert first["status"] == "stopped" and not (tmp_path / "resumed" / "results.json").exists()
    resumed = train(cfg, tmp_path / "resumed", data=data, progress=False)
    assert resumed["status"] == "complete"
    assert resumed["steps"]["loss"] == straight["steps"]["loss"]
    assert resumed["steps"]["lr"] == straight["steps"]["lr"]
    strip = lambda epochs: [{k: v for k, v in e.items() if k != "wall_s"} for e in epochs]
    assert strip(resumed["epochs"]) == strip(straight["epochs"])
    a = _weights(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    b = _weights(tmp_path / "resumed" / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fresh = build_mlm(cfg, TINY.vocab_size, seed=cfg.seed)
    assert not torch.equal(
        fresh.bert.embeddings.word_embeddings.weight, a["bert.embeddings.word_embeddings.weight"]
    )
    load_weights(fresh, tmp_path / "resumed" / "checkpoint" / "model.safetensors")  # loads strictly


@pytest.mark.parametrize("condition,period", [("static", 2), ("dynamic", None)])
def test_masks_seen_in_training_repeat_with_dupe_factor(tmp_path, data, monkeypatch, condition, period):
    seen: dict[tuple[int, int], torch.Tensor] = {}
    real_make = train_module.make_masking

    def recording_make(*args, **kwargs):
        masking = real_make(*args, **kwargs)

        class Recorder:
            mask_epoch = staticmethod(masking.mask_epoch)

            def __call__(self, input_ids, vocab, *, epoch, example_ids):
                out = masking(input_ids, vocab, epoch=epoch, example_ids=example_ids)
                for i, row in zip(example_ids.tolist(), out.masked):
                    seen.setdefault((epoch, i), row.clone())
                return out

        return Recorder()

    monkeypatch.setattr(train_module, "make_masking", recording_make)
    train(TINY.replace(condition=condition, optim={"epochs": 3}), tmp_path, data=data, progress=False)
    assert {e for e, _ in seen} == {0, 1, 2} and len(seen) == 3 * 64  # every sequence, every epoch
    if period:  # epoch 2 comes back to epoch 0's mask, for every sequence
        assert all(torch.equal(seen[(0, i)], seen[(2, i)]) for i in range(64))
    differ = sum(not torch.equal(seen[(0, i)], seen[(1, i)]) for i in range(64))
    assert differ > 55  # consecutive epochs use different masks (both conditions)
    if not period:
        assert sum(not torch.equal(seen[(0, i)], seen[(2, i)]) for i in range(64)) > 55


# --- distributed determinism (2 CPU processes, gloo) ------------------------------------------


def _rank_main(rank: int, world: int, init_file: str, out: str, cfg_json: str) -> None:
    import torch.distributed as dist

    from dynmask_viz.experiments import ExperimentConfig, load_pretraining_data, train

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = ExperimentConfig.from_dict(json.loads(cfg_json))
        d = load_pretraining_data(cfg)
        masking = make_masking(cfg.condition, cfg.masking, seed=cfg.seed, dupe_factor=cfg.dupe_factor)
        shares = {}
        for epoch in range(cfg.optim.epochs):
            perm = epoch_permutation(cfg.seed, epoch, len(d.train))
            for step in range(len(d.train) // cfg.optim.batch_size):
                ids = step_example_ids(perm, step, cfg.optim.batch_size, rank, world)
                shares[(epoch, step)] = (
                    ids,
                    masking(d.train[ids], d.vocab, epoch=epoch, example_ids=ids).input_ids,
                )
        torch.save(shares, Path(out) / f"shares_{rank}.pt")
        train(cfg, Path(out) / "ddp", data=d, progress=False, rank=rank, world_size=world)
    finally:
        dist.destroy_process_group()


def test_two_ranks_see_exactly_the_single_process_batches(tmp_path, data):
    import torch.multiprocessing as mp

    cfg = TINY.replace(  # no dropout: comparable weights
        condition="static", optim={"epochs": 2, "max_steps": 6}, model={"dropout": 0.0}
    )
    mp.spawn(
        _rank_main,
        args=(2, str(tmp_path / "init"), str(tmp_path), json.dumps(cfg.to_dict())),
        nprocs=2,
        join=True,
    )
    shares = [torch.load(tmp_path / f"shares_{r}.pt") for r in range(2)]
    masking = make_masking(cfg.condition, cfg.masking, seed=cfg.seed, dupe_factor=cfg.dupe_factor)
    for (epoch, step), (ids0, rows0) in shares[0].items():
        ids1, rows1 = shares[1][(epoch, step)]
        assert not set(ids0.tolist()) & set(ids1.tolist())
        single_ids = step_example_ids(epoch_permutation(cfg.seed, epoch, 64), step, cfg.optim.batch_size)
        single = masking(data.train[single_ids], data.vocab, epoch=epoch, example_ids=single_ids).input_ids
        union = {i: r for ids, rows in ((ids0, rows0), (ids1, rows1)) for i, r in zip(ids.tolist(), rows)}
        assert sorted(union) == sorted(single_ids.tolist())
        assert all(torch.equal(union[i], row) for i, row in zip(single_ids.tolist(), single))
    # The DDP run trains on the same batches: same loss curve and weights up to float sums.
    alone = train(cfg, tmp_path / "single", data=data, progress=False)
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert ddp["provenance"]["world_size"] == 2
    assert ddp["steps"]["loss"] == pytest.approx(alone["steps"]["loss"], rel=1e-4)
    a = _weights(tmp_path / "single" / "checkpoint" / "model.safetensors")
    b = _weights(tmp_path / "ddp" / "checkpoint" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


# --- command line ----------------------------------------------------------------------------


def test_cli_run_with_overrides(tmp_path, capsys):
    from dynmask_viz.experiments.__main__ import main

    out = tmp_path / "cli"
    assert (
        main(
            [
                "run",
                "--preset",
                "cpu-tiny",
                "--condition",
                "static",
                "--seed",
                "1",
                "--max-steps",
                "2",
                "--limit",
                "32",
                "--no-probe",
                "--quiet",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    record = load_run(out)
    assert (
        record["seed"] == 1
        and record["config"]["optim"]["max_steps"] == 2
        and record["data"]["train_sequences"] == 32
    )
    assert '"status": "complete"' in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown preset"):
        ExperimentConfig.from_preset("tpu")
    with pytest.raises(ValueError, match="fresh_mask_epoch"):
        TINY.replace(fresh_mask_epoch=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_run_matches_schema(tmp_path, data):
    cfg = TINY.replace(device="cuda", bf16=True, attn_implementation="sdpa", optim={"max_steps": 4})
    record = run_experiment(cfg, tmp_path / "gpu", data=data, probe=False, progress=False)
    assert validate_run(record) == [] and "cuda" in record["provenance"]["device"]
    assert all(torch.isfinite(torch.tensor(record["steps"]["loss"])))
