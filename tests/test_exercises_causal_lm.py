"""Tests for chapter 09's exercise checks: each rejects the likely wrong answers with a message
that says what is wrong, accepts the right one, and never raises on a malformed answer."""

from __future__ import annotations

import pytest
import torch

from dynmask_viz.teaching import check_decoding_mask_row, check_decoding_shapes, check_next_token_labels


def test_decoding_shapes():
    assert check_decoding_shapes((1, (1, 1, 1, 12)))  # step 5 of a 7-token prompt
    assert check_decoding_shapes([1, torch.Size([1, 1, 1, 12])])
    assert check_decoding_shapes((7, (1, 1, 7, 7)), step=0)
    assert check_decoding_shapes((1, (1, 1, 1, 6)), prompt_length=3, step=3)
    cases = {
        (7, (1, 1, 7, 12)): "only once",
        (12, (1, 1, 12, 12)): "without* a cache",
        (1, (1, 1, 1, 11)): "own key",
        (1, (1, 1, 12)): "4 dimensions",
        (1, (1, 1, 1, 13)): "key length 13",
        # The wrong dimension is named, not the key length 12, which is right here.
        (1, (1, 12, 1, 12)): "Dimension 1 is 12",
        (1, (2, 1, 1, 12)): "batch dimension is 2",
        (1, (1, 1, 3, 12)): "Dimension 2 (queries) is 3",
    }
    for answer, words in cases.items():
        result = check_decoding_shapes(answer)
        assert not result and words in result.message, (answer, result)
        if answer[1][-1] == 12:
            assert "key length" not in result.message, (answer, result)


def test_next_token_labels():
    ids = [464, 2068, 286, 6342, 318]
    assert check_next_token_labels([2068, 286, 6342, 318, -100], input_ids=ids)
    assert check_next_token_labels(torch.tensor([2068, 286, 6342, 318, -100]), input_ids=torch.tensor(ids))
    cases = {
        (2068, 286, 6342, 318): "-100",
        tuple(ids): "predict itself",
        (-100, 464, 2068, 286, 6342): "wrong way",
        (1, 2, 3): "Expected 5 labels",
        (2068, 286, 6342, 318, 0): "Not the next-token labels",
    }
    for answer, words in cases.items():
        result = check_next_token_labels(list(answer), input_ids=ids)
        assert not result and (words in result.message or words in result.hint), (answer, result)


def test_decoding_mask_row():
    assert check_decoding_mask_row("top-left", [True] * 11)
    assert check_decoding_mask_row("Top_Left", torch.ones(1, 11, dtype=torch.bool))
    assert check_decoding_mask_row("top left", [1] * 5, cache_length=4)
    cases = [
        (("bottom-right", [True] * 11), "needs"),
        (("top-left", [True] + [False] * 10), "trap"),
        (("top-left", [True] * 10), "own key"),
        (("top-left", [True] * 12), "Expected 11"),
        (("top-left", [True] * 5 + [False] * 6), "blocked"),
        (("diagonal", [True] * 11), "neither"),
    ]
    for (alignment, row), words in cases:
        result = check_decoding_mask_row(alignment, row)
        assert not result and words in result.message, (alignment, row, result)


@pytest.mark.parametrize("junk", [None, ..., "abc", 3.5, {"a": 1}, object()])
def test_checks_never_raise(junk):
    assert not check_decoding_shapes(junk)
    assert not check_next_token_labels(junk, input_ids=[1, 2, 3])
    assert not check_decoding_mask_row("top-left", junk)
    assert not check_decoding_mask_row(junk, [True] * 11)
    assert "No answer yet" in check_decoding_shapes(None).message
