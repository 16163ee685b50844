"""The fill-mask models: pretrained into a folder with provenance, loaded offline by load_mlm,
scored against the unigram floor; the memorization measurement; the committed models."""

from __future__ import annotations

import json
import math

import pytest
import torch

from dynmask_viz.experiments import ExperimentConfig, load_pretraining_data
from dynmask_viz.experiments import fill_mask_models as fmm
from dynmask_viz.experiments.baselines import unigram_baseline, unigram_log_probs
from dynmask_viz.experiments.memorization import memorization_by_sequence, summarize_memorization
from dynmask_viz.hf import MLM_DIRS, ModelUnavailableError, load_mlm
from dynmask_viz.masking import IGNORE_INDEX, mask_batch

SMALL = {
    "model": {"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    "limit_sequences": 96,
    "optim": {"epochs": 2, "batch_size": 16, "max_steps": 3},
    "eval_sequences": 16,
    "gap_sequences": 8,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "mlm_static"
    prov = fmm.pretrain_to_folder("static", out, device="cpu", threads=1, overrides=SMALL)
    return out, prov


def test_folder_holds_an_hf_model_in_fp16_with_its_provenance(folder):
    out, prov = folder
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "provenance.json"} <= names
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    stored = json.loads((out / "provenance.json").read_text())
    assert stored == json.loads(json.dumps(prov))
    assert stored["training"] == {
        "mask_seed": 0,
        "dupe_factor": 10,
        "epochs": 2,
        "times_each_mask_seen": 0,
        "fresh_mask_epoch": 10_000,
        "steps": 3,
    }
    # The rebuild command repeats the overrides as --set flags, which parse back to them.
    words = stored["rebuild_command"].split()
    flags = [word.strip("'") for before, word in zip(words, words[1:]) if before == "--set"]
    assert fmm.parse_overrides(flags) == json.loads(json.dumps(SMALL))
    assert stored["rebuild_command"].startswith(
        "python -m dynmask_viz.experiments pretrain-model --condition static"
    )
    for key in ("git_commit", "device", "wall_time_s", "versions", "date"):
        assert stored[key] not in (None, "")
    assert not (out.parent / ".mlm_static.run").exists()  # the run folder is cleaned up


def test_load_mlm_loads_the_folder_in_float32_eager_and_its_tokenizer_frames_text(folder):
    out, _ = folder
    model, tokenizer = load_mlm(out)
    assert model.dtype == torch.float32 and not model.training
    assert model.config._attn_implementation == "eager"
    ids = tokenizer("the cat sat on the [MASK] .")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.mask_token_id in ids


def test_heldout_metrics_are_those_of_the_saved_weights(folder):
    out, prov = folder
    model, _ = load_mlm(out)
    config = ExperimentConfig.from_dict(prov["config"])
    data = load_pretraining_data(config)
    again = fmm.heldout_metrics(model, data, config)
    stored = prov["metrics"]["heldout"]
    assert again["unigram"] == pytest.approx(stored["unigram"])
    nested = ("unigram", "top1_by_corruption")
    assert {k: v for k, v in again.items() if k not in nested} == pytest.approx(
        {k: v for k, v in stored.items() if k not in nested}
    )
    kinds = again["top1_by_corruption"]
    assert set(kinds) == {"[MASK]", "random", "kept"}
    assert sum(k["predictions"] for k in kinds.values()) == again["predictions"]
    weighted = sum(k["accuracy"] * k["predictions"] for k in kinds.values()) / again["predictions"]
    assert weighted == pytest.approx(again["top1_accuracy"])
    # By hand: the fixed validation masks, logits at the labelled positions.
    batch = mask_batch(
        data.validation,
        data.vocab,
        config.masking,
        seed=config.eval_mask_seed,
        example_ids=torch.arange(len(data.validation)),
    )
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids).logits
    picked = batch.labels != IGNORE_INDEX
    top1 = (logits[picked].argmax(-1) == batch.labels[picked]).double().mean()
    assert again["top1_accuracy"] == pytest.approx(float(top1))
    assert again["predictions"] == int(picked.sum())


def test_a_crash_while_writing_leaves_the_previous_folder_whole(folder, tmp_path, monkeypatch):
    out, _ = folder
    target = tmp_path / "mlm_static"
    import shutil

    shutil.copytree(out, target)
    before = (target / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("killed while scoring")

    monkeypatch.setattr(fmm, "heldout_metrics", boom)
    with pytest.raises(RuntimeError, match="killed"):
        fmm.pretrain_to_folder("static", target, device="cpu", threads=1, overrides=SMALL)
    assert (target / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".mlm_static.")) == [
        ".mlm_static.run"
    ]  # no half-written folder beside it, only the run kept for a retry


def test_training_sequences_and_setup_redraw_the_training_masks(folder):
    out, prov = folder
    setup = fmm.training_setup(folder=out)
    assert setup["dupe_factor"] == 10 and setup["mask_seed"] == 0 and setup["fresh_mask_epoch"] == 10_000
    rows = fmm.training_sequences(folder=out)
    data = load_pretraining_data(ExperimentConfig.from_dict(prov["config"]))
    assert torch.equal(rows, data.train)


