"""mask_batch, configs and schedules: correctness, determinism by key, statistics."""

import math

import pytest
import torch
from _masking_helpers import CLS, MASK, PAD, SEP, VOCAB, make_batch, words_for

from dynmask_viz.masking import (
    IGNORE_INDEX,
    KEPT,
    MASKED,
    MASKING_PRESETS,
    RANDOM,
    DynamicMasking,
    MaskingConfig,
    StaticMasking,
    exposure,
    make_masking,
    mask_batch,
    theoretical_ever_masked,
)
from dynmask_viz.masking.units import span_of_words, word_ids_from_offsets, word_ids_from_vocab


def binomial_ok(successes, trials, p, sigmas=5.0):
    """True when a count is within `sigmas` standard deviations of its binomial mean."""
    sd = math.sqrt(trials * p * (1 - p))
    return abs(successes - trials * p) <= sigmas * sd + 1


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"mlm_probability": 1.5}, "mlm_probability"),
        ({"mask_replace_prob": 0.9, "random_replace_prob": 0.2}, "must not exceed 1"),
        ({"unit": "sentence"}, "unit must be one of"),
        ({"count": "poisson"}, "count must be one of"),
        ({"max_predictions": 20}, "only applies to count='exact'"),
        ({"count": "exact", "max_predictions": 0}, "positive int"),
        ({"span_geometric_p": 0.0}, "span_geometric_p"),
        ({"mlm_probability": True}, "mlm_probability"),
    ],
)
def test_config_rejects_bad_values_with_clear_message(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        MaskingConfig(**kwargs)


def test_presets_and_span_mean():
    assert MaskingConfig.from_preset("bert").count == "exact"
    assert MaskingConfig.from_preset("spanbert").unit == "span"
    assert set(MASKING_PRESETS) >= {"roberta", "bert", "bert-wwm", "spanbert"}
    assert MaskingConfig(unit="span").mean_span_words == pytest.approx(3.8, abs=0.01)  # SpanBERT
    with pytest.raises(ValueError, match="Unknown masking preset"):
        MaskingConfig.from_preset("gpt")


def test_labels_and_corruption_are_consistent():
    ids, attn = make_batch([100] * 32)
    out = mask_batch(ids, VOCAB, seed=1, example_ids=torch.arange(32), attention_mask=attn)
    assert torch.equal(out.labels[out.masked], ids[out.masked])
    assert (out.labels[~out.masked] == IGNORE_INDEX).all()
    assert (out.input_ids[~out.masked] == ids[~out.masked]).all()
    assert (out.input_ids[out.corruption == MASKED] == MASK).all()
    assert (out.input_ids[out.corruption == KEPT] == ids[out.corruption == KEPT]).all()
    assert torch.equal(out.masked, out.corruption > 0)


def test_rates_and_80_10_10_within_statistical_bounds():
    ids, attn = make_batch([512] * 64)
    out = mask_batch(ids, VOCAB, seed=3, example_ids=torch.arange(64), attention_mask=attn)
    n_candidates = int(attn.sum()) - 2 * 64
    n_sel = int(out.masked.sum())
    assert binomial_ok(n_sel, n_candidates, 0.15)
    for kind, p in ((MASKED, 0.8), (RANDOM, 0.1), (KEPT, 0.1)):
        assert binomial_ok(int((out.corruption == kind).sum()), n_sel, p), kind


def test_never_selects_special_or_padding_and_never_inserts_specials():
    ids, attn = make_batch([5, 40, 200], 256)
    cfg = MaskingConfig(mlm_probability=0.9, mask_replace_prob=0.0, random_replace_prob=1.0)
    out = mask_batch(ids, VOCAB, cfg, seed=0, attention_mask=attn)
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    assert not out.masked[special].any()
    replaced = out.input_ids[out.corruption == RANDOM]
    assert replaced.numel() > 100
    assert not torch.isin(replaced, torch.tensor([PAD, CLS, SEP, MASK])).any()


def test_mask_depends_on_key_not_on_batch_order_padding_or_side():
    ids, attn = make_batch([30, 50, 70], 70, seed=5)
    base = mask_batch(ids, VOCAB, seed=9, example_ids=torch.tensor([7, 8, 9]), attention_mask=attn)
    # Same example 1 alone, padded to a different length, in a permuted batch, left-padded.
    alone = mask_batch(
        ids[1:2, :60], VOCAB, seed=9, example_ids=torch.tensor([8]), attention_mask=attn[1:2, :60]
    )
    assert torch.equal(alone.masked[0, :50], base.masked[1, :50])
    perm = mask_batch(
        ids[[2, 0, 1]], VOCAB, seed=9, example_ids=torch.tensor([9, 7, 8]), attention_mask=attn[[2, 0, 1]]
    )
    assert torch.equal(perm.masked[2], base.masked[1])
    lids, lattn = make_batch([30, 50, 70], 90, seed=5, left=True)
    left = mask_batch(lids, VOCAB, seed=9, example_ids=torch.tensor([7, 8, 9]), attention_mask=lattn)
    assert torch.equal(left.masked[1, -50:], base.masked[1, :50])
    assert torch.equal(left.input_ids[1, -50:], base.input_ids[1, :50])


def test_content_keys_when_no_ids():
    ids, attn = make_batch([40, 40], 40, seed=2)
    ids[1] = ids[0]
    out = mask_batch(ids, VOCAB, seed=0, attention_mask=attn)
    assert torch.equal(out.masked[0], out.masked[1])  # identical content, identical key
    padded = torch.cat([ids[:1], torch.zeros((1, 10), dtype=torch.int64)], 1)
    again = mask_batch(padded, VOCAB, seed=0)
    assert torch.equal(again.masked[0, :40], out.masked[0])


def test_dynamic_differs_every_epoch_and_static_cycles_with_dupe_factor():
    ids, attn = make_batch([128] * 8)
    ex = torch.arange(8)
    dyn = DynamicMasking(seed=4)
    masks = [dyn(ids, VOCAB, epoch=e, example_ids=ex, attention_mask=attn).masked for e in range(12)]
    assert all(not torch.equal(masks[i], masks[j]) for i in range(12) for j in range(i))
    static = StaticMasking(seed=4, dupe_factor=10)
    smasks = [static(ids, VOCAB, epoch=e, example_ids=ex, attention_mask=attn).masked for e in range(40)]
    for e in range(40):
        assert torch.equal(smasks[e], smasks[e % 10])
    assert len({tuple(m.flatten().tolist()) for m in smasks}) == 10
    assert torch.equal(smasks[3], masks[3])  # static mask k is dynamic epoch k: same keys
    one = StaticMasking(dupe_factor=1)
    assert torch.equal(
        one(ids, VOCAB, epoch=0, attention_mask=attn).masked,
        one(ids, VOCAB, epoch=7, attention_mask=attn).masked,
    )
    with pytest.raises(ValueError, match="dupe_factor"):
        StaticMasking(dupe_factor=0)
    assert make_masking("static", dupe_factor=4).dupe_factor == 4


def test_seed_changes_masks():
    ids, attn = make_batch([128] * 4)
    a = mask_batch(ids, VOCAB, seed=0, attention_mask=attn).masked
    b = mask_batch(ids, VOCAB, seed=1, attention_mask=attn).masked
    assert not torch.equal(a, b)


@pytest.mark.parametrize("unit", ["token", "word", "span"])
@pytest.mark.parametrize("p, cap", [(0.15, None), (0.3, 5), (0.01, None)])
def test_exact_count_matches_bert_budget(unit, p, cap):
    lengths = [12, 50, 128, 128]
    ids, attn = make_batch(lengths, 128)
    words = words_for(ids)
    cfg = MaskingConfig(unit=unit, count="exact", mlm_probability=p, max_predictions=cap)
    for epoch in range(5):
        out = mask_batch(ids, VOCAB, cfg, seed=epoch, attention_mask=attn, word_ids=words)
        for row, n in enumerate(lengths):
            budget = max(1, round(n * p))  # BERT counts [CLS] and [SEP] in n
            budget = min(budget, cap) if cap else budget
            got = int(out.masked[row].sum())
            if unit == "token":
                assert got == budget
            else:  # whole words: greedy fill never exceeds the budget and takes >= 1 word
                assert 1 <= got <= budget


@pytest.mark.parametrize("unit", ["word", "span"])
@pytest.mark.parametrize("count", ["bernoulli", "exact"])
def test_word_and_span_units_keep_words_whole(unit, count):
    ids, attn = make_batch([200] * 16)
    words = words_for(ids, max_pieces=4)
    cfg = MaskingConfig(unit=unit, count=count, mlm_probability=0.3)
    out = mask_batch(ids, VOCAB, cfg, seed=0, attention_mask=attn, word_ids=words)
    for row in range(16):
        for w in words[row].unique().tolist():
            if w < 0:
                continue
            sel = out.masked[row][words[row] == w]
            assert sel.all() or not sel.any(), (row, w)
    assert binomial_ok(int(out.masked.sum()), int(16 * 198), 0.3, sigmas=8) or count == "exact"


def test_word_ids_required_for_word_units():
    ids, attn = make_batch([20])
    with pytest.raises(ValueError, match="needs word_ids"):
        mask_batch(ids, VOCAB, MaskingConfig(unit="word"), attention_mask=attn)


def test_span_lengths_follow_truncated_geometric():
    keys = torch.arange(2000, dtype=torch.int32)
    spans = span_of_words(keys, 200, geometric_p=0.2, max_words=10)
    lengths = torch.stack([torch.bincount(row, minlength=200)[:30] for row in spans]).flatten()
    lengths = lengths[lengths > 0].float()
    assert 1 <= lengths.min() and lengths.max() <= 10
    assert lengths.mean().item() == pytest.approx(3.8, abs=0.1)


def test_span_selection_masks_contiguous_word_runs():
    ids, attn = make_batch([300] * 8)
    words = words_for(ids, max_pieces=1)  # one piece per word: spans are runs of tokens
    out = mask_batch(
        ids,
        VOCAB,
        MaskingConfig(unit="span", mlm_probability=0.2),
        seed=0,
        attention_mask=attn,
        word_ids=words,
    )
    runs = []
    for row in out.masked.int():
        edges = torch.diff(torch.cat([torch.tensor([0]), row, torch.tensor([0])]))
        starts, ends = (edges == 1).nonzero().flatten(), (edges == -1).nonzero().flatten()
        runs += (ends - starts).tolist()
    assert sum(runs) / len(runs) > 3.0  # SpanBERT's mean 3.8 (adjacent spans merge into longer runs)


def test_word_ids_from_offsets_and_vocab_markers():
    offsets = torch.tensor([[[0, 0], [0, 3], [3, 5], [6, 9], [9, 10], [0, 0]]])
    cand = torch.tensor([[False, True, True, True, True, False]])
    assert word_ids_from_offsets(offsets, cand).tolist() == [[-1, 0, 0, 1, 1, -1]]
    word_start = torch.tensor([True, True, False, True, False])  # ids 2 and 4 are "##" pieces
    ids = torch.tensor([[0, 1, 2, 3, 4, 0]])
    assert word_ids_from_vocab(ids, word_start, cand).tolist() == [[-1, 0, 0, 1, 1, -1]]


def test_input_validation_messages():
    with pytest.raises(ValueError, match="2-D tensor"):
        mask_batch(torch.arange(10), VOCAB)
    with pytest.raises(ValueError, match="integer token ids"):
        mask_batch(torch.rand(2, 3), VOCAB)
    ids, attn = make_batch([10, 10])
    with pytest.raises(ValueError, match="one id per row"):
        mask_batch(ids, VOCAB, example_ids=torch.arange(3))
    with pytest.raises(ValueError, match="attention_mask must have the shape"):
        mask_batch(ids, VOCAB, attention_mask=attn[:, :5])
    with pytest.raises(TypeError, match="MaskingVocab"):
        mask_batch(ids, object())


def test_theory_matches_roberta_numbers():
    assert theoretical_ever_masked(0.15, 40, 10) == pytest.approx(0.803, abs=5e-4)
    assert theoretical_ever_masked(0.15, 40) == pytest.approx(0.998, abs=5e-4)


def test_exposure_measured_against_theory():
    ids, attn = make_batch([256] * 64)
    kw = dict(example_ids=torch.arange(64), attention_mask=attn)
    static = exposure(StaticMasking(seed=0, dupe_factor=10), ids, VOCAB, 40, **kw)
    dynamic = exposure(DynamicMasking(seed=0), ids, VOCAB, 40, **kw)
    assert static.share_ever_masked == pytest.approx(0.803, abs=0.01)
    assert dynamic.share_ever_masked == pytest.approx(0.998, abs=0.003)
    assert torch.allclose(static.ever_masked_curve, static.theory_curve(), atol=0.015)
    assert torch.equal(
        static.ever_masked_curve[9:], static.ever_masked_curve[9].expand(31)
    )  # no news after 10
    assert static.counts[static.candidates].float().mean() == pytest.approx(40 * 0.15, rel=0.03)
    assert not static.counts[~static.candidates].any()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_masks_on_gpu_as_on_cpu():
    ids, attn = make_batch([128] * 16)
    words = words_for(ids)
    for cfg in (
        MaskingConfig(),
        MaskingConfig(unit="span", count="exact"),
        MaskingConfig(count="fairseq"),
        MaskingConfig(unit="word", count="fairseq", corruption_per="unit"),
        MaskingConfig(unit="span", corruption_per="unit"),
    ):
        cpu = mask_batch(ids, VOCAB, cfg, seed=3, attention_mask=attn, word_ids=words)
        gpu = mask_batch(ids.cuda(), VOCAB, cfg, seed=3, attention_mask=attn.cuda(), word_ids=words.cuda())
        assert torch.equal(cpu.input_ids, gpu.input_ids.cpu())


def test_out_of_vocabulary_ids_are_refused():
    ids, attn = make_batch([10])
    ids[0, 3] = 5000
    with pytest.raises(ValueError, match="outside this vocabulary"):
        mask_batch(ids, VOCAB, attention_mask=attn)


# ---- issue 9 section 3: empty batches, and inputs refused rather than guessed -------------

EMPTY_SHAPES = [(0, 5), (2, 0), (1, 0), (0, 0)]


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
@pytest.mark.parametrize(
    "config", [MaskingConfig(), MaskingConfig(unit="span", count="exact"), MaskingConfig(unit="word")]
)
def test_empty_batch_and_zero_length_rows_give_empty_results(shape, config):
    ids = torch.zeros(shape, dtype=torch.int32)
    words = torch.full(shape, -1)
    out = mask_batch(ids, VOCAB, config, seed=1, mask_epoch=3, word_ids=words)
    for name in ("input_ids", "labels", "masked", "replaced_by_mask", "replaced_by_random"):
        assert tuple(getattr(out, name).shape) == shape, name
    assert out.input_ids.dtype == torch.int32 and out.labels.dtype == torch.int64
    assert not out.masked.any() and (out.labels == IGNORE_INDEX).all()
    assert out.corruption.shape == shape
    assert out.example_ids.shape == out.mask_epoch.shape == (shape[0],)
    assert (out.mask_epoch == 3).all()
    # Explicit ids are still checked (one per row), and kept.
    given = mask_batch(ids, VOCAB, config, example_ids=torch.arange(shape[0]) + 7, word_ids=words)
    assert given.example_ids.tolist() == list(range(7, 7 + shape[0]))
    with pytest.raises(ValueError, match="one id per row"):
        mask_batch(ids, VOCAB, config, example_ids=torch.arange(shape[0] + 1), word_ids=words)


def test_zero_length_rows_are_keyed_like_fully_padded_rows():
    empty = mask_batch(torch.zeros((3, 0), dtype=torch.int64), VOCAB)
    padded = mask_batch(torch.full((3, 4), PAD), VOCAB)
    assert torch.equal(empty.example_ids, padded.example_ids)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_schedules_mask_empty_batches(kind):
    masking = make_masking(kind, MaskingConfig(count="exact"), seed=2, dupe_factor=3)
    for shape in EMPTY_SHAPES:
        out = masking(
            torch.zeros(shape, dtype=torch.int64), VOCAB, epoch=4, example_ids=torch.arange(shape[0])
        )
        assert tuple(out.masked.shape) == shape and not out.masked.any()
        assert (out.mask_epoch == masking.mask_epoch(4)).all()


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"example_ids": torch.tensor([0.5, 1.7])}, TypeError, "example_ids must be integers"),
        ({"example_ids": [0.0, 1.0]}, TypeError, "example_ids must be integers"),
        ({"example_ids": torch.tensor([True, False])}, TypeError, "example_ids must be integers"),
        ({"example_ids": ["a", "b"]}, TypeError, "example_ids must be integers"),
        ({"example_ids": torch.tensor([[0], [1]])}, ValueError, r"one id per row \(2\), shape \[2\]"),
        ({"example_ids": torch.tensor([-1, 0])}, ValueError, r"example_ids .*\[0, 2\*\*32\)"),
        ({"example_ids": [0, 2**32]}, ValueError, r"example_ids .*\[0, 2\*\*32\)"),
        ({"mask_epoch": 1.9}, TypeError, "mask_epoch must be an int"),
        ({"mask_epoch": True}, TypeError, "mask_epoch must be an int"),
        ({"mask_epoch": "1"}, TypeError, "mask_epoch must be an int"),
        ({"mask_epoch": torch.tensor([1.0, 2.0])}, TypeError, "mask_epoch must be an int"),
        ({"mask_epoch": 2**32}, ValueError, r"mask_epoch must be an int in \[0, 2\*\*32\)"),
        ({"mask_epoch": -1}, ValueError, r"mask_epoch must be an int in \[0, 2\*\*32\)"),
        ({"mask_epoch": torch.tensor([0, 2**32])}, ValueError, r"mask_epoch .*\[0, 2\*\*32\)"),
        ({"mask_epoch": torch.zeros(2, 2, dtype=torch.int64)}, ValueError, r"mask_epoch must have shape"),
        ({"mask_epoch": torch.zeros(3, dtype=torch.int64)}, ValueError, r"mask_epoch must have shape"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"config": {"mlm_probability": 0.2}}, TypeError, "config must be a MaskingConfig"),
        ({"attention_mask": [[1] * 10] * 2}, TypeError, "attention_mask must be a torch.Tensor"),
    ],
)
def test_mask_batch_refuses_what_it_used_to_guess(kwargs, error, fragment):
    ids, _ = make_batch([10, 10])
    with pytest.raises(error, match=fragment):
        mask_batch(ids, VOCAB, **kwargs)


