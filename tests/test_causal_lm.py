"""Tests for dynmask_viz.causal_lm: config checks, the tokenizer and data (deterministic, split
by article), the schedule, one tiny run into a model folder, and the command line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from dynmask_viz.assets.corpus import WikiArticle, split_articles
from dynmask_viz.causal_lm import (
    EOS,
    PRESETS,
    CausalLMConfig,
    load_causal_lm_data,
    lr_at,
    rebuild_command,
    train_bpe,
    train_to_folder,
    unigram_baseline,
)
from dynmask_viz.causal_lm.__main__ import main
from dynmask_viz.causal_lm.data import eval_blocks, random_blocks

_WORDS = "the city of paris is large and old river bridge church king war people north south".split()


def _articles(n: int = 8, words: int = 300) -> list[WikiArticle]:
    """Short articles of seeded pseudo-English (a private generator, nothing global)."""
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        idx = torch.randint(0, len(_WORDS), (words,), generator=g).tolist()
        out.append(WikiArticle(f"Article {i}", " ".join(_WORDS[j] for j in idx) + "."))
    return out


SMALL = PRESETS["fast"].replace(vocab_size=300, steps=20, eval_blocks=None, train_articles=None)


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_layer", 0), ("vocab_size", 100), ("batch_size", True), ("eval_blocks", 0), ("dropout", 1.0)],
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"CausalLMConfig.{field}"):
        CausalLMConfig(**{field: value})


def test_config_heads_must_divide_width_and_lr_order():
    with pytest.raises(ValueError, match="n_embd .* divisible by n_head"):
        CausalLMConfig(n_embd=100, n_head=3)
    with pytest.raises(ValueError, match="min_lr <= lr"):
        CausalLMConfig(lr=1e-3, min_lr=1e-2)


def test_bpe_is_deterministic_byte_level_and_has_eos():
    texts = [a.text for a in _articles(4)]
    first, second = train_bpe(texts, 300), train_bpe(texts, 300)
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
    assert first.eos_token == first.bos_token == first.pad_token == EOS
    assert first.convert_tokens_to_ids(EOS) == 0
    unseen = "Zürich, 1923: naïve ☃ text!"  # bytes never seen in training: no unknown token
    assert first.decode(first(unseen)["input_ids"]) == unseen


def test_data_uses_the_article_split_and_is_deterministic():
    articles = _articles()
    data = load_causal_lm_data(SMALL, articles)
    train, held_out = split_articles(articles, validation_fraction=0.1, seed=0)
    assert data.meta["validation_titles"] == [a.title for a in held_out]
    assert not set(data.meta["train_titles"]) & set(data.meta["validation_titles"])
    eos = data.tokenizer.eos_token_id
    assert int((data.train == eos).sum()) == len(train) and data.train[-1] == eos  # one per article
    again = load_causal_lm_data(SMALL, articles)
    assert torch.equal(data.train, again.train) and torch.equal(data.validation, again.validation)
    assert data.meta["tokenizer_sha256"] == again.meta["tokenizer_sha256"]


def test_data_refuses_too_little_text():
    with pytest.raises(ValueError, match="block_size"):
        load_causal_lm_data(SMALL.replace(block_size=1000), _articles(3, words=20))


def test_blocks_are_drawn_from_the_generator_only():
    stream = torch.arange(100)
    a = random_blocks(stream, 8, 4, torch.Generator().manual_seed(3))
    b = random_blocks(stream, 8, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (4, 8)
    assert torch.equal(a[:, 1:] - a[:, :-1], torch.ones(4, 7, dtype=torch.int64))  # contiguous text
    assert eval_blocks(stream, 30).shape == (3, 30) and eval_blocks(stream, 30, limit=2).shape == (2, 30)


def test_schedule_warms_up_then_decays_to_min_lr():
    config = CausalLMConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, steps=110)
    assert lr_at(0, config) == pytest.approx(1e-4) and lr_at(9, config) == pytest.approx(1e-3)
    assert lr_at(60, config) == pytest.approx(5.5e-4)  # halfway through the cosine
    assert lr_at(109, config) == pytest.approx(1e-4, rel=1e-2)


def test_unigram_baseline_by_hand():
    train = torch.tensor([1, 1, 1, 2])
    targets = torch.tensor([1, 2])
    result = unigram_baseline(train, targets, vocab_size=3)
    p = torch.tensor([1, 4, 2]) / 7  # counts + 1
    assert result["loss"] == pytest.approx(-(math.log(p[1]) + math.log(p[2])) / 2)
    assert result["top1_accuracy"] == 0.5


def test_train_to_folder_writes_a_loadable_model_with_provenance(tmp_path):
    from dynmask_viz.hf import load_causal_lm

    out = tmp_path / "lm"
    record = train_to_folder(SMALL, out, preset="fast", articles=_articles(), command="pytest")
    names = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "provenance.json",
    } <= names
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind
    stored = json.loads((out / "provenance.json").read_text())
    assert stored["config"] == SMALL.to_dict() and stored["command"] == "pytest"
    # Its own articles and a config off the preset: no command line repeats it, and it says why.
    assert stored["rebuild_command"] is None and "own articles" in stored["rebuild_note"]
    for key in ("git_commit", "device", "versions", "wall_time_s", "data"):
        assert key in stored
    metrics = record["metrics"]
    assert metrics["loss"] < math.log(SMALL.vocab_size)  # it learnt something in 20 steps
    curve = record["training"]["losses"]
    assert curve[-1][1] < curve[0][1]
    model, tokenizer = load_causal_lm(out)
    assert model.config._attn_implementation == "eager" and not model.training
    assert tokenizer.eos_token == EOS and model.dtype == torch.float32
    # Rewriting the folder replaces it whole (same seed: the same weights).
    train_to_folder(SMALL, out, preset="fast", articles=_articles(), command="pytest")
    again, _ = load_causal_lm(out)
    for (name, p), (_, q) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "--out", "x", "--steps", "0"], "--steps"),
        (["train", "--out", "x", "--threads", "two"], "--threads"),
        (["train", "--out", "x", "--preset", "huge"], "--preset"),
        (["train"], "--out"),
    ],
)
def test_cli_argument_errors_name_the_parameter(argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_cli_trains_the_fast_preset(tmp_path, capsys):
    out = tmp_path / "fast"
    assert main(["train", "--preset", "fast", "--out", str(out), "--steps", "5", "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    assert "held-out loss" in printed and "unigram" in printed
    record = json.loads((out / "provenance.json").read_text())
    assert record["config"]["steps"] == 5 and record["preset"] == "fast"
    assert record["command"].endswith("--steps 5 --seed 7")
    # The overrides used are in the rebuild command, with the run's thread count (--threads 1).
    assert record["rebuild_command"] == (
        f"python -m dynmask_viz.causal_lm train --preset fast --out {out} --steps 5 --seed 7 --threads 1"
    )
    assert "rebuild_note" not in record
    assert torch.get_num_threads() >= 1  # the thread count came back (restored by the block)


def test_rebuild_command_holds_every_override_or_says_why_there_is_none():
    from dynmask_viz.causal_lm.runner import _rebuild

    tiny = PRESETS["tiny"]
    assert _rebuild(tiny, "tiny", "data/models/causal_lm_tiny", 1, False) == (
        "python -m dynmask_viz.causal_lm train --preset tiny --out data/models/causal_lm_tiny --threads 1",
        None,
    )
    command, note = _rebuild(tiny.replace(device="auto", seed=2), "tiny", "my lm", 4, False)
    assert command.endswith("--out 'my lm' --seed 2 --device auto --threads 4") and note is None
    for config, preset, words in [
        (tiny, None, "preset=None is not a named preset"),  # a custom config, never "tiny"
        (tiny.replace(n_layer=2, steps=5), "tiny", "in n_layer, which the command line cannot set"),
    ]:
        command, note = _rebuild(config, preset, "out", 1, False)
        assert command is None and words in note and "train_to_folder(CausalLMConfig(" in note
    with pytest.raises(ValueError, match=r"rebuild_command\(overrides\).*n_layer"):
        rebuild_command("tiny", "out", overrides={"n_layer": 2})
