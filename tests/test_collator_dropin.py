"""MLMCollator as a drop-in (issue 12): never silently static, and Hugging Face's interface.

Each drop-in path is run for two epochs without ``set_epoch`` and must give new masks in the
second; with the epoch known the masks are keyed exactly.
"""

import copy
import pickle

import numpy as np
import pytest
import torch
from _collator_helpers import TokenizedRows, trainer_args
from _tiny_models import tiny_bert_with_head
from torch.utils.data import DataLoader
from transformers import (
    BatchEncoding,
    BertForMaskedLM,
    BertForPreTraining,
    DataCollatorForLanguageModeling,
    Trainer,
)

from dynmask_viz.hf import MaskingEpochCallback
from dynmask_viz.masking import DynamicMasking, MaskingConfig, MLMCollator, StaticMasking
from tools.import_layers import check

TEXTS = [
    "Static masking fixes each mask once, during preprocessing.",
    "Dynamic masking draws a fresh mask every time a sequence is fed to the model.",
    "RoBERTa found dynamic masking comparable or slightly better than static masking.",
    "Unbelievably, tokenization splits rare words into several word pieces.",
] * 2


def Rows(tokenizer, with_ids=False):
    return TokenizedRows(tokenizer, TEXTS, with_ids=with_ids, pad_to=32)


def _two_epochs(loader) -> list[torch.Tensor]:
    """The labels != -100 of every example, epoch by epoch (no set_epoch anywhere)."""
    return [torch.cat([batch["labels"] != -100 for batch in loader]) for _ in range(2)]


def _every_row_differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """With mlm_probability=0.5 over ~20 candidates, two draws of a row agree by chance < 1e-5."""
    return bool((a != b).any(1).all())


# ---- 1. never silently static --------------------------------------------------------------


def test_a_plain_loop_without_set_epoch_gets_new_masks_every_epoch(tokenizer):
    rows = Rows(tokenizer).rows
    collator = MLMCollator(tokenizer, mlm_probability=0.5)
    assert collator.mode == "fresh" and collator.epoch is None
    epochs = [torch.cat([collator(rows[i : i + 4])["labels"] != -100 for i in (0, 4)]) for _ in range(2)]
    assert _every_row_differs(epochs[0], epochs[1])
    # repeated calls on the same features give new masks, as Hugging Face's collator does
    assert not torch.equal(collator(rows)["labels"], collator(rows)["labels"])


@pytest.mark.parametrize(
    "workers, persistent, context",
    [(0, False, None), (2, False, "fork"), (2, True, "fork"), (1, False, "spawn")],
)
def test_a_dataloader_without_set_epoch_gets_new_masks_every_epoch(tokenizer, workers, persistent, context):
    def run():
        collator = MLMCollator(tokenizer, seed=7, mlm_probability=0.5)
        loader = DataLoader(
            Rows(tokenizer),
            batch_size=4,
            num_workers=workers,
            persistent_workers=persistent,
            multiprocessing_context=context,
            collate_fn=collator,
        )
        return _two_epochs(loader)

    first = run()
    # the trap: non-persistent workers are new copies of the collator every epoch
    assert _every_row_differs(first[0], first[1])
    if context != "spawn":  # (one spawned run is enough: each start costs seconds)
        assert all(torch.equal(a, b) for a, b in zip(first, run()))  # reproducible from the seed


def test_two_collators_with_one_seed_draw_the_same_fresh_masks_another_seed_others(tokenizer):
    rows = Rows(tokenizer).rows
    a, b, c = MLMCollator(tokenizer, seed=1), MLMCollator(tokenizer, seed=1), MLMCollator(tokenizer, seed=2)
    for _ in range(2):
        la, lb, lc = a(rows)["labels"], b(rows)["labels"], c(rows)["labels"]
        assert torch.equal(la, lb) and not torch.equal(la, lc)


