"""Chapter 10's checks: right answers pass, typical mistakes get their message, junk never raises.

Expected answers are derived here from the check's inputs (sizes, a target mask built from
index comparisons), independently of the package's block-mask code.
"""

from __future__ import annotations

import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS, assert_junk_rejected, assert_right_passes_and_placeholders_do_not
from hypothesis import given, settings

from dynmask_viz.attention_masks import causal, global_tokens, sliding_window
from dynmask_viz.teaching import check_causal_skipped_share, check_mask_mod, check_table_mib
from dynmask_viz.teaching.exercises_flex import mask_mod_target

L = 10
_q, _k = torch.arange(L).view(L, 1), torch.arange(L).view(1, L)
# The target of the mask_mod exercise: a causal window of 3 keys, plus key 0 as a sink
# (built here from index comparisons, independently of mask_mod_target).
TARGET = ((_q - _k >= 0) & (_q - _k < 3)) | ((_k == 0) & (_q >= _k))


def right_mask_mod(b, h, q_idx, kv_idx):
    return ((q_idx >= kv_idx) & (q_idx - kv_idx < 3)) | (kv_idx == 0)


def python_if_mask_mod(b, h, q_idx, kv_idx):
    if (q_idx - kv_idx).max() < 3:  # Python control flow on tensor values: fails under vmap
        return q_idx >= kv_idx
    return ((q_idx >= kv_idx) & (q_idx - kv_idx < 3)) | (kv_idx == 0)


# Exercise 1's setup, one the chapter prints no share for: 1,536 tokens in blocks of 128 are
# 12 x 12 blocks, 12 * 11 / 2 = 66 above the diagonal (skipped), 12 on it (partial).
EX1 = dict(length=1536, block_size=128)
SKIPPED, DIAGONAL, BLOCKS = 66, 12, 144
REFERENCE = [
    (check_causal_skipped_share, SKIPPED / BLOCKS, EX1),
    (check_mask_mod, right_mask_mod, dict(length=L)),
    (check_table_mib, 8 * 12 * 2048 * 2048 / 2**20, dict(batch=8, heads=12, q_len=2048)),
]
IDS = [r[0].__name__ for r in REFERENCE]


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=IDS)
def test_reference_answers_pass_and_placeholders_do_not(check, answer, kwargs):
    # (the notebook's function placeholder returns None)
    placeholders = [None, ...] + ([lambda b, h, q_idx, kv_idx: None] if check is check_mask_mod else [])
    assert_right_passes_and_placeholders_do_not(check, answer, kwargs, placeholders)


@settings(max_examples=60, deadline=None)
@given(answer=JUNK_ANSWERS)
def test_junk_never_raises_and_never_passes(answer):
    assert_junk_rejected(REFERENCE, answer)


@pytest.mark.parametrize(
    "answer, message",
    [
        (0.5, "a block is skipped only if all its pairs are"),
        (f"{100 * SKIPPED / BLOCKS:.2f} %", "percentage"),
        (100 * SKIPPED / BLOCKS, "percentage"),
        ((BLOCKS - SKIPPED) / BLOCKS, "computed"),
        (DIAGONAL / BLOCKS, "diagonal"),
        (28 / 64, "is not it"),  # the share the chapter prints, for 1,024 tokens
    ],
)
def test_skipped_share_mistakes_get_their_message(answer, message):
    result = check_causal_skipped_share(answer, **EX1)
    assert not result and message in str(result)


def test_skipped_share_with_a_ragged_last_block():
    # 300 tokens in blocks of 128: 3 x 3 blocks, 3 above the diagonal are skipped.
    assert check_causal_skipped_share(3 / 9, length=300, block_size=128)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda b, h, q, k: ~right_mask_mod(b, h, q, k), "inverted"),
        (lambda b, h, q, k: right_mask_mod(b, h, k, q), "swapped"),
        (lambda b, h, q, k: (q >= k) & (q - k < 3), "first: query 3, key 0 may attend"),
        (lambda b, h, q, k: (q - k).float(), "returns bool"),
        (lambda b, h, q, k: q[:2] >= k, "broadcasts"),
        (lambda b, h, q, k: 1 / 0, "ZeroDivisionError"),
        (python_if_mask_mod, "vmap call fails"),
        ("q >= k", "Expected a function"),
    ],
)
def test_mask_mod_mistakes_get_their_message(answer, message):
    result = check_mask_mod(answer, length=L)
    assert not result and message in str(result), str(result)


def test_the_target_to_draw_is_the_one_the_check_asks_for():
    assert torch.equal(mask_mod_target(L), TARGET)
    assert check_mask_mod(right_mask_mod, length=12)  # the notebook's size


def catalogue_mask_mod(b, h, q_idx, kv_idx):  # the right mask, from the catalogue's factories
    return ((sliding_window(3) | global_tokens([0])) & causal())(b, h, q_idx, kv_idx)


CAUSAL = causal()


def _with_closure():
    rule = (sliding_window(3) | global_tokens([0])) & causal()
    return lambda b, h, q, k: rule(b, h, q, k)


@pytest.mark.parametrize(
    "answer, message",
    [
        ((sliding_window(3) | global_tokens([0])) & causal(), "That is a MaskRule"),
        (catalogue_mask_mod, "uses `causal` from dynmask_viz"),
        (_with_closure(), "uses `rule` from dynmask_viz"),
        (lambda b, h, q, k, r=CAUSAL: r(b, h, q, k) & ((q - k < 3) | (k == 0)), "a default argument"),
        (lambda b, h, q, k: TARGET[q, k], "reads the stored tensor `TARGET`"),
    ],
    ids=["rule", "factories", "closure", "default", "stored_mask"],
)
def test_mask_mod_answers_not_written_by_the_student_are_turned_down(answer, message):
    # Each gives the right mask: only what it is built from makes it wrong for this exercise.
    result = check_mask_mod(answer, length=L)
    assert not result and message in str(result), str(result)
    assert "write the mask_mod yourself" in str(result)


def test_a_mask_mod_using_torch_and_plain_constants_passes():
    window = 3
    answer = lambda b, h, q, k: torch.where(k == 0, True, (q >= k) & (q - k < window))
    assert check_mask_mod(answer, length=L)


@pytest.mark.parametrize(
    "answer, message",
    [
        (8 * 12 * 2048 * 2048 / 1e6, "MB"),
        (8 * 12 * 2048 * 2048 / 2**20 / 8, "byte, not a bit"),
        (8 * 12 * 2048 * 2048 * 4 / 2**20, "float32"),
        (8 * 2048 * 2048 / 2**20, "per head"),
        (-3, "positive"),
        (100, "is not it"),
    ],
)
def test_table_size_mistakes_get_their_message(answer, message):
    result = check_table_mib(answer, batch=8, heads=12, q_len=2048)
    assert not result and message in str(result), str(result)


def test_wrong_author_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="block_size"):
        check_causal_skipped_share(0.4, length=16, block_size=0)
    with pytest.raises(ValueError, match="length"):
        check_mask_mod(right_mask_mod, length=0)
    with pytest.raises(ValueError, match="heads"):
        check_table_mib(1, batch=1, heads=True, q_len=4)
