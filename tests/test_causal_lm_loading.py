"""Tests for dynmask_viz.hf.load_causal_lm (the committed small GPT-2 by default, local folders,
Hub names offline) and for quiet_progress_bars (no "Loading weights" bar saved in notebooks, the
user's setting restored)."""

from __future__ import annotations

import importlib
import json
import warnings

import pytest
import torch
from transformers.utils import logging as hf_logging

from dynmask_viz.causal_lm import PRESETS, build_model, train_bpe
from dynmask_viz.hf import CAUSAL_LM_DIR, ModelUnavailableError, load_causal_lm, quiet_progress_bars
from dynmask_viz.hf import loading as loading_module


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A random 2-layer GPT-2 and a small BPE saved as a model folder."""
    folder = tmp_path_factory.mktemp("tiny_causal_lm")
    tokenizer = train_bpe(["the cat sat on the mat. the dog sat on the log."] * 4, 300)
    model = build_model(PRESETS["fast"].replace(vocab_size=300), tokenizer)
    with quiet_progress_bars():
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_committed_model_is_the_offline_default():
    model, tokenizer = load_causal_lm()
    assert type(model).__name__ == "GPT2LMHeadModel" and not model.training
    assert model.config._attn_implementation == "eager" and model.dtype == torch.float32
    assert tokenizer.is_fast and tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    record = json.loads((CAUSAL_LM_DIR / "provenance.json").read_text())
    assert record["preset"] == "tiny" and "rebuild_command" in record
    # Its scores beat the unigram baseline clearly, as the README says.
    metrics = record["metrics"]
    assert metrics["top1_accuracy"] > metrics["unigram"]["top1_accuracy"] + 0.1
    ids = tokenizer("The history of", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True)
    assert len(out.attentions) == model.config.n_layer  # eager: attention weights come back


def test_committed_folder_is_small():
    files = [p for p in CAUSAL_LM_DIR.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 12 * 2**20


def test_local_folder_and_eager(tiny_folder):
    model, tokenizer = load_causal_lm(tiny_folder)
    assert model.config._attn_implementation == "eager"
    assert len(tokenizer) <= 300 and tokenizer.eos_token == "<|endoftext|>"


def test_hub_name_offline_names_the_offline_default():
    with pytest.raises(ModelUnavailableError, match=r"load_causal_lm\(\) with name_or_path=None"):
        load_causal_lm("dynmask-viz-tests/no-such-causal-lm")


def test_missing_committed_model_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(loading_module, "CAUSAL_LM_DIR", tmp_path / "absent")
    with pytest.raises(ModelUnavailableError) as exc:
        load_causal_lm()
    message = str(exc.value)
    assert "pip install -e ." in message
    assert "python -m dynmask_viz.causal_lm train --preset tiny --out data/models/causal_lm_tiny" in message


@pytest.fixture
def progress_bars():
    """Save transformers' progress-bar flag and huggingface_hub's states; put both back exactly
    after the test (transformers' own switches would reset the Hub's, so its dict is restored last).
    """
    hub = importlib.import_module("huggingface_hub.utils.tqdm").progress_bar_states
    was_enabled, hub_saved = hf_logging.is_progress_bar_enabled(), dict(hub)
    yield hub
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HF_HUB_DISABLE_PROGRESS_BARS may refuse the switch
        (hf_logging.enable_progress_bar if was_enabled else hf_logging.disable_progress_bar)()
    hub.clear()
    hub.update(hub_saved)


def test_loading_draws_no_progress_bar(tiny_folder, capfd, progress_bars):
    from transformers import AutoModelForCausalLM

    hf_logging.enable_progress_bar()
    AutoModelForCausalLM.from_pretrained(tiny_folder)  # control: transformers itself draws one
    assert "Loading weights" in capfd.readouterr().err
    load_causal_lm(tiny_folder)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is back


@pytest.mark.parametrize("enabled", [True, False])
def test_quiet_progress_bars_restores_the_setting(enabled, progress_bars):
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    with pytest.raises(RuntimeError):
        with quiet_progress_bars():
            assert not hf_logging.is_progress_bar_enabled()
            raise RuntimeError("restored on errors too")
    assert hf_logging.is_progress_bar_enabled() is enabled


@pytest.mark.parametrize("transformers_enabled", [True, False])
@pytest.mark.parametrize("group", [None, "dynmask-tests.group"])
def test_loading_keeps_the_hub_progress_bar_settings(tiny_folder, progress_bars, group, transformers_enabled):
    """transformers' enable_progress_bar() turns every Hub bar on: the Hub's own settings, global
    or per group, must come back as they were, whatever transformers' flag was."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars

    (hf_logging.enable_progress_bar if transformers_enabled else hf_logging.disable_progress_bar)()
    progress_bars.clear()  # start from the Hub's default (everything on), then switch one off
    disable_progress_bars(group)
    before = dict(progress_bars)
    load_causal_lm(tiny_folder)
    assert progress_bars == before
    assert are_progress_bars_disabled(group)
    if group is not None:
        assert not are_progress_bars_disabled("dynmask-tests.other")  # other groups untouched
    assert hf_logging.is_progress_bar_enabled() is transformers_enabled