def test_identical_sequences_in_a_batch_fresh_differ_keyed_share_their_mask(tokenizer):
    row = Rows(tokenizer).rows[1]
    collator = MLMCollator(tokenizer, mlm_probability=0.3)
    fresh = collator([row] * 6)["labels"] != -100
    assert any(not torch.equal(fresh[0], fresh[i]) for i in range(1, 6))  # as Hugging Face
    collator.set_epoch(0)
    keyed = collator([row] * 6)["labels"] != -100
    assert all(torch.equal(keyed[0], keyed[i]) for i in range(1, 6))  # keyed on the content


def test_set_epoch_makes_masks_keyed_and_none_makes_them_fresh_again(tokenizer):
    rows = Rows(tokenizer, with_ids=True).rows
    collator = MLMCollator(tokenizer, seed=3)
    collator.set_epoch(4)
    assert collator.mode == "keyed" and "epoch=4" in repr(collator)
    keyed = collator(rows)["labels"]
    assert torch.equal(keyed, collator(rows)["labels"])  # a pure function of (seed, id, epoch)
    assert torch.equal(keyed, collator(rows[::-1])["labels"].flip(0))  # not of the order
    other = MLMCollator(tokenizer, DynamicMasking(seed=3))
    other.set_epoch(4)
    assert torch.equal(keyed, other(rows)["labels"])
    collator.set_epoch(None)
    assert collator.mode == "fresh" and "fresh" in repr(collator)
    assert not torch.equal(collator(rows)["labels"], collator(rows)["labels"])


def test_static_masking_in_fresh_mode_shows_only_its_dupe_factor_masks(tokenizer):
    rows = Rows(tokenizer, with_ids=True).rows[:4]
    collator = MLMCollator(tokenizer, StaticMasking(seed=0, dupe_factor=3))
    seen = [set() for _ in rows]
    for _ in range(40):
        labels = collator(rows)["labels"] != -100
        for i, row in enumerate(labels):
            seen[i].add(tuple(row.tolist()))
    assert all(len(s) == 3 for s in seen)  # every fixed mask is shown, no other
    keyed = set()
    for epoch in range(3):
        collator.set_epoch(epoch)
        keyed.add(tuple((collator(rows)["labels"][0] != -100).tolist()))
    assert keyed == seen[0]  # the same three masks keyed mode cycles through


