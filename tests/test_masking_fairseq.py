"""fairseq's options in mask_batch: count="fairseq", one 80/10/10 decision per unit, [UNK].

Statistical checks use fixed seeds and tolerances from binomial bounds (5 standard deviations),
so they are deterministic and fail only when a rate is really off.
"""

import math

import pytest
import torch
from _masking_helpers import CLS, MASK, PAD, SEP, VOCAB, make_batch, words_for

from dynmask_viz._hashing import STREAM_SPAN, example_stream_keys
from dynmask_viz.masking import KEPT, MASKED, RANDOM, MaskingConfig, MaskingVocab, mask_batch
from dynmask_viz.masking.units import normalize_word_ids, span_ids_from_words


def binomial_ok(successes, trials, p, sigmas=5.0):
    """True when a count is within `sigmas` standard deviations of its binomial mean."""
    sd = math.sqrt(trials * p * (1 - p))
    return abs(successes - trials * p) <= sigmas * sd + 1


def selected_words(out, words):
    """Per row, the number of distinct words with a selected token."""
    return torch.tensor([len(set(words[r][out.masked[r]].tolist())) for r in range(words.shape[0])])


def kinds_per_group(out, groups):
    """Per (row, group) with a selected token, the set of corruption kinds of its selected tokens."""
    kinds = out.corruption
    result = {}
    for r, c in out.masked.nonzero().tolist():
        result.setdefault((r, int(groups[r, c])), set()).add(int(kinds[r, c]))
    return result


# ---- count="fairseq" ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [37, 128, 512])
def test_fairseq_count_is_int_p_n_plus_u(n):
    """int(p * n + u): floor(p n) or one more, p n on average, spread sqrt(f (1 - f)) <= 0.5
    (f the fractional part of p n) instead of Bernoulli's sqrt(n p (1 - p)). n counts [CLS]
    and [SEP], as fairseq's len(item) counts <s> and </s>."""
    rows, p = 400, 0.15
    ids, attn = make_batch([n] * rows, seed=n)
    ex = torch.arange(rows)
    out = mask_batch(ids, VOCAB, MaskingConfig(count="fairseq"), seed=1, example_ids=ex, attention_mask=attn)
    counts = out.masked.sum(1).double()
    low, frac = math.floor(p * n), p * n - math.floor(p * n)
    assert set(counts.long().tolist()) <= {low, low + 1}
    sd = math.sqrt(frac * (1 - frac))
    assert abs(counts.mean().item() - p * n) <= 5 * sd / math.sqrt(rows) + 1e-9
    assert counts.std().item() == pytest.approx(sd, abs=0.08)
    bernoulli = mask_batch(ids, VOCAB, MaskingConfig(), seed=1, example_ids=ex, attention_mask=attn)
    spread = bernoulli.masked.sum(1).double().std().item()
    assert spread == pytest.approx(math.sqrt((n - 2) * p * (1 - p)), rel=0.2)
    assert counts.std().item() < spread / 4


@pytest.mark.parametrize("unit", ["word", "span"])
def test_fairseq_count_with_words_counts_words_and_each_special_as_one(unit):
    """With whole words fairseq's n is the number of word starts, each special token being one."""
    rows, p = 300, 0.2
    ids, attn = make_batch([90] * rows, seed=4)
    words = words_for(ids, max_pieces=4)
    cfg = MaskingConfig(unit=unit, count="fairseq", mlm_probability=p, corruption_per="unit")
    out = mask_batch(
        ids, VOCAB, cfg, seed=2, example_ids=torch.arange(rows), attention_mask=attn, word_ids=words
    )
    n_words = words.amax(1) + 1 + 2  # words, [CLS], [SEP]
    got = selected_words(out, words)
    low = torch.floor(n_words.double() * p).long()
    assert ((got == low) | (got == low + 1)).all()
    assert abs((got.double() - n_words.double() * p).mean().item()) <= 5 * 0.5 / math.sqrt(rows)
    for row in range(rows):  # whole words only
        for w in words[row][out.masked[row]].unique().tolist():
            assert out.masked[row][words[row] == w].all()


@pytest.mark.parametrize("p, expected", [(0.0, 0), (1.0, None)])
def test_fairseq_count_at_the_ends_of_p(p, expected):
    """p=0 selects nothing; p=1 selects every maskable token (fairseq's n + u, capped at the
    maskable tokens since specials are never drawn here), never more, never an error."""
    ids, attn = make_batch([30, 12, 5], 30)
    for unit in ("token", "word", "span"):
        cfg = MaskingConfig(unit=unit, count="fairseq", mlm_probability=p)
        out = mask_batch(ids, VOCAB, cfg, seed=3, attention_mask=attn, word_ids=words_for(ids))
        maskable = attn.sum(1) - 2
        assert torch.equal(out.masked.sum(1), maskable if expected is None else torch.zeros_like(maskable))


def test_fairseq_count_refuses_max_predictions():
    with pytest.raises(
        ValueError, match=r"max_predictions only applies to count='exact'.*got count='fairseq'"
    ):
        MaskingConfig(count="fairseq", max_predictions=20)