def test_training_sequences_refuse_rows_that_differ_from_the_recorded_ones(folder, tmp_path):
    out, _ = folder
    import shutil

    copy = tmp_path / "mlm_static"
    shutil.copytree(out, copy)
    prov = json.loads((copy / "provenance.json").read_text())
    prov["data"]["train_ids_sha256"] = "0" * 64
    (copy / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(ValueError, match="differ from the ones it was trained on"):
        fmm.training_sequences(folder=copy)


def test_bad_conditions_and_missing_models_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'static' or 'dynamic'"):
        fmm.model_dir("bert")
    with pytest.raises(ValueError, match="'static' or 'dynamic'"):
        fmm.pretrain_to_folder("random", tmp_path / "x")
    monkeypatch.setitem(MLM_DIRS, "static", tmp_path / "nowhere")
    with pytest.raises(ModelUnavailableError, match="pretrain-model --condition static"):
        load_mlm("static")
    with pytest.raises(TypeError, match="name_or_path"):
        load_mlm(3)
    with pytest.raises(FileNotFoundError, match="provenance.json"):
        fmm.training_setup(folder=tmp_path)


def test_hub_names_fail_offline_with_the_offline_models_named():
    with pytest.raises(ModelUnavailableError, match="load_mlm\\('static'\\)"):
        load_mlm("bert-base-uncased")


def test_unigram_floor_by_hand(folder):
    _, prov = folder
    data = load_pretraining_data(ExperimentConfig.from_dict(prov["config"]))
    log_p = unigram_log_probs(data.train, data.vocab)
    assert float(log_p.exp().sum()) == pytest.approx(1.0)
    assert torch.isinf(log_p[list(data.vocab.special_ids)]).all()  # specials are never labels
    config = ExperimentConfig.from_dict(prov["config"])
    floor = unigram_baseline(
        data.train, data.validation, data.vocab, config.masking, seed=config.eval_mask_seed
    )
    batch = mask_batch(
        data.validation,
        data.vocab,
        config.masking,
        seed=config.eval_mask_seed,
        example_ids=torch.arange(len(data.validation)),
    )
    labels = batch.labels[batch.labels != IGNORE_INDEX]
    counts = torch.bincount(data.train.reshape(-1), minlength=data.vocab.vocab_size).double() + 1
    counts[list(data.vocab.special_ids)] = 0
    p = counts / counts.sum()
    assert floor["loss"] == pytest.approx(float(-p[labels].log().mean()))
    assert floor["accuracy"] == pytest.approx(float((labels == p.argmax()).double().mean()))
    with pytest.raises(ValueError, match="vocab_size"):
        unigram_log_probs(torch.tensor([[data.vocab.vocab_size]]), data.vocab)
    with pytest.raises(ValueError, match="smoothing"):
        unigram_log_probs(data.train, data.vocab, smoothing=-1)


class _Oracle(torch.nn.Module):
    """A 'model' that knows the original tokens of its training masks (memorized) only."""

    def __init__(self, originals: torch.Tensor, trained_inputs: torch.Tensor, vocab_size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.originals, self.trained, self.vocab_size = originals, trained_inputs, vocab_size

    def forward(self, input_ids):
        from types import SimpleNamespace

        logits = torch.zeros(*input_ids.shape, self.vocab_size)
        match = (input_ids[:, None, :] == self.trained[None]).all(-1)  # [b, N]: a training input
        seen, row = match.any(-1), match.float().argmax(-1)
        logits[seen] = torch.nn.functional.one_hot(self.originals[row[seen]], self.vocab_size) * 20.0
        return SimpleNamespace(logits=logits)


def test_memorization_by_sequence_separates_a_memorizer_from_a_model_that_never_saw_the_masks(folder):
    _, prov = folder
    config = ExperimentConfig.from_dict(prov["config"])
    data = load_pretraining_data(config)
    rows = data.train[:12]
    trained = mask_batch(rows, data.vocab, config.masking, seed=0, example_ids=torch.arange(12), mask_epoch=3)
    memorizer = _Oracle(rows, trained.input_ids, data.vocab.vocab_size)
    blind = _Oracle(rows, torch.full_like(rows, -1), data.vocab.vocab_size)
    result = memorization_by_sequence(
        {"static": memorizer, "dynamic": blind},
        data.train,
        data.vocab,
        config.masking,
        seed=0,
        trained_mask_epoch=3,
        n_sequences=12,
        batch_size=5,
    )
    assert result["sequences"] == 12
    # The memorizer is sure of the original tokens under its trained mask (loss ~0) and blind
    # (uniform, log V) under a fresh one; the blind model is log V under both.
    log_v = math.log(data.vocab.vocab_size)
    assert max(result["models"]["static"]["trained"]) < 1e-3
    assert min(result["models"]["static"]["fresh"]) == pytest.approx(log_v, rel=1e-4)
    assert result["models"]["dynamic"]["trained"] == pytest.approx([log_v] * 12, rel=1e-4)
    summary = summarize_memorization(result)
    assert summary["static"]["share_memorized"] == 1.0
    assert summary["static"]["median_gap"] == pytest.approx(log_v, rel=1e-3)
    assert summary["static"]["probability_ratio"] == pytest.approx(data.vocab.vocab_size, rel=1e-2)
    assert summary["dynamic"]["median_gap"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="must differ"):
        memorization_by_sequence(
            {}, rows, data.vocab, config.masking, seed=0, trained_mask_epoch=5, fresh_mask_epoch=5
        )
    with pytest.raises(ValueError, match="n_sequences"):
        memorization_by_sequence({}, rows, data.vocab, config.masking, seed=0, n_sequences=0)


def test_memorization_figure_holds_one_dot_per_sequence_and_model():
    from dynmask_viz.plots import plot_memorization_distribution

    result = {
        "sequences": 3,
        "models": {
            "static": {"trained": [4.0, 4.5, 5.0], "fresh": [5.0, 5.2, 5.6]},
            "dynamic": {"trained": [5.0, 5.1, 5.5], "fresh": [5.0, 5.2, 5.6]},
        },
    }
    fig = plot_memorization_distribution(result)
    scatter, hist = fig.axes
    offsets = [c.get_offsets() for c in scatter.collections]
    assert [len(o) for o in offsets] == [3, 3]
    assert offsets[0][:, 0].tolist() == [5.0, 5.2, 5.6] and offsets[0][:, 1].tolist() == [4.0, 4.5, 5.0]
    assert "+0.700" in hist.get_legend().get_texts()[0].get_text()  # median of 1.0, 0.7, 0.6


def test_committed_models_load_offline_and_score_as_their_provenance_says():
    """The two committed folders: offline load, fp16 storage within the size budget, and the
    held-out metrics recorded on the GPU recomputed here from the committed weights."""
    total = 0
    for condition in fmm.CONDITIONS:
        folder = fmm.model_dir(condition)
        total += sum(p.stat().st_size for p in folder.iterdir())
        prov = json.loads((folder / "provenance.json").read_text())
        assert prov["condition"] == condition and prov["storage_dtype"] == "float16"
        assert prov["rebuild_command"].startswith(
            f"python -m dynmask_viz.experiments pretrain-model --condition {condition}"
        )
        for key in ("git_commit", "device", "wall_time_s", "versions", "data", "metrics", "training"):
            assert prov[key], key
        assert prov["training"]["times_each_mask_seen"] == (4 if condition == "static" else 1)
    assert total < 30 * 2**20, total  # the budget for both together
    model, tokenizer = load_mlm("dynamic")
    prov = json.loads((fmm.model_dir("dynamic") / "provenance.json").read_text())
    config = ExperimentConfig.from_dict(prov["config"]).replace(device="cpu")
    data = fmm.committed_data("dynamic")  # packed with its own vocabulary, as trained
    assert len(tokenizer) == prov["config"]["vocab_size"] == data.vocab.vocab_size
    again = fmm.heldout_metrics(model, data, config)
    recorded = prov["metrics"]["heldout"]
    assert again["predictions"] == recorded["predictions"]
    assert again["top1_accuracy"] == pytest.approx(recorded["top1_accuracy"], abs=2e-4)
    assert again["loss"] == pytest.approx(recorded["loss"], abs=1e-3)
    assert again["unigram"] == pytest.approx(recorded["unigram"])


def test_committed_training_rows_are_rebuilt_bit_for_bit():
    # What lets the explorer and the memorization measure redraw the very training masks: the
    # rows rebuilt here (corpus, split, packed with the model's own tokenizer.json) hash as recorded.
    rows = fmm.training_sequences("static")
    assert rows.shape == (4559, 128)
    assert torch.equal(rows, fmm.training_sequences("dynamic"))


def test_training_rows_are_packed_with_the_models_own_vocabulary_never_a_relearnt_one(monkeypatch):
    # The tokenizers WordPiece trainer breaks ties in hash-map order (huggingface/tokenizers#1794):
    # a vocabulary learnt again on a fresh machine differs from the committed one in ~500 ids, so
    # rows rebuilt that way never matched the recorded sha256 outside the machine that trained.
    from dynmask_viz.experiments import data as experiment_data

    def relearn(*args, **kwargs):
        raise AssertionError("training_sequences learnt a vocabulary instead of using the model's")

    uncached = experiment_data.load_pretraining_data
    monkeypatch.setattr(experiment_data, "train_wordpiece", relearn)
    monkeypatch.setattr(fmm, "load_pretraining_data", lambda *a, **k: uncached(*a, **k, use_cache=False))
    rows = fmm.training_sequences("static")
    assert rows.shape == (4559, 128)