def test_valid_ids_and_epochs_keep_their_masks():
    """The checks change nothing for valid inputs: ints, numpy ints and tensors agree, and the
    last epoch before 2**32 is a mask of its own (it used to wrap around only from 2**32 on)."""
    import numpy as np

    ids, attn = make_batch([40, 40])
    base = mask_batch(ids, VOCAB, seed=5, example_ids=torch.tensor([3, 4]), mask_epoch=6, attention_mask=attn)
    for ex, epoch in [
        ([3, 4], np.int64(6)),
        (np.array([3, 4]), torch.tensor(6)),
        ((3, 4), torch.tensor([6, 6])),
    ]:
        again = mask_batch(ids, VOCAB, seed=5, example_ids=ex, mask_epoch=epoch, attention_mask=attn)
        assert torch.equal(again.input_ids, base.input_ids)
    last = mask_batch(ids, VOCAB, seed=5, example_ids=[3, 4], mask_epoch=2**32 - 1, attention_mask=attn)
    first = mask_batch(ids, VOCAB, seed=5, example_ids=[3, 4], mask_epoch=0, attention_mask=attn)
    assert not torch.equal(last.masked, first.masked)


@pytest.mark.parametrize("epoch, error", [(1.9, TypeError), (2**32, ValueError), (-1, ValueError)])
@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_schedules_refuse_non_integer_or_out_of_range_epochs(kind, epoch, error):
    ids, attn = make_batch([10])
    with pytest.raises(error, match=r"epoch must be an int"):
        make_masking(kind)(ids, VOCAB, epoch=epoch, attention_mask=attn)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"count": "exact", "max_predictions": True}, "max_predictions must be a positive int"),
        ({"count": "exact", "max_predictions": 2.0}, "max_predictions must be a positive int"),
        ({"span_geometric_p": True}, r"span_geometric_p must be a number in \(0, 1\]"),
        ({"span_geometric_p": "0.2"}, r"span_geometric_p must be a number in \(0, 1\]"),
        ({"span_geometric_p": float("nan")}, r"span_geometric_p must be a number in \(0, 1\]"),
        ({"max_span_words": True}, r"max_span_words must be an int in \[1, 65536\]"),
        ({"max_span_words": 10**9}, r"max_span_words must be an int in \[1, 65536\]"),
        ({"mlm_probability": "0.15"}, r"mlm_probability must be a number in \[0, 1\]"),
        ({"mlm_probability": 10**400}, r"mlm_probability must be a number in \[0, 1\]"),
        ({"unit": ["token"]}, "unit must be one of"),
    ],
)
def test_config_refuses_bools_strings_and_huge_values(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        MaskingConfig(**kwargs)


def test_schedules_refuse_a_config_that_is_not_one():
    with pytest.raises(TypeError, match=r"DynamicMasking\(config\) must be a MaskingConfig"):
        DynamicMasking({"mlm_probability": 0.2})
    with pytest.raises(ValueError, match="dupe_factor must be an int >= 1"):
        StaticMasking(dupe_factor=True)
    with pytest.raises(TypeError, match="seed must be an int"):
        StaticMasking(seed=0.5)