# ---- one 80/10/10 decision per unit -----------------------------------------------------------


@pytest.mark.parametrize("count", ["bernoulli", "exact", "fairseq"])
def test_per_unit_corruption_never_splits_a_word(count):
    ids, attn = make_batch([256] * 32, seed=7)
    words = words_for(ids, max_pieces=4)
    kw = dict(seed=5, example_ids=torch.arange(32), attention_mask=attn, word_ids=words)
    per_unit = mask_batch(ids, VOCAB, MaskingConfig(unit="word", count=count, corruption_per="unit"), **kw)
    assert all(len(k) == 1 for k in kinds_per_group(per_unit, words).values())
    # The same selection decided per token does split words: the check above can fail.
    per_token = mask_batch(ids, VOCAB, MaskingConfig(unit="word", count=count), **kw)
    assert torch.equal(per_token.masked, per_unit.masked)
    assert any(len(k) > 1 for k in kinds_per_group(per_token, words).values())


def test_per_unit_shares_are_80_10_10_per_word_and_per_token():
    ids, attn = make_batch([512] * 64, seed=8)
    words = words_for(ids, max_pieces=3)
    cfg = MaskingConfig(unit="word", corruption_per="unit")
    out = mask_batch(
        ids, VOCAB, cfg, seed=6, example_ids=torch.arange(64), attention_mask=attn, word_ids=words
    )
    decisions = [next(iter(k)) for k in kinds_per_group(out, words).values()]
    n_tokens = int(out.masked.sum())
    for kind, p in ((MASKED, 0.8), (RANDOM, 0.1), (KEPT, 0.1)):
        assert binomial_ok(decisions.count(kind), len(decisions), p), kind
        # Tokens come in words of up to 3 pieces: the binomial bound over words, scaled by 3.
        tokens = int((out.corruption == kind).sum())
        assert abs(tokens - p * n_tokens) <= 3 * (5 * math.sqrt(len(decisions) * p * (1 - p)) + 1), kind


def test_random_replaced_words_get_a_random_id_per_token():
    """As fairseq (np.random.choice over the repeated word mask): one draw per token, never a
    special token or [UNK]."""
    ids, attn = make_batch([512] * 64, seed=9)
    words = words_for(ids, max_pieces=4)
    cfg = MaskingConfig(unit="word", corruption_per="unit", mask_replace_prob=0.0, random_replace_prob=1.0)
    out = mask_batch(
        ids, VOCAB, cfg, seed=0, example_ids=torch.arange(64), attention_mask=attn, word_ids=words
    )
    assert torch.equal(out.replaced_by_random, out.masked)
    multi = 0
    same = 0
    for (row, w), _ in kinds_per_group(out, words).items():
        drawn = out.input_ids[row][words[row] == w]
        if drawn.numel() > 1:
            multi += 1
            same += int((drawn == drawn[0]).all())
    assert multi > 500 and same <= 0.02 * multi  # 1 / 996 by chance for two pieces
    assert not torch.isin(out.input_ids[out.masked], torch.tensor([PAD, CLS, SEP, MASK])).any()


def test_span_units_share_one_decision_per_span():
    """SpanBERT decides 80/10/10 per span (--replacement-method span): every token of a span."""
    rows = 16
    ids, attn = make_batch([300] * rows, seed=10)
    words = words_for(ids, max_pieces=2)
    ex = torch.arange(rows)
    cfg = MaskingConfig(unit="span", corruption_per="unit", mlm_probability=0.3)
    out = mask_batch(ids, VOCAB, cfg, seed=4, example_ids=ex, attention_mask=attn, word_ids=words)
    (span_keys,) = example_stream_keys(4, ex, 0, (STREAM_SPAN,))
    candidates = words >= 0
    spans = span_ids_from_words(
        normalize_word_ids(words, candidates), span_keys, geometric_p=0.2, max_words=10
    )
    groups = kinds_per_group(out, spans)
    assert all(len(k) == 1 for k in groups.values())
    assert sum(out.masked.sum(1)) > sum(len(k) for k in groups.values())  # spans of several tokens
    per_token = mask_batch(
        ids,
        VOCAB,
        cfg.replace(corruption_per="token"),
        seed=4,
        example_ids=ex,
        attention_mask=attn,
        word_ids=words,
    )
    assert any(len(k) > 1 for k in kinds_per_group(per_token, spans).values())


@pytest.mark.parametrize("count", ["bernoulli", "exact", "fairseq"])
def test_token_units_are_the_same_per_token_or_per_unit(count):
    ids, attn = make_batch([100] * 8)
    a = mask_batch(ids, VOCAB, MaskingConfig(count=count), seed=2, attention_mask=attn)
    b = mask_batch(ids, VOCAB, MaskingConfig(count=count, corruption_per="unit"), seed=2, attention_mask=attn)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.masked, b.masked)


