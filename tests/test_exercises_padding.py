"""Chapter 08's checks: right answers pass, typical mistakes get their message, junk never raises.

The expected answers are built here from the batch's ``attention_mask`` by hand (the
definitions of the chapter), not with the package's own helpers.
"""

import numpy as np
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS, assert_junk_rejected, assert_right_passes_and_placeholders_do_not
from hypothesis import given, settings

from dynmask_viz.teaching import (
    CheckResult,
    check_key_padding_mask,
    check_last_real_positions,
    check_left_padding_position_ids,
    check_padding_side,
)

RIGHT = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
LEFT = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 1, 1]])
KEY_PADDING = torch.tensor(
    [[[[True, True, True, False, False]]], [[[True] * 5]], [[[True, True, False, False, False]]]]
)  # [3, 1, 1, 5]
LAST_REAL = [2, 4, 1]
POSITIONS = torch.tensor([[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [0, 0, 0, 0, 1]])

REFERENCE = [
    (check_key_padding_mask, KEY_PADDING, dict(attention_mask=RIGHT)),
    (check_last_real_positions, LAST_REAL, dict(attention_mask=RIGHT)),
    (check_left_padding_position_ids, POSITIONS, dict(attention_mask=LEFT)),
    (check_padding_side, "left", {}),
]
IDS = [r[0].__name__ for r in REFERENCE]


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=IDS)
def test_reference_answers_pass_and_placeholders_do_not(check, answer, kwargs):
    assert_right_passes_and_placeholders_do_not(check, answer, kwargs)


@settings(max_examples=60, deadline=None)
@given(answer=JUNK_ANSWERS)
def test_junk_never_raises_and_never_passes(answer):
    assert_junk_rejected(REFERENCE, answer)


def _fails_with(result, *words):
    assert isinstance(result, CheckResult) and not result, str(result)
    text = str(result).lower()
    for word in words:
        assert word.lower() in text, (word, str(result))


@pytest.mark.parametrize(
    "answer, words",
    [
        (RIGHT.bool(), ["[B, K]", "head dim"]),  # the 2-D mask as is
        (RIGHT.bool()[:, None, :, None], ["query axis"]),
        (KEY_PADDING.long(), ["dtype torch.int64", "adds", ".bool()"]),
        (KEY_PADDING.float(), ["float32", ".bool()"]),
        (~KEY_PADDING, ["inverted"]),
        (KEY_PADDING.expand(-1, -1, 5, -1), ["expanded", "[3, 1, 1, 5]"]),
        (KEY_PADDING.expand(-1, -1, 5, -1) & RIGHT.bool()[:, None, :, None], ["padding queries"]),
        (KEY_PADDING[:, :, :, :4], ["expected shape [3, 1, 1, 5]"]),
        (KEY_PADDING.flip(0), ["row 0, key slot 2"]),
        ([[1, 1, 0]], ["torch.tensor", "list"]),
    ],
    ids=["2d", "query-axis", "int", "float", "inverted", "expanded", "pad-queries", "short", "rows", "list"],
)
def test_key_padding_mistakes_are_named(answer, words):
    _fails_with(check_key_padding_mask(answer, RIGHT), *words)


def test_key_padding_accepts_numpy():
    assert check_key_padding_mask(KEY_PADDING.numpy(), RIGHT)


@pytest.mark.parametrize(
    "answer, words",
    [
        ([4, 4, 4], ["last slot", "logits[:, -1]"]),
        ([3, 5, 2], ["off by one"]),
        ([2, 4, 2], ["row 2"]),
        ([2, 4], ["3 ints"]),
        ("2, 4, 1", ["list of 3 ints"]),
    ],
)
def test_last_real_position_mistakes_are_named(answer, words):
    _fails_with(check_last_real_positions(answer, RIGHT), *words)


def test_last_real_positions_accepts_tensors_and_numpy_ints():
    assert check_last_real_positions(torch.tensor(LAST_REAL), RIGHT)
    assert check_last_real_positions([np.int64(v) for v in LAST_REAL], RIGHT)


@pytest.mark.parametrize(
    "answer, words",
    [
        (torch.arange(5).expand(3, -1), ["0..l-1", "number of pads"]),
        (LEFT.cumsum(-1), ["off by one"]),
        (POSITIONS.float(), ["integers", ".long()"]),
        (POSITIONS[:, 1:], ["expected shape [3, 5]"]),
        (torch.where(torch.arange(3)[:, None] == 2, POSITIONS * 2, POSITIONS), ["row 2"]),
    ],
    ids=["arange", "cumsum", "float", "shape", "row"],
)
def test_position_id_mistakes_are_named(answer, words):
    _fails_with(check_left_padding_position_ids(answer, LEFT), *words)


def test_position_ids_at_padding_slots_are_not_checked():
    anything = POSITIONS.masked_fill(LEFT == 0, 7)
    assert check_left_padding_position_ids(anything, LEFT)


def test_padding_side_answers():
    assert check_padding_side(" Left ")
    _fails_with(check_padding_side("right"), "padding token", "last slot")
    _fails_with(check_padding_side("both"), '"left" or "right"')


@pytest.mark.parametrize(
    "bad", [torch.tensor([1, 0]), torch.tensor([[1, 2]]), torch.tensor([[0, 0], [1, 1]])]
)
def test_a_wrong_attention_mask_is_the_authors_error(bad):
    for check in (check_key_padding_mask, check_last_real_positions, check_left_padding_position_ids):
        with pytest.raises(ValueError, match="attention_mask"):
            check(None, bad)
