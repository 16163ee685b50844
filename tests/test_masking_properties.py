"""Property tests (hypothesis) of mask_batch over random shapes, lengths, seeds and configs."""

import math

import torch
from _masking_helpers import CLS, MASK, PAD, SEP, VOCAB, make_batch, words_for
from hypothesis import given, settings
from hypothesis import strategies as st

from dynmask_viz.masking import IGNORE_INDEX, MaskingConfig, StaticMasking, mask_batch

configs = st.builds(
    MaskingConfig,
    mlm_probability=st.floats(0.0, 1.0),
    mask_replace_prob=st.sampled_from([0.8, 0.9, 0.0, 0.5]),
    random_replace_prob=st.sampled_from([0.1, 0.0]),
    unit=st.sampled_from(["token", "word", "span"]),
    count=st.sampled_from(["bernoulli", "exact", "fairseq"]),
    corruption_per=st.sampled_from(["token", "unit"]),
)
batches = st.lists(st.integers(2, 80), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(config=configs, lengths=batches, seed=st.integers(0, 2**63 - 1), left=st.booleans())
def test_invariants(config, lengths, seed, left):
    ids, attn = make_batch(lengths, max(lengths) + 3, seed=seed % 1000, left=left)
    words = words_for(ids, seed=seed % 7)
    out = mask_batch(ids, VOCAB, config, seed=seed, attention_mask=attn, word_ids=words)
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    assert not out.masked[special].any()
    assert torch.equal(out.input_ids[special], ids[special])
    assert torch.equal(out.labels, ids.masked_fill(~out.masked, IGNORE_INDEX))
    changed = out.input_ids != ids
    assert not (changed & ~out.masked).any()
    inserted = out.input_ids[changed & (out.input_ids != MASK)]
    assert not torch.isin(inserted, torch.tensor([PAD, CLS, SEP])).any()
    if config.count == "exact":
        n = attn.sum(1) - 2  # maskable tokens
        budget = torch.round(attn.sum(1) * config.mlm_probability)  # BERT counts [CLS]/[SEP]
        if config.mlm_probability > 0:
            budget = budget.clamp(min=1)
        budget = torch.minimum(budget, n)
        got = out.masked.sum(1)
        assert (got <= budget).all()
        # Greedy fill: some unit is taken whenever some unit fits the budget.
        for row in range(len(lengths)):
            sizes = torch.bincount(words[row][words[row] >= 0]) if config.unit != "token" else torch.ones(1)
            if budget[row] >= 1 and sizes[sizes > 0].min() <= budget[row]:
                assert got[row] >= 1
        if config.unit == "token":
            assert torch.equal(got, budget.to(got.dtype))
    if config.count == "fairseq":
        # fairseq's int(p * n + u): n counts tokens, or words with each special token as one
        # word; at most one more than floor(p * n), capped at the maskable units.
        for row in range(len(lengths)):
            row_words = words[row][out.masked[row]]
            if config.unit == "token":
                n, units, got = int(attn[row].sum()), int(attn[row].sum()) - 2, int(out.masked[row].sum())
            else:
                units = int(words[row].max()) + 1
                n, got = units + 2, len(set(row_words.tolist()))
            low = math.floor(config.mlm_probability * n)
            assert min(low, units) <= got <= min(low + 1, units)
    if config.unit != "token":
        # Whole words, and with corruption_per="unit" one 80/10/10 decision per word.
        kinds = out.corruption
        for row in range(len(lengths)):
            for w in words[row][out.masked[row]].unique().tolist():
                in_word = words[row] == w
                assert out.masked[row][in_word].all()
                if config.corruption_per == "unit":
                    assert kinds[row][in_word].unique().numel() == 1


@settings(max_examples=40, deadline=None)
@given(config=configs, lengths=batches, seed=st.integers(0, 10**6), data=st.data())
def test_determinism_under_permutation(config, lengths, seed, data):
    ids, attn = make_batch(lengths, seed=seed)
    words = words_for(ids)
    ex = torch.arange(len(lengths)) * 13 + 5
    perm = torch.tensor(data.draw(st.permutations(range(len(lengths)))))
    a = mask_batch(
        ids, VOCAB, config, seed=seed, example_ids=ex, attention_mask=attn, word_ids=words, mask_epoch=2
    )
    b = mask_batch(
        ids[perm],
        VOCAB,
        config,
        seed=seed,
        example_ids=ex[perm],
        attention_mask=attn[perm],
        word_ids=words[perm],
        mask_epoch=2,
    )
    assert torch.equal(a.input_ids[perm], b.input_ids)
    assert torch.equal(a.masked[perm], b.masked)


@settings(max_examples=25, deadline=None)
@given(dupe=st.integers(1, 12), epoch=st.integers(0, 100), seed=st.integers(0, 10**6))
def test_static_period_is_dupe_factor(dupe, epoch, seed):
    ids, attn = make_batch([60, 60], seed=seed)
    static = StaticMasking(seed=seed, dupe_factor=dupe)
    a = static(ids, VOCAB, epoch=epoch, attention_mask=attn)
    b = static(ids, VOCAB, epoch=epoch + dupe, attention_mask=attn)
    assert torch.equal(a.input_ids, b.input_ids)
