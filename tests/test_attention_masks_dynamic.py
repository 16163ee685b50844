"""Mask catalogue, input-dependent rules (tokens, scores, a seed), empty rows and the rule
object: each against an independent dense reference or FlexAttention's ``create_mask``."""

from __future__ import annotations

import pytest
import torch
from _attention_helpers import expand, ref_causal
from torch.nn.attention.flex_attention import create_mask

from dynmask_viz.attention_masks import (
    ENGLISH_STOPWORDS,
    MaskError,
    MaskRule,
    causal,
    drop_stopwords,
    drop_tokens,
    empty_rows,
    fix_empty_rows,
    keep_tokens,
    random_drop,
    score_threshold,
    stopword_keep_mask,
    topk_keys,
)

# ---- input-dependent rules ----------------------------------------------------------------


def test_keep_and_drop_tokens_are_key_side():
    keep = torch.tensor([[True, False, True, False]])
    shape = (1, 1, 4, 4)
    ref = expand(keep[:, None, None, :], shape)
    assert torch.equal(keep_tokens(keep).dense(*shape), ref)
    assert torch.equal(drop_tokens(~keep).dense(*shape), ref)
    # A dropped token (1) still attends as a query, but by default not to itself.
    assert keep_tokens(keep).dense(*shape)[0, 0, 1].tolist() == [True, False, True, False]
    with_self = keep_tokens(keep, keep_self=True).dense(*shape)
    assert torch.equal(with_self, ref | torch.eye(4, dtype=torch.bool))
    assert drop_tokens(~keep, keep_self=True).name == "drop_tokens(keep_self=True)"


def test_topk_keys_keeps_exactly_k_highest_per_row():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    dense = topk_keys(scores, 3).dense(2, 3, 5, 7)
    assert torch.equal(dense.sum(-1), torch.full((2, 3, 5), 3))
    # Reference: a key is kept iff fewer than k keys score strictly higher (scores are distinct).
    higher = (scores[..., None, :] > scores[..., :, None]).sum(-1)
    assert torch.equal(dense, higher < 3)
    assert topk_keys(scores, 3).per_head


def test_topk_keys_ties_go_to_lower_index_and_within_limits_choice():
    flat = torch.zeros(1, 1, 2, 5)
    first_two = [True, True, False, False, False]
    assert topk_keys(flat, 2).dense(1, 1, 2, 5)[0, 0].tolist() == [first_two] * 2
    # Long rows too (torch's unstable sort and topk reorder ties from about 33 keys on).
    tied = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0] * 8).expand(1, 1, 3, 64)
    kept = topk_keys(tied, 5).dense(1, 1, 3, 64)[0, 0]
    assert torch.equal(kept.nonzero()[:, 1].view(3, 5), torch.tensor([[0, 2, 3, 5, 7]] * 3))
    scores = torch.arange(5.0).expand(1, 1, 5, 5).clone()  # later keys score higher
    dense = topk_keys(scores, 2, within=causal()).dense(1, 1, 5, 5)
    assert torch.equal(dense.sum(-1)[0, 0], torch.tensor([1, 2, 2, 2, 2]))
    assert not bool((dense & ~ref_causal((1, 1, 5, 5))).any())
    assert dense[0, 0, 4].tolist() == [False, False, False, True, True]
    # Without within=, the future keys win the selection and causal() then removes them.
    assert (causal() & topk_keys(scores, 2)).dense(1, 1, 5, 5)[0, 0, 2].sum() == 0


def test_score_threshold_matches_reference_and_broadcasts_heads():
    scores = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(1))
    rule = score_threshold(scores, 0.5)
    ref = expand(scores >= 0.5, (1, 4, 4, 6))
    assert torch.equal(rule.dense(1, 4, 4, 6), ref)
    assert torch.equal(create_mask(rule, 1, 4, 4, 6, device="cpu"), ref)
    assert not rule.per_head


