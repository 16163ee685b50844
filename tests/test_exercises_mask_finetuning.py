"""Chapter 07's checks: right answers pass, typical mistakes get their message, junk never raises.

The expected answers come from the check's inputs (lengths, tokens, a small hand-made summary
table), so each test builds its inputs and the answer it expects from them.
"""

import numpy as np
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS, assert_junk_rejected, assert_right_passes_and_placeholders_do_not
from hypothesis import given, settings

from dynmask_viz.attention_masks import ENGLISH_STOPWORDS
from dynmask_viz.hf.layer_masks import TopKKeys
from dynmask_viz.teaching import (
    check_significant,
    check_stopword_keep,
    check_test_time_cost,
    check_topk_share,
)

# A review as the BERT tokenizer splits it: specials, stopwords, punctuation, a continuation piece.
TOKENS = "[CLS] the film is n't bad , it ' s great ##s fun ! [SEP]".split()
SPECIAL, PUNCT, PIECE = {0, 14}, {6, 8, 13}, {11}
STOP = {i for i, t in enumerate(TOKENS) if t in ENGLISH_STOPWORDS}
KEEP = [i not in STOP | PUNCT for i in range(len(TOKENS))]  # True = the key stays visible


def _row(condition, median, *, diff=None, tto=None, interval=None):
    row = {"condition": condition, "rule": f"rule_of_{condition}", "seeds": [0, 1, 2], "median": median}
    row["interval"] = interval or (median - 0.01, median + 0.01)
    if diff is not None:
        row["diff_mean"], row["diff_interval"] = sum(diff) / 2, diff
    if tto is not None:
        row["test_time_only_median"], row["test_time_only_interval"] = tto, (tto - 0.01, tto + 0.01)
    return row


# Made up to tell the answers apart: topk_4 loses most at test time only (0.80 -> 0.60), yet
# threshold has the lowest accuracy when trained with its mask; the paired intervals give each
# verdict once. Intervals as lists too: that is what summary.json gives back.
SUMMARY = {
    "rows": [
        _row("full", 0.80, tto=None),
        _row("drop_stopwords", 0.81, diff=(0.002, 0.02), tto=0.75),  # helps
        _row("topk_4", 0.79, diff=[-0.03, -0.001], tto=0.60),  # hurts
        _row("threshold", 0.70, diff=(-0.02, 0.01), tto=0.78),  # no measurable difference
        _row("random_drop", 0.80, diff=(-0.02, 0.01), tto=0.79, interval=(0.70, 0.85)),
        _row("dma", 0.805, diff=(0.001, 0.01)),  # learned: no test-time-only score
    ]
}
# Same medians, paired difference excludes 0 while the two accuracy intervals overlap.
OVERLAP = {"rows": [_row("full", 0.80), _row("topk_16", 0.805, diff=(0.001, 0.01))]}

REFERENCE = [
    (check_topk_share, 8 / 37, dict(length=37, k=8)),
    (check_stopword_keep, KEEP, dict(tokens=TOKENS)),
    (check_significant, "hurts", dict(summary=SUMMARY, condition="topk_4")),
    (check_test_time_cost, "topk_4", dict(summary=SUMMARY)),
]
IDS = [r[0].__name__ for r in REFERENCE]


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=IDS)
def test_reference_answers_pass_and_placeholders_do_not(check, answer, kwargs):
    assert_right_passes_and_placeholders_do_not(check, answer, kwargs)


@settings(max_examples=60, deadline=None)
@given(answer=JUNK_ANSWERS)
def test_junk_never_raises_and_never_passes(answer):
    assert_junk_rejected(REFERENCE, answer)


# --- check_topk_share ---------------------------------------------------------------------------


def _rule_share(length: int, k: int) -> float:
    """The share TopKKeys itself keeps over ``length`` real keys (random scores)."""
    logits = torch.randn(1, 1, length, length, generator=torch.Generator().manual_seed(0))
    valid = torch.ones(1, 1, length, length, dtype=torch.bool)
    keep, _ = TopKKeys(k).select(logits, valid, layer=0, value=None, module=None, inputs={})
    return float((keep & valid).sum()) / length**2


@pytest.mark.parametrize("length, k", [(37, 8), (10, 16), (5, 5), (64, 4)])
def test_topk_share_is_what_the_rule_keeps(length, k):
    share = _rule_share(length, k)
    assert check_topk_share(share, length=length, k=k)
    assert check_topk_share(round(share, 2), length=length, k=k)  # 2 decimals are enough
    assert check_topk_share(np.float32(share), length=length, k=k)
    assert check_topk_share(str(round(share, 3)), length=length, k=k)


def test_topk_share_explains_typical_mistakes():
    kw = dict(length=37, k=8)
    result = check_topk_share(100 * 8 / 37, **kw)
    assert not result and "as a fraction" in result.message
    assert "as a fraction" in check_topk_share("21.6%", **kw).message
    assert "one query's worth" in check_topk_share(8 / 37**2, **kw).message
    assert "dropped" in check_topk_share(1 - 8 / 37, **kw).message
    wrong = check_topk_share(0.3, **kw)
    assert not wrong and "within 0.005" in wrong.message and "0.216" not in str(wrong)
    assert "between 0 and 1" in check_topk_share(-0.5, **kw).message
    # k larger than the review: k / length without the min
    capped = check_topk_share(16 / 10, length=10, k=16)
    assert not capped and "min(k, length)" in capped.hint
    assert check_topk_share(1.0, length=10, k=16)


