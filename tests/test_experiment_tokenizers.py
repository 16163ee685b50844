"""The experiment's tokenizers: the learnt WordPiece frames text as in pretraining, and packing
keeps whole documents whatever truncation or padding a ``tokenizer.json`` carries."""

from __future__ import annotations

import pytest

from dynmask_viz.experiments.data import encode, pack, train_wordpiece

TEXTS = ["the cat sat on the mat. " * 20, "a dog ran in the park, and the cat watched. " * 20]


@pytest.fixture(scope="module")
def wordpiece():
    return train_wordpiece(TEXTS, vocab_size=200)


def test_learnt_wordpiece_adds_cls_and_sep_when_called(wordpiece):
    ids = wordpiece("the cat sat")["input_ids"]
    assert ids[0] == wordpiece.cls_token_id == 2 and ids[-1] == wordpiece.sep_token_id == 3
    pair = wordpiece("the cat", "the dog")
    assert pair["input_ids"].count(wordpiece.sep_token_id) == 2 and pair["input_ids"][0] == 2


def test_encode_adds_no_special_tokens(wordpiece):
    (ids,) = encode(wordpiece, ["the cat sat"])
    assert wordpiece.cls_token_id not in ids and wordpiece.sep_token_id not in ids and len(ids) == 3


def test_encode_ignores_truncation_and_padding_of_the_tokenizer_json(wordpiece):
    # The offline MiniLM tokenizer.json truncates and pads at 128: `--preset large` then saw
    # every article as its first 128 tokens ("Only 23 training sequences").
    backend = wordpiece.backend_tokenizer
    backend.enable_truncation(max_length=8)
    backend.enable_padding(length=8, pad_id=wordpiece.pad_token_id)
    try:
        long_doc, short_doc = encode(wordpiece, [TEXTS[0], "the cat"])
    finally:
        backend.no_truncation()
        backend.no_padding()
    assert len(long_doc) > 100 and wordpiece.pad_token_id not in long_doc and len(short_doc) == 2
    assert backend.truncation is None  # the caller's tokenizer was not touched by encode
    packed = pack([long_doc, short_doc], seq_len=16, cls_id=2, sep_id=3)
    assert len(packed) == (len(long_doc) + 1 + 2) // 14


def test_large_preset_packs_whole_articles_with_the_default_tokenizer():
    from dynmask_viz.experiments import ExperimentConfig
    from dynmask_viz.experiments.data import load_documents
    from dynmask_viz.hf import load_tokenizer

    tokenizer = load_tokenizer()
    assert tokenizer.backend_tokenizer.truncation is not None  # the trap is really there
    docs, _ = load_documents("wiki")
    (ids,) = encode(tokenizer, [docs[0].text])
    assert len(ids) > 1000 and tokenizer.pad_token_id not in ids
    cfg = ExperimentConfig.from_preset("large")
    assert cfg.tokenizer == "default"
