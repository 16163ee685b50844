"""MLMCollator: Hugging Face parity, DataLoader workers, persistent workers, the Trainer."""

import pickle
from types import SimpleNamespace

import pytest
import torch
from _collator_helpers import TokenizedRows, trainer_args
from _tiny_models import tiny_bert_with_head
from torch.utils.data import DataLoader
from transformers import BertForMaskedLM, DataCollatorForLanguageModeling

from dynmask_viz.hf import MaskingEpochCallback, load_tokenizer
from dynmask_viz.masking import (
    DynamicMasking,
    MaskingConfig,
    MLMCollator,
    StaticMasking,
)

SENTENCES = [
    "Static masking fixes each mask once, during preprocessing.",
    "Dynamic masking draws a fresh mask every time a sequence is fed to the model.",
    "RoBERTa found dynamic masking comparable or slightly better than static masking.",
    "Unbelievably, tokenization splits rare words into several word pieces.",
] * 4


def Indexed(tokenizer, with_ids=True, offsets=False, sentences=SENTENCES, pad_to=None):
    return TokenizedRows(tokenizer, sentences, with_ids=with_ids, offsets=offsets, pad_to=pad_to)


def test_output_matches_hf_collator_keys_shapes_and_label_convention(tokenizer):
    feats = Indexed(tokenizer, with_ids=False).rows
    ours = MLMCollator(tokenizer)(feats)
    theirs = DataCollatorForLanguageModeling(tokenizer, seed=0)(feats)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape and ours[key].dtype == theirs[key].dtype, key
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])
    plain = tokenizer.pad(feats, return_tensors="pt")
    labelled = ours["labels"] != -100
    assert torch.equal(ours["labels"][labelled], plain["input_ids"][labelled])
    assert labelled.any()


def test_plain_id_lists_and_tensors(tokenizer):
    rows = [tokenizer(s)["input_ids"] for s in SENTENCES[:3]]
    as_lists = MLMCollator(tokenizer)(rows)
    as_tensors = MLMCollator(tokenizer)([torch.tensor(r) for r in rows])
    assert torch.equal(as_lists["input_ids"], as_tensors["input_ids"])
    assert set(as_lists) == {"input_ids", "attention_mask", "labels"}


def test_pad_to_multiple_of_and_left_padding(tokenizer):
    feats = Indexed(tokenizer).rows[:3]
    right = MLMCollator(tokenizer, pad_to_multiple_of=8, return_mask_info=True)(feats)
    assert right["input_ids"].shape[1] % 8 == 0
    tokenizer_left = load_tokenizer()
    tokenizer_left.padding_side = "left"
    left = MLMCollator(tokenizer_left, pad_to_multiple_of=8, return_mask_info=True)(feats)
    for row, f in enumerate(feats):
        n = len(f["input_ids"])
        assert torch.equal(left["input_ids"][row, -n:], right["input_ids"][row, :n])


@pytest.mark.parametrize("unit", ["word", "span"])
def test_word_units_from_offsets_vocab_and_word_ids(tokenizer, unit):
    masking = DynamicMasking(MaskingConfig(unit=unit, mlm_probability=0.4), seed=1)
    plain = Indexed(tokenizer).rows
    with_word_ids = [dict(r, word_ids=tokenizer(SENTENCES[i]).word_ids()) for i, r in enumerate(plain)]
    by_vocab, by_word_ids = (
        MLMCollator(tokenizer, masking, return_mask_info=True)(f) for f in (plain, with_word_ids)
    )
    # The ## rule and the tokenizer's word ids both split punctuation off: same words.
    assert torch.equal(by_vocab["masked"], by_word_ids["masked"])
    assert "word_ids" not in by_word_ids
    # Hugging Face's offset rule glues touching punctuation to its word ("fed." is one word),
    # so it agrees with the others only on text without punctuation.
    bare = [s.replace(",", "").replace(".", "") for s in SENTENCES]
    by_offsets = MLMCollator(tokenizer, masking, word_boundaries="offsets", return_mask_info=True)(
        Indexed(tokenizer, offsets=True, sentences=bare).rows
    )
    by_vocab_bare = MLMCollator(tokenizer, masking, return_mask_info=True)(
        Indexed(tokenizer, sentences=bare).rows
    )
    assert torch.equal(by_offsets["masked"], by_vocab_bare["masked"])
    assert "offset_mapping" not in by_offsets
    tokens = tokenizer.convert_ids_to_tokens(plain[3]["input_ids"])
    masked = by_vocab["masked"][3]
    for i, tok in enumerate(tokens):
        if tok.startswith("##"):
            assert masked[i] == masked[i - 1]  # a piece is masked exactly with its word
    with pytest.raises(ValueError, match="word_boundaries must be one of"):
        MLMCollator(tokenizer, word_boundaries="spaces")