def test_random_drop_deterministic_and_same_in_dense_and_flex():
    shape = (2, 3, 16, 16)
    before = torch.get_rng_state()
    a = random_drop(0.3, seed=7).dense(*shape)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is never touched
    assert torch.equal(a, random_drop(0.3, seed=7).dense(*shape))
    assert not torch.equal(a, random_drop(0.3, seed=8).dense(*shape))
    assert torch.equal(create_mask(random_drop(0.3, seed=7), *shape, device="cpu"), a)
    assert not torch.equal(a[:, 0], a[:, 1])  # heads differ by default
    shared = random_drop(0.3, seed=7, per_head=False).dense(*shape)
    assert torch.equal(shared[:, 0], shared[:, 1])
    # A sub-grid is the same pairs: the hash depends on coordinates only, not on the sizes.
    assert torch.equal(random_drop(0.3, seed=7).dense(1, 1, 4, 5), a[:1, :1, :4, :5])


def test_random_drop_rate_and_extremes():
    big = random_drop(0.3, seed=1).dense(4, 4, 32, 32)
    assert abs((~big).float().mean().item() - 0.3) < 0.03
    assert bool(random_drop(0.0, seed=1).dense(1, 1, 8, 8).all())
    assert not bool(random_drop(1.0, seed=1).dense(1, 1, 8, 8).any())


def test_input_dependent_rules_match_create_mask():
    scores = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    keep = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1]]).bool()
    for rule in (topk_keys(scores, 2), keep_tokens(keep, keep_self=True), drop_tokens(keep)):
        assert torch.equal(create_mask(rule, 2, 2, 6, 6, device="cpu"), rule.dense(2, 2, 6, 6))


class _ToyTokenizer:
    """Just enough of a tokenizer for id input: an id -> token table."""

    vocab = ["[PAD]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", ".", "##s"]
    all_special_tokens = ["[PAD]", "[CLS]", "[SEP]"]

    def convert_ids_to_tokens(self, ids):
        return [self.vocab[i] for i in ids]


def test_stopword_keep_mask_from_tokens_and_ids():
    tokens = ["[CLS]", "The", "cat", "##s", "sat", "on", "Ġthe", "▁mat", ".", "[SEP]"]
    expected = [True, False, True, True, True, False, False, True, False, True]
    assert stopword_keep_mask(tokens).tolist() == [expected]
    assert stopword_keep_mask(tokens, punctuation=False)[0, 8]
    assert stopword_keep_mask(tokens, stopwords={"cat"})[0].tolist()[1:3] == [True, False]
    ids = torch.tensor([[1, 3, 4, 5, 6, 3, 7, 8, 2], [1, 4, 9, 8, 2, 0, 0, 0, 0]])
    keep = stopword_keep_mask(ids, _ToyTokenizer())
    assert keep[0].tolist() == [True, False, True, True, False, False, True, False, True]
    assert keep[1].tolist() == [True, True, True, False, True, True, True, True, True]
    rule = drop_stopwords(ids, _ToyTokenizer())
    assert rule.name == "drop_stopwords"
    assert torch.equal(rule.dense(2, 1, 9, 9), expand(keep[:, None, None, :], (2, 1, 9, 9)))
    assert "the" in ENGLISH_STOPWORDS


def test_stopword_input_errors_are_clear():
    with pytest.raises(MaskError, match="tokenizer"):
        stopword_keep_mask([1, 2, 3])
    with pytest.raises(MaskError, match="pad"):
        stopword_keep_mask([["a", "cat"], ["the"]])
    with pytest.raises(MaskError, match="tokenize"):
        stopword_keep_mask("the cat sat")


# ---- empty rows ------------------------------------------------------------------------


