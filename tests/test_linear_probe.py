"""The frozen-encoder linear probe: pooled features over real tokens, the regression, the dev choice."""

from __future__ import annotations

import math

import pytest
import torch

from dynmask_viz.experiments import ExperimentConfig, ProbeSplits, load_pretraining_data
from dynmask_viz.experiments.linear_probe import fit_logistic, linear_probe, pooled_features
from dynmask_viz.experiments.model import build_mlm, save_weights

TINY = ExperimentConfig.from_preset(
    "cpu-tiny",
    limit_sequences=64,
    model={"n_layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    optim={"batch_size": 16},
    device="cpu",
)
TEXTS = [
    "a gorgeous, witty film",
    "dull",
    "the plot goes nowhere and the actors seem to know it",
    "a triumph of style over substance, and great fun",
    "i walked out",
    "charming from start to finish",
    "an overlong mess",
    "one of the year's best",
]
SPLITS = ProbeSplits(
    train=(TEXTS * 4, [1, 0, 0, 1, 0, 1, 0, 1] * 4),
    dev=(TEXTS, [1, 0, 0, 1, 0, 1, 0, 1]),
    test=(TEXTS[::-1], [1, 0, 1, 0, 1, 0, 0, 1]),
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_pretraining_data(TINY).tokenizer


def test_features_average_real_tokens_only(tokenizer):
    encoder = build_mlm(TINY, len(tokenizer), seed=0).bert.eval()
    texts = ["dull", "the plot goes nowhere and the actors seem to know it"]
    batched = pooled_features(encoder, tokenizer, texts, max_len=64, batch_size=2)  # "dull" is padded
    for i, text in enumerate(texts):
        ids = torch.tensor([tokenizer(text)["input_ids"]])  # [1, L]: [CLS] ... [SEP], no padding
        assert ids[0, 0] == tokenizer.cls_token_id and ids[0, -1] == tokenizer.sep_token_id
        with torch.no_grad():
            alone = encoder(input_ids=ids).last_hidden_state[0].mean(0).double()
        torch.testing.assert_close(batched[i], alone, atol=1e-5, rtol=1e-5)


def test_regression_reaches_the_optimum():
    # No signal in the features: w = 0 and the (unpenalised) bias is the log-odds of the labels.
    w, b, grad = fit_logistic(torch.zeros(10, 3), torch.tensor([1.0] * 7 + [0.0] * 3), l2=0.1)
    assert torch.equal(w, torch.zeros(3, dtype=torch.float64))
    assert float(b) == pytest.approx(math.log(0.7 / 0.3), abs=1e-6) and grad < 1e-6
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64)
    y = (
        x @ torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64) + torch.randn(200, generator=g) > 0
    ).double()
    w, b, grad = fit_logistic(x, y, l2=0.01)
    w.requires_grad_(True)
    b.requires_grad_(True)
    p = torch.sigmoid(x @ w + b)  # the objective written out again: mean log-loss + l2 / 2 |w|^2
    objective = -(y * p.log() + (1 - y) * (1 - p).log()).mean() + 0.005 * (w * w).sum()
    gw, gb = torch.autograd.grad(objective, [w, b])
    assert float(gw.norm()) < 1e-6 and abs(float(gb)) < 1e-6 and grad < 1e-6


def test_regression_refuses_bad_input():
    with pytest.raises(ValueError, match="l2 must be > 0"):
        fit_logistic(torch.zeros(4, 2), torch.zeros(4), l2=0.0)
    with pytest.raises(ValueError, match="binary labels 0 and 1"):
        fit_logistic(torch.zeros(4, 2), torch.tensor([0.0, 1.0, 2.0, 1.0]), l2=1.0)


def test_probe_reads_the_weights_and_picks_on_dev(tokenizer, tmp_path):
    save_weights(build_mlm(TINY, len(tokenizer), seed=1), tmp_path / "model.safetensors")
    loaded = linear_probe(TINY, tokenizer, tmp_path / "model.safetensors", splits=SPLITS, init_seed=0)
    same = linear_probe(TINY, tokenizer, None, splits=SPLITS, init_seed=1)  # the same weights, untrained
    for key in ("test_accuracy", "dev_accuracy", "l2", "grid"):
        assert loaded[key] == same[key]
    assert loaded["pretrained"] and not same["pretrained"]
    assert (loaded["train_examples"], loaded["dev_examples"], loaded["test_examples"]) == (32, 8, 8)
    best = max(row["dev_accuracy"] for row in loaded["grid"])
    assert loaded["dev_accuracy"] == best
    assert loaded["l2"] == max(row["l2"] for row in loaded["grid"] if row["dev_accuracy"] == best)
    assert loaded["majority_test_accuracy"] == 0.5
    with pytest.raises(ValueError, match="l2_grid must hold at least one strength > 0"):
        linear_probe(TINY, tokenizer, None, splits=SPLITS, l2_grid=())


def test_train_limit_caps_the_training_snippets(tokenizer):
    capped = linear_probe(TINY.replace(probe={"train_limit": 8}), tokenizer, None, splits=SPLITS)
    assert capped["train_examples"] == 8