def test_offsets_rule_glues_touching_punctuation_bert_rule_does_not(tokenizer):
    from dynmask_viz.masking import MaskingVocab, candidate_mask, word_ids_from_offsets, word_ids_from_vocab

    enc = tokenizer(["it is fed."], return_offsets_mapping=True, return_tensors="pt")
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    _, cand = candidate_mask(enc["input_ids"], vocab)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    assert tokens == ["[CLS]", "it", "is", "fed", ".", "[SEP]"]
    assert word_ids_from_offsets(enc["offset_mapping"], cand).tolist() == [[-1, 0, 1, 2, 2, -1]]
    assert word_ids_from_vocab(enc["input_ids"], vocab.word_start, cand).tolist() == [[-1, 0, 1, 2, 3, -1]]


def test_masks_do_not_depend_on_batching(tokenizer):
    feats = Indexed(tokenizer).rows
    collator = MLMCollator(tokenizer, StaticMasking(seed=3), return_mask_info=True)
    collator.set_epoch(0)  # keyed mode: the mask is a function of (seed, id, epoch) only
    whole = collator(feats)
    for i in (0, 5, 11):
        alone = collator([feats[i]])
        n = alone["input_ids"].shape[1]
        assert torch.equal(alone["input_ids"][0], whole["input_ids"][i, :n])


def _epoch_masks(loader, collator, epochs):
    out = []
    for epoch in range(epochs):
        if collator is not None:
            collator.set_epoch(epoch)
        out.append(torch.cat([b["labels"] for b in loader]))
    return out


def test_seeded_hf_collator_repeats_masks_with_workers_ours_does_not(tokenizer):
    """The trap: a seeded HF collator re-seeds each worker every epoch, so masks repeat."""
    ds = Indexed(tokenizer, with_ids=False, pad_to=32)
    hf = DataCollatorForLanguageModeling(tokenizer, seed=42)
    hf_loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=hf)
    hf_masks = _epoch_masks(hf_loader, None, 3)
    assert torch.equal(hf_masks[0], hf_masks[1]) and torch.equal(hf_masks[1], hf_masks[2])

    ours = MLMCollator(tokenizer, DynamicMasking(seed=42))
    loader = DataLoader(Indexed(tokenizer, pad_to=32), batch_size=4, num_workers=2, collate_fn=ours)
    masks = _epoch_masks(loader, ours, 3)
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])
    # ... and they do not depend on the number of workers or the batch size.
    ours_single = MLMCollator(tokenizer, DynamicMasking(seed=42))
    single = DataLoader(Indexed(tokenizer, pad_to=32), batch_size=3, num_workers=0, collate_fn=ours_single)
    masks_single = _epoch_masks(single, ours_single, 3)
    for a, b in zip(masks, masks_single):
        assert torch.equal(a, b)


def test_persistent_workers_see_set_epoch(tokenizer):
    ours = MLMCollator(tokenizer, StaticMasking(seed=0, dupe_factor=2))
    loader = DataLoader(
        Indexed(tokenizer, pad_to=32), batch_size=4, num_workers=2, persistent_workers=True, collate_fn=ours
    )
    masks = _epoch_masks(loader, ours, 3)
    assert not torch.equal(masks[0], masks[1])
    assert torch.equal(masks[0], masks[2])  # static: epoch 2 reuses mask 0


def test_collator_pickles_and_validates(tokenizer):
    collator = MLMCollator(tokenizer)
    collator.set_epoch(5)
    clone = pickle.loads(pickle.dumps(collator))
    assert clone.epoch == 5
    with pytest.raises(ValueError, match="not both"):
        MLMCollator(tokenizer, DynamicMasking(), config=MaskingConfig())
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        collator.set_epoch(-1)
    with pytest.raises(ValueError, match="empty list"):
        collator([])
    with pytest.raises(KeyError, match="input_ids"):
        collator([{"text": "hello"}])


def test_works_with_hf_trainer(tokenizer, tmp_path):
    from transformers import Trainer

    model = tiny_bert_with_head(tokenizer, BertForMaskedLM)
    collator = MLMCollator(tokenizer, DynamicMasking(seed=0))
    args = trainer_args(tmp_path, logging_steps=1)
    seen = []
    callback = MaskingEpochCallback(collator)
    original = callback.on_epoch_begin

    def spy(args, state, control, **kw):
        original(args, state, control, **kw)
        seen.append(collator.epoch)

    callback.on_epoch_begin = spy
    trainer = Trainer(
        model=model, args=args, train_dataset=Indexed(tokenizer), data_collator=collator, callbacks=[callback]
    )
    result = trainer.train()
    assert result.global_step == 8
    assert seen == [0, 1]
    assert torch.isfinite(torch.tensor(result.training_loss))