@pytest.mark.parametrize(
    "config",
    [
        MaskingConfig(count="fairseq"),
        MaskingConfig(unit="word", count="fairseq", corruption_per="unit"),
        MaskingConfig(unit="span", count="fairseq", corruption_per="unit"),
        MaskingConfig(unit="word", corruption_per="unit"),
        MaskingConfig(unit="span", count="exact", corruption_per="unit"),
    ],
)
def test_new_modes_depend_on_key_not_on_batch_order_padding_or_side(config):
    ids, attn = make_batch([30, 50, 70], 70, seed=5)
    words = words_for(ids)
    kw = dict(seed=9, mask_epoch=3)
    base = mask_batch(
        ids, VOCAB, config, example_ids=torch.tensor([7, 8, 9]), attention_mask=attn, word_ids=words, **kw
    )
    alone = mask_batch(
        ids[1:2, :60],
        VOCAB,
        config,
        example_ids=torch.tensor([8]),
        attention_mask=attn[1:2, :60],
        word_ids=words[1:2, :60],
        **kw,
    )
    assert torch.equal(alone.input_ids[0, :50], base.input_ids[1, :50])
    perm = [2, 0, 1]
    shuffled = mask_batch(
        ids[perm],
        VOCAB,
        config,
        example_ids=torch.tensor([9, 7, 8]),
        attention_mask=attn[perm],
        word_ids=words[perm],
        **kw,
    )
    assert torch.equal(shuffled.input_ids[2], base.input_ids[1])
    lids, lattn = make_batch([30, 50, 70], 90, seed=5, left=True)
    lwords = words_for(lids)
    left = mask_batch(
        lids, VOCAB, config, example_ids=torch.tensor([7, 8, 9]), attention_mask=lattn, word_ids=lwords, **kw
    )
    assert torch.equal(left.input_ids[1, -50:], base.input_ids[1, :50])
    assert torch.equal(left.masked[1, -50:], base.masked[1, :50])
    again = mask_batch(
        ids,
        VOCAB,
        config,
        example_ids=torch.tensor([7, 8, 9]),
        attention_mask=attn,
        word_ids=words,
        seed=9,
        mask_epoch=4,
    )
    assert not torch.equal(again.masked, base.masked)  # another epoch, another mask


@pytest.mark.parametrize(
    "value",
    ["word", "tokens", "", None, True, 1, ["unit"]],
)
def test_corruption_per_refuses_other_values(value):
    with pytest.raises(ValueError, match=r"corruption_per must be one of \('token', 'unit'\)"):
        MaskingConfig(corruption_per=value)


def test_presets_name_fairseq_and_spanbert_schemes():
    assert MaskingConfig.from_preset("fairseq").count == "fairseq"
    wwm = MaskingConfig.from_preset("fairseq-wwm")
    assert (wwm.unit, wwm.count, wwm.corruption_per) == ("word", "fairseq", "unit")
    assert MaskingConfig.from_preset("spanbert").corruption_per == "unit"
    assert MaskingConfig.from_preset("bert-wwm").corruption_per == "token"  # BERT: per token
    assert MaskingConfig.from_preset("roberta") == MaskingConfig()


# ---- [UNK] is selected like any token ---------------------------------------------------------

UNK = 4
VOCAB_UNK = MaskingVocab.build(
    mask_token_id=MASK, vocab_size=1000, special_ids=[CLS, SEP], pad_token_id=PAD, unk_token_id=UNK
)


@pytest.mark.parametrize("count", ["bernoulli", "exact", "fairseq"])
def test_unk_gets_its_share_of_predictions_but_is_never_drawn(count):
    rows, n = 32, 200
    ids, attn = make_batch([n] * rows, seed=11)
    ids[:, 1 : n - 20] = UNK  # rows of mostly [UNK]
    cfg = MaskingConfig(count=count, mask_replace_prob=0.0, random_replace_prob=1.0)
    out = mask_batch(ids, VOCAB_UNK, cfg, seed=3, example_ids=torch.arange(rows), attention_mask=attn)
    unk_selected = int(out.masked[ids == UNK].sum())
    assert binomial_ok(unk_selected, int((ids == UNK).sum()), 0.15)
    assert not (out.input_ids[out.masked] == UNK).any()  # no random replacement is [UNK]
    assert UNK not in VOCAB_UNK.replacement_ids.tolist() and UNK not in VOCAB_UNK.special_ids


def test_unk_of_a_real_tokenizer_is_selected(tokenizer):
    """The old from_tokenizer made [UNK] special (it is in all_special_ids): a row of [UNK]
    got no prediction at all, and its budget went to the other tokens."""
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    unk = tokenizer.unk_token_id
    row = [tokenizer.cls_token_id] + [unk] * 100 + [tokenizer.sep_token_id]
    ids = torch.tensor([row] * 16)
    out = mask_batch(ids, vocab, MaskingConfig(), seed=0, example_ids=torch.arange(16))
    assert binomial_ok(int(out.masked.sum()), 16 * 100, 0.15)
    assert unk not in vocab.special_ids and unk not in vocab.replacement_ids.tolist()
    assert {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id} <= set(vocab.special_ids)