@pytest.mark.parametrize("bad", [dict(length=0, k=4), dict(length=10, k=True), dict(length=10.0, k=4)])
def test_topk_share_rejects_bad_author_arguments(bad):
    with pytest.raises(ValueError, match="length|k"):
        check_topk_share(0.5, **bad)


# --- check_stopword_keep ------------------------------------------------------------------------


def test_stopword_keep_accepts_lists_tensors_and_a_batch_of_one():
    assert check_stopword_keep([int(x) for x in KEEP], TOKENS)
    assert check_stopword_keep(torch.tensor(KEEP), TOKENS)
    assert check_stopword_keep(torch.tensor([KEEP]), TOKENS)
    assert check_stopword_keep(np.array(KEEP), TOKENS)


def _flip(indices):
    return [not k if i in indices else k for i, k in enumerate(KEEP)]


def test_stopword_keep_names_each_typical_mistake():
    assert "inverted" in check_stopword_keep([not k for k in KEEP], TOKENS).message
    special = check_stopword_keep(_flip(SPECIAL), TOKENS)
    assert not special and "[CLS] [SEP] (special tokens stay visible)" in special.message
    punct = check_stopword_keep(_flip(PUNCT), TOKENS)
    assert not punct and "punctuation too" in punct.message and "[CLS]" not in punct.message
    assert "pieces of longer words" in check_stopword_keep(_flip(PIECE), TOKENS).message
    assert "hide the (stopwords)" in check_stopword_keep(_flip({1}), TOKENS).message
    assert "keep film (not stopwords)" in check_stopword_keep(_flip({2}), TOKENS).message
    both = check_stopword_keep(_flip(SPECIAL | PUNCT), TOKENS).message
    assert "special tokens" in both and "punctuation" in both
    short = check_stopword_keep(KEEP[:-1], TOKENS)
    assert not short and f"{len(TOKENS)} tokens" in short.message
    wrong_dtype = check_stopword_keep(torch.tensor(KEEP).int(), TOKENS)
    assert not wrong_dtype and ".bool()" in wrong_dtype.hint
    assert "nested" in check_stopword_keep([KEEP, KEEP], TOKENS).message


def test_stopword_keep_rejects_bad_tokens():
    with pytest.raises(ValueError, match="tokens"):
        check_stopword_keep(KEEP, "the film")


# --- check_significant --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, verdict",
    [("drop_stopwords", "helps"), ("topk_4", "hurts"), ("threshold", "no measurable difference")],
)
def test_significant_reads_the_paired_interval(condition, verdict):
    result = check_significant(verdict, SUMMARY, condition)
    assert result, str(result)
    lo, hi = next(r["diff_interval"] for r in SUMMARY["rows"] if r["condition"] == condition)
    assert f"[{100 * lo:+.1f}, {100 * hi:+.1f}]" in result.message
    others = [v for v in ("helps", "hurts", "no measurable difference") if v != verdict]
    assert not any(check_significant(v, SUMMARY, condition) for v in others)


def test_significant_accepts_spellings_and_explains_mistakes():
    assert check_significant("  No_Measurable-Difference ", SUMMARY, "threshold")
    assert check_significant("no difference", SUMMARY, "threshold")
    assert check_significant("HURT", SUMMARY, "topk_4")
    for vague in (True, "yes", "no"):
        assert "which way" in check_significant(vague, SUMMARY, "topk_4").hint
    assert "Wrong direction" in check_significant("helps", SUMMARY, "topk_4").message
    mean_only = check_significant("hurts", SUMMARY, "threshold")
    assert not mean_only and "mean alone" in mean_only.message
    overlap = check_significant("no measurable difference", OVERLAP, "topk_16")
    assert not overlap and "intervals overlap" in overlap.message and "paired" in overlap.message


def test_significant_rejects_a_condition_without_a_paired_difference():
    for condition in ("full", "missing"):
        with pytest.raises(ValueError, match="condition"):
            check_significant("helps", SUMMARY, condition)
    with pytest.raises(ValueError, match="summary"):
        check_significant("helps", {"table": []}, "topk_4")


# --- check_test_time_cost -----------------------------------------------------------------------


def test_test_time_cost_takes_the_largest_drop():
    result = check_test_time_cost(" TopK_4 ", SUMMARY)
    assert result and "80.0% -> 60.0%" in result.message
    assert check_test_time_cost("rule_of_topk_4", SUMMARY)  # the rule's name works too
    # Another table, another answer: nothing is fixed in the check.
    rows = [dict(r) for r in SUMMARY["rows"]]
    rows[1]["test_time_only_median"] = 0.50
    assert check_test_time_cost("drop_stopwords", {"rows": rows})
    assert not check_test_time_cost("topk_4", {"rows": rows})


def test_test_time_cost_explains_mistakes():
    unknown = check_test_time_cost("topk_8", SUMMARY)
    assert not unknown and "not a condition" in unknown.message
    assert "baseline itself" in check_test_time_cost("full", SUMMARY).message
    assert "no test-time-only score" in check_test_time_cost("dma", SUMMARY).message
    smaller = check_test_time_cost("drop_stopwords", SUMMARY)
    assert not smaller and "-5.0 points" in smaller.message and "topk_4" not in str(smaller)
    trained = check_test_time_cost("threshold", SUMMARY)
    assert not trained and "*trained*" in trained.hint


def test_test_time_cost_needs_a_baseline_row():
    with pytest.raises(ValueError, match="full"):
        check_test_time_cost("topk_4", {"rows": SUMMARY["rows"][1:]})
