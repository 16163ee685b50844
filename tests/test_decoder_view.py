"""How a decoder applies a rule that looks ahead: only the look-ahead parts see later keys.

Regression tests for the review of issue 12: ``document(ids) | prefix_lm(2)`` made a decoder's
second document fully bidirectional, and ``~prefix_lm(4)`` let it see only the future.
"""

import contextlib

import pytest
import torch
from _tiny_models import tiny_gpt2

from dynmask_viz.attention_masks import (
    causal,
    document,
    global_tokens,
    padding,
    per_document,
    prefix_lm,
    sliding_window,
)
from dynmask_viz.hf import EmptyRowWarning, to_hf_mask

L = 8
SEG = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
Q, K = torch.arange(L)[:, None], torch.arange(L)[None, :]
TRIL = Q >= K
SAME_DOC = SEG[0][:, None] == SEG[0][None, :]
PREFIX2 = TRIL | (K < 2)
REAL = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0]])


def _decoder(rule) -> torch.Tensor:
    return rule.for_decoder().dense(1, 1, L)[0, 0]


@pytest.mark.parametrize(
    "rule, expected",
    [
        (document(SEG) | prefix_lm(2), PREFIX2),  # doc 1 stays causal (was bidirectional)
        (prefix_lm(4) & padding(REAL), (TRIL | (K < 4)) & (REAL[0] == 1)[None, :]),  # & keeps the prefix
        (causal() & prefix_lm(4), TRIL),
        (sliding_window(1, causal=False) | global_tokens([0]), ((Q - K).abs() <= 1) | (Q == 0) | (K == 0)),
        (per_document(prefix_lm(2), SEG) | document(SEG), SAME_DOC & (TRIL | (K - 4 * SEG[0][None, :] < 2))),
        (
            (document(SEG) | prefix_lm(2)) & padding(REAL),
            PREFIX2 & (REAL[0] == 1)[None, :],
        ),
    ],
    ids=["doc|prefix", "prefix&pad", "causal&prefix", "window|global", "per_doc|doc", "(doc|prefix)&pad"],
)
def test_only_the_parts_that_look_ahead_see_later_keys(rule, expected):
    assert rule.looks_ahead
    assert torch.equal(_decoder(rule), expected)


def test_the_complement_of_a_prefix_is_taken_within_causality():
    rule = ~prefix_lm(4)
    assert not rule.looks_ahead
    assert torch.equal(_decoder(rule), ~(TRIL | (K < 4)) & TRIL)  # nothing in the future


def test_a_rule_that_does_not_look_ahead_is_made_causal():
    assert torch.equal(_decoder(document(SEG)), SAME_DOC & TRIL)


def test_to_hf_mask_gives_a_decoder_the_decoder_view(tokenizer):
    gpt2 = tiny_gpt2(tokenizer)
    ids = torch.randint(1000, 2000, (1, L), generator=torch.Generator().manual_seed(0))
    for rule in (
        document(SEG) | prefix_lm(2),
        ~prefix_lm(4),
        prefix_lm(4) & padding(torch.ones(1, L, dtype=torch.long)),
    ):
        empty = rule.name.startswith("~")  # "only later keys" within causality: empty rows
        with pytest.warns(EmptyRowWarning) if empty else contextlib.nullcontext():
            allowed = to_hf_mask(rule, gpt2, ids)[0, 0] == 0
        expected = _decoder(rule)
        expected = expected | (~expected.any(-1, keepdim=True) & torch.eye(L, dtype=torch.bool))  # keep_self
        assert torch.equal(allowed, expected), rule.name