def test_trainer_callback_is_a_real_trainer_callback():
    from transformers import TrainerCallback

    collator = MLMCollator(load_tokenizer())
    callback = MaskingEpochCallback(collator)
    assert isinstance(callback, TrainerCallback) and isinstance(callback, MaskingEpochCallback)
    callback.on_epoch_begin(None, SimpleNamespace(epoch=3.0), None)
    assert collator.epoch == 3
    with pytest.raises(TypeError, match="set_epoch"):
        MaskingEpochCallback(object())


# ---- issue 9 section 3: empty rows, and features refused rather than guessed ---------------


@pytest.mark.parametrize(
    "features", [[[]], [{"input_ids": []}], [[], []], [{"input_ids": [], "example_id": 3}]]
)
def test_zero_length_rows_give_empty_columns(tokenizer, features):
    out = MLMCollator(tokenizer, return_mask_info=True)(features)
    batch = len(features)
    for key in ("input_ids", "attention_mask", "labels", "masked", "corruption"):
        assert tuple(out[key].shape) == (batch, 0), key
    assert out["input_ids"].dtype == out["labels"].dtype == torch.int64


def test_one_empty_row_among_others_is_all_padding(tokenizer):
    row = tokenizer("hello world")["input_ids"]
    out = MLMCollator(tokenizer, return_mask_info=True)([row, []])
    assert out["input_ids"].shape == (2, len(row))
    assert not out["attention_mask"][1].any() and not out["masked"][1].any()
    assert (out["labels"][1] == -100).all()


@pytest.mark.parametrize("column", ["attention_mask", "token_type_ids", "special_tokens_mask"])
def test_per_token_columns_of_the_wrong_length_are_refused(tokenizer, column):
    feats = [dict(r) for r in Indexed(tokenizer).rows[:2]]
    for f in feats:  # the tokenizer gives no special_tokens_mask unless asked: add a right one
        f.setdefault(column, [0] * len(f["input_ids"]))
    n = len(feats[0]["input_ids"])
    constant = 1 if column == "attention_mask" else 0
    feats[0][column] = [constant] * (n + 3)  # all ones (zeros): the fast path used to skip the check
    with pytest.raises(ValueError, match=rf"Feature 0's '{column}' has {n + 3} values .* {n} tokens"):
        MLMCollator(tokenizer)(feats)
    # One value too many in row 0 and one too few in row 1: the totals agree, the rows do not.
    feats = [dict(r) for r in Indexed(tokenizer).rows[:2]]
    for f in feats:
        f.setdefault(column, [0] * len(f["input_ids"]))
    feats[0][column] = list(feats[0][column]) + [constant]
    feats[1][column] = list(feats[1][column])[:-1]
    with pytest.raises(ValueError, match=rf"Feature 0's '{column}'"):
        MLMCollator(tokenizer)(feats)


@pytest.mark.parametrize("which", [0, 2])
def test_example_id_on_only_some_features_is_refused(tokenizer, which):
    feats = Indexed(tokenizer, with_ids=False).rows[:4]
    feats = [dict(f, example_id=i) if i == which else f for i, f in enumerate(feats)]
    with pytest.raises(ValueError, match="'example_id' is on some features but not on others"):
        MLMCollator(tokenizer)(feats)


def test_mismatched_feature_keys_are_refused(tokenizer):
    feats = Indexed(tokenizer).rows[:3]
    feats = [feats[0], {k: v for k, v in feats[1].items() if k != "token_type_ids"}, feats[2]]
    with pytest.raises(ValueError, match=r"Feature 1 has different keys .*missing \['token_type_ids'\]"):
        MLMCollator(tokenizer)(feats)


@pytest.mark.parametrize("bad_id", [1.5, 2.0, "3", None, True, [1, 2]])
def test_non_integer_example_ids_are_refused(tokenizer, bad_id):
    feats = Indexed(tokenizer).rows[:3]
    feats = [dict(f, example_id=bad_id) if i == 1 else f for i, f in enumerate(feats)]
    with pytest.raises(TypeError, match="'example_id' must hold one integer id per feature"):
        MLMCollator(tokenizer)(feats)


def test_tensor_and_numpy_example_ids_are_read_exactly(tokenizer):
    import numpy as np

    feats = Indexed(tokenizer).rows[:3]
    collator = MLMCollator(tokenizer, return_mask_info=True)
    collator.set_epoch(0)
    plain = collator(feats)
    for convert in (torch.tensor, np.int64):
        again = collator([dict(f, example_id=convert(f["example_id"])) for f in feats])
        assert torch.equal(again["masked"], plain["masked"])