class Recording(MLMCollator):
    """Records the mask each example id got, call by call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.masks: dict[int, list[torch.Tensor]] = {}

    def __call__(self, features, return_tensors=None):
        out = super().__call__(features, return_tensors)
        for f, labels in zip(features, out["labels"]):
            self.masks.setdefault(f["example_id"], []).append(labels != -100)
        return out


@pytest.mark.parametrize("with_callback", [False, True])
def test_the_hf_trainer_gets_new_masks_each_epoch_with_or_without_the_callback(
    tokenizer, tmp_path, with_callback
):
    collator = Recording(tokenizer, seed=0, mlm_probability=0.5)
    args = trainer_args(tmp_path)
    callbacks = [MaskingEpochCallback(collator)] if with_callback else []
    trainer = Trainer(
        model=tiny_bert_with_head(tokenizer, BertForMaskedLM),
        args=args,
        train_dataset=Rows(tokenizer, with_ids=True),
        data_collator=collator,
        callbacks=callbacks,
    )
    trainer.train()
    assert collator.mode == ("keyed" if with_callback else "fresh")
    assert all(len(m) == 2 for m in collator.masks.values())
    assert all(not torch.equal(m[0], m[1]) for m in collator.masks.values())
    if with_callback:  # keyed: epoch e's mask of example i is the pure function of (0, i, e)
        rows = Rows(tokenizer, with_ids=True).rows
        for epoch in (0, 1):
            collator.set_epoch(epoch)
            expected = collator(rows)["labels"] != -100
            for i in range(len(rows)):
                assert torch.equal(collator.masks[i][epoch], expected[i])


# ---- 2. Hugging Face's interface -------------------------------------------------------------


def test_result_is_a_batch_encoding_in_torch_or_numpy(tokenizer):
    rows = Rows(tokenizer).rows
    out = MLMCollator(tokenizer)(rows)
    assert isinstance(out, BatchEncoding) and isinstance(out["input_ids"], torch.Tensor)
    moved = out.to("cpu")
    assert moved is out and moved["labels"].device.type == "cpu"
    as_np = MLMCollator(tokenizer, return_tensors="np")(rows)
    assert isinstance(as_np, BatchEncoding) and isinstance(as_np["labels"], np.ndarray)
    at_call = MLMCollator(tokenizer)(rows, return_tensors="np")
    assert isinstance(at_call["input_ids"], np.ndarray) and at_call["input_ids"].dtype == np.int64
    with pytest.raises(ValueError, match="return_tensors must be 'pt'"):
        MLMCollator(tokenizer, return_tensors="tf")
    with pytest.raises(ValueError, match="return_tensors must be 'pt'"):
        MLMCollator(tokenizer)(rows, return_tensors="jax")


def test_hugging_face_argument_and_attribute_names(tokenizer):
    collator = MLMCollator(
        tokenizer, mlm_probability=0.3, mask_replace_prob=0.5, random_replace_prob=0.2, pad_to_multiple_of=8
    )
    assert (collator.mlm, collator.mlm_probability, collator.mask_replace_prob) == (True, 0.3, 0.5)
    assert (collator.random_replace_prob, collator.pad_to_multiple_of) == (0.2, 8)
    assert collator.tokenizer is tokenizer and collator.whole_word_mask is False and collator.seed == 0
    assert MLMCollator(tokenizer, whole_word_mask=True).masking.config.unit == "word"
    assert MLMCollator(tokenizer, seed=5).masking.seed == 5
    with pytest.raises(ValueError, match="describe the masking"):
        MLMCollator(tokenizer, config=MaskingConfig(), mlm_probability=0.2)
    with pytest.raises(ValueError, match="differs from the masking's seed"):
        MLMCollator(tokenizer, DynamicMasking(seed=1), seed=2)
    with pytest.raises(TypeError, match="Pass mlm=True/False by keyword"):
        MLMCollator(tokenizer, False)
    with pytest.raises(ValueError, match=r"MaskingConfig.mlm_probability must be a number in \[0, 1\]"):
        MLMCollator(tokenizer, mlm_probability=1.5)


def test_causal_lm_labels_are_the_ids_with_padding_ignored(tokenizer):
    rows = [tokenizer(t)["input_ids"] for t in TEXTS[:3]]
    collator = MLMCollator(tokenizer, mlm=False)
    out = collator(rows)
    real = out["attention_mask"].bool()
    assert torch.equal(out["labels"][real], out["input_ids"][real])
    assert (out["labels"][~real] == -100).all() and (~real).any()
    assert collator.mlm_probability is None and collator.whole_word_mask is False
    with pytest.raises(ValueError, match="mlm=False .* takes no masking arguments"):
        MLMCollator(tokenizer, mlm=False, whole_word_mask=True)


class _NoSpecialTokenizer:
    """A GPT-2-like tokenizer: no mask token, no pad token."""

    mask_token_id = pad_token_id = None
    padding_side = "right"


def test_causal_lm_needs_no_mask_token_and_padding_needs_a_pad_token():
    collator = MLMCollator(_NoSpecialTokenizer(), mlm=False)
    out = collator([[5, 6, 7], [8, 9, 10]])  # equal lengths: nothing to pad
    assert torch.equal(out["labels"], torch.tensor([[5, 6, 7], [8, 9, 10]]))
    with pytest.raises(ValueError, match="has no pad token.*tokenizer.pad_token = tokenizer.eos_token"):
        collator([[5, 6, 7], [8]])


def test_mlm_with_no_pad_token_refuses_padding(tokenizer):
    collator = MLMCollator(copy.deepcopy(tokenizer))
    collator.tokenizer.pad_token = None  # as a tokenizer without pad token gives
    with pytest.raises(ValueError, match="has no pad token"):
        collator([[101, 2000, 102], [101, 102]])


def test_the_tokenizer_is_read_at_each_call_as_hugging_face_does(tokenizer):
    rows = [tokenizer(t)["input_ids"] for t in TEXTS[:2]]
    tok = copy.deepcopy(tokenizer)
    ours, hf = MLMCollator(tok), DataCollatorForLanguageModeling(tok)
    tok.padding_side = "left"  # changed after the collators were built
    padded = ours(rows)["input_ids"] == tok.pad_token_id  # masking never writes or selects [PAD]
    assert torch.equal(padded, hf(rows)["input_ids"] == tok.pad_token_id) and padded[:, 0].any()  # left
    causal = MLMCollator(tok, mlm=False)
    tok.pad_token = "[UNK]"  # another pad token, set after construction
    assert causal(rows)["input_ids"][0, 0] == tok.unk_token_id == ours(rows)["input_ids"][0, 0]


def test_float_columns_get_hugging_face_dtypes(tokenizer):
    rows = [dict(r, score=0.5 * i) for i, r in enumerate(Rows(tokenizer).rows[:2])]
    for kind in ("pt", "np"):
        ours = MLMCollator(tokenizer, return_tensors=kind)(rows)["score"]
        hf = DataCollatorForLanguageModeling(tokenizer, return_tensors=kind)(rows)["score"]
        assert ours.dtype == hf.dtype, kind


@pytest.mark.parametrize("key", ["next_sentence_label", "sentence_order_label"])
def test_sentence_labels_are_passed_on_and_bert_pretraining_gets_a_loss(tokenizer, key):
    pairs = tokenizer(TEXTS[:4], TEXTS[4:], padding="max_length", max_length=48, truncation=True)
    features = [dict({k: pairs[k][i] for k in pairs}, **{key: i % 2}) for i in range(4)]
    out = MLMCollator(tokenizer)(features)
    assert torch.equal(out[key], torch.tensor([0, 1, 0, 1]))
    if key == "next_sentence_label":
        model = tiny_bert_with_head(tokenizer, BertForPreTraining)
        assert model(**out).loss is not None


def test_other_keys_are_stacked_or_refused_with_what_to_do(tokenizer):
    rows = Rows(tokenizer).rows[:2]
    out = MLMCollator(tokenizer)([dict(r, score=[0.5, 1.0], label=i) for i, r in enumerate(rows)])
    assert out["score"].shape == (2, 2) and torch.equal(out["label"], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="'text' does not stack.*remove_unused_columns"):
        MLMCollator(tokenizer)([dict(r, text=t) for r, t in zip(rows, TEXTS)])


def test_the_masking_layer_may_take_batch_encoding_and_nothing_else_from_transformers(tmp_path):
    package = tmp_path / "dynmask_viz"
    (package / "masking").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "masking" / "__init__.py").write_text("from transformers import BatchEncoding\n")
    assert check(package) == []
    (package / "masking" / "__init__.py").write_text("from transformers import BatchEncoding, AutoModel\n")
    assert [v.message for v in check(package)] == ["layer 'masking' must not import 'transformers'"]


def test_a_spawned_worker_draws_with_the_rank_the_main_process_recorded(tokenizer, monkeypatch):
    rows = Rows(tokenizer).rows
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 1)
    on_rank_1 = MLMCollator(tokenizer, seed=0)
    pickled = pickle.dumps(on_rank_1)  # what DataLoader does when it spawns a worker
    expected = on_rank_1(rows)["labels"]
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)  # the worker: no group
    assert torch.equal(pickle.loads(pickled)(rows)["labels"], expected)


def test_distributed_ranks_draw_different_fresh_masks(tokenizer, monkeypatch):
    rows = Rows(tokenizer).rows
    single = MLMCollator(tokenizer, seed=0)(rows)["labels"]
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    masks = {}
    for rank in (0, 1):
        monkeypatch.setattr(torch.distributed, "get_rank", lambda rank=rank: rank)
        masks[rank] = MLMCollator(tokenizer, seed=0)(rows)["labels"]
    assert torch.equal(masks[0], single)  # rank 0 draws what a single process draws
    assert not torch.equal(masks[0], masks[1])  # each rank its own stream