def test_empty_rows_and_policies():
    rule = causal() & drop_tokens(torch.tensor([[True, True, False, False]]))
    dense = rule.dense(1, 1, 4, 4)
    assert empty_rows(dense).tolist() == [[[True, True, False, False]]]
    fixed, empty = fix_empty_rows(dense, "keep_self")
    assert torch.equal(empty, empty_rows(dense))
    assert fixed[0, 0, 0].tolist() == [True, False, False, False]
    assert fixed[0, 0, 1].tolist() == [False, True, False, False]
    assert torch.equal(fixed[0, 0, 2:], dense[0, 0, 2:])
    assert not bool(empty_rows(fixed).any())
    same, _ = fix_empty_rows(dense, "uniform")
    assert torch.equal(same, dense)
    with pytest.raises(MaskError, match="attend to nothing"):
        fix_empty_rows(dense, "raise")
    with pytest.raises(MaskError, match="square"):
        fix_empty_rows(torch.zeros(1, 1, 2, 3, dtype=torch.bool), "keep_self")
    with pytest.raises(MaskError, match="on_empty_row"):
        fix_empty_rows(dense, "ignore")
    with pytest.raises(MaskError, match="bool"):
        empty_rows(dense.float())


def test_rule_repr_and_callable_signature():
    rule = causal()
    assert repr(rule) == "MaskRule('causal')" and str(rule) == "causal"
    assert isinstance(rule, MaskRule)
    q, k = torch.tensor(3), torch.tensor(1)
    assert bool(rule(torch.tensor(0), torch.tensor(0), q, k))


# ---- issue 9 section 3: refuse, never guess ---------------------------------------------------


def test_score_threshold_refuses_nan():
    scores = torch.rand(1, 1, 4, 4)
    with pytest.raises(MaskError, match=r"score_threshold\(threshold\) must be a number, not NaN"):
        score_threshold(scores, float("nan"))
    # The infinities have a meaning: keep every key / only infinite scores.
    assert score_threshold(scores, float("-inf")).dense(1, 1, 4, 4).all()
    assert not score_threshold(scores, float("inf")).dense(1, 1, 4, 4).any()


@pytest.mark.parametrize(
    "build, error, fragment",
    [
        (
            lambda: keep_tokens(torch.ones(1, 4, dtype=torch.bool), keep_self="no"),
            TypeError,
            r"keep_tokens\(keep_self\)",
        ),
        (
            lambda: drop_tokens(torch.zeros(1, 4, dtype=torch.bool), keep_self=1),
            TypeError,
            r"drop_tokens\(keep_self\)",
        ),
        (
            lambda: random_drop(0.5, 0, per_head="False"),
            TypeError,
            r"random_drop\(per_head\) must be True or False",
        ),
        (
            lambda: drop_stopwords(["the", "cat"], punctuation=0),
            TypeError,
            r"punctuation\) must be True or False",
        ),
        (
            lambda: drop_stopwords(["the", "cat"], keep_self=None),
            TypeError,
            r"keep_self\) must be True or False",
        ),
        (
            lambda: stopword_keep_mask(["the", "cat"], stopwords="the"),
            TypeError,
            "stopwords must be an iterable of words",
        ),
        (
            lambda: stopword_keep_mask(["the", "cat"], stopwords=["the", 3]),
            TypeError,
            "stopwords must hold only str",
        ),
        (lambda: stopword_keep_mask([1, 2], tokenizer=object()), MaskError, "no tokenizer"),
        (
            lambda: topk_keys(torch.rand(1, 1, 4, 4), 2, within=torch.ones(3, 3, dtype=torch.bool)),
            MaskError,
            r"topk_keys\(within\) of shape \(3, 3\) does not broadcast",
        ),
        (
            lambda: topk_keys(torch.rand(1, 1, 4, 4), 2, within=torch.ones(4, 4)),
            MaskError,
            r"topk_keys\(within\) must be a bool tensor",
        ),
    ],
)
def test_input_dependent_rules_refuse_stand_ins(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


def test_stopwords_given_as_a_set_still_work():
    keep = stopword_keep_mask(["The", "cat", "sat"], stopwords={"CAT"})
    assert keep.tolist() == [[True, False, True]]