@pytest.mark.parametrize(
    "epoch, error, fragment",
    [
        (1.9, TypeError, "epoch must be an int >= 0"),
        (True, TypeError, "epoch must be an int >= 0"),
        ("2", TypeError, "epoch must be an int >= 0"),
        (2**32, ValueError, r"epoch must be an int in \[0, 2\*\*32\)"),
    ],
)
def test_set_epoch_refuses_non_integer_and_out_of_range_epochs(tokenizer, epoch, error, fragment):
    collator = MLMCollator(tokenizer)
    with pytest.raises(error, match=fragment):
        collator.set_epoch(epoch)
    assert collator.epoch is None and collator.mode == "fresh"  # a refused epoch changes nothing
    collator.set_epoch(torch.tensor(3))  # a 0-d integer tensor is one epoch
    assert collator.epoch == 3


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"pad_to_multiple_of": 0}, ValueError, "pad_to_multiple_of must be an int >= 1 or None"),
        ({"pad_to_multiple_of": 8.0}, ValueError, "pad_to_multiple_of must be an int >= 1 or None"),
        ({"masking": MaskingConfig()}, TypeError, "masking must be a DynamicMasking or StaticMasking"),
        ({"id_key": 0}, TypeError, "id_key must be a str"),
        ({"config": {"mlm_probability": 0.2}}, TypeError, "must be a MaskingConfig"),
    ],
)
def test_constructor_refuses_bad_arguments(tokenizer, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        MLMCollator(tokenizer, **kwargs)


@pytest.mark.parametrize("features", [[1, 2, 3], [{"input_ids": 5}], "text", {"input_ids": [1, 2]}])
def test_features_that_are_not_a_list_of_rows_are_refused(tokenizer, features):
    with pytest.raises(TypeError, match="MLMCollator expects a list of features|one value per token"):
        MLMCollator(tokenizer)(features)


@pytest.mark.parametrize("value", [2, -1, 7])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_attention_mask_values_other_than_0_1_are_refused(tokenizer, value, as_tensor):
    """2, -1 or 7 used to be read as 1 (a real token), against the documented 0/1 contract."""
    feats = [dict(r) for r in Indexed(tokenizer).rows[:3]]
    mask = list(feats[1]["attention_mask"])
    mask[2] = value
    feats[1]["attention_mask"] = torch.tensor(mask) if as_tensor else mask
    if as_tensor:
        for f in (feats[0], feats[2]):
            f["attention_mask"] = torch.tensor(f["attention_mask"])
    with pytest.raises(ValueError, match=rf"Feature 1's 'attention_mask' holds {value}.*0/1.*True/False"):
        MLMCollator(tokenizer)(feats)


def test_bool_and_0_1_attention_masks_are_still_read_alike(tokenizer):
    feats = [dict(r) for r in Indexed(tokenizer).rows[:2]]
    feats[1]["attention_mask"] = [1] * (len(feats[1]["input_ids"]) - 2) + [0, 0]
    as_bools = [dict(f, attention_mask=[bool(v) for v in f["attention_mask"]]) for f in feats]
    ints, bools = MLMCollator(tokenizer)(feats), MLMCollator(tokenizer)(as_bools)
    assert ints["attention_mask"].tolist()[1][-2:] == [0, 0]
    for key in ints:
        assert torch.equal(ints[key], bools[key]), key


def test_float_token_ids_and_offsets_are_refused_not_truncated(tokenizer):
    """fromiter(int64) reads 1.5 as 1: rows of float ids or float offsets must be refused.
    (Each row's first value is checked, see _features.flatten for the measured reason.)"""
    collator = MLMCollator(
        tokenizer, DynamicMasking(MaskingConfig(unit="word"), seed=0), word_boundaries="offsets"
    )
    enc = tokenizer(["the cat sat", "a dog ran far"], return_offsets_mapping=True)
    features = [{k: enc[k][i] for k in ("input_ids", "offset_mapping")} for i in range(2)]
    collator(features)  # valid features pass
    bad_ids = [dict(features[0]), features[1]]
    bad_ids[0]["input_ids"] = [i + 0.5 for i in features[0]["input_ids"]]
    with pytest.raises(TypeError, match=r"'input_ids' must hold integers.*101\.5"):
        collator(bad_ids)
    bad_offsets = [features[0], dict(features[1])]
    bad_offsets[1]["offset_mapping"] = [(float(a), float(b)) for a, b in features[1]["offset_mapping"]]
    with pytest.raises(TypeError, match=r"'offset_mapping' must hold integers"):
        collator(bad_offsets)
