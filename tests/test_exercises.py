"""Exercise checks: reference answers pass, mistakes get a helpful hint, nothing ever raises."""

import numpy as np
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS
from hypothesis import given

from dynmask_viz.masking import MaskingConfig
from dynmask_viz.teaching.checks import CheckResult, as_int_set, as_number
from dynmask_viz.teaching.exercises_masking import (
    check_bert_config,
    check_repeating_epochs,
    check_share_never_masked,
    check_times_each_mask_seen,
)

# The exercises of notebooks/02_static_vs_dynamic_masking.ipynb, with their reference answers.
REFERENCE = [
    (check_share_never_masked, 0.85**5, dict(p=0.15, epochs=40, dupe_factor=5)),
    (check_times_each_mask_seen, 8, dict(epochs=40, dupe_factor=5)),
    (check_repeating_epochs, [3, 7, 11], dict(dupe_factor=4, epochs=12, epoch=7)),
    (check_bert_config, MaskingConfig(mlm_probability=0.15, count="exact", max_predictions=20), {}),
]


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=[r[0].__name__ for r in REFERENCE])
def test_reference_answers_pass(check, answer, kwargs):
    result = check(answer, **kwargs)
    assert isinstance(result, CheckResult) and result, str(result)
    assert str(result).startswith("\u2705 Correct!")
    assert "Correct!" in result._repr_html_()


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=[r[0].__name__ for r in REFERENCE])
def test_placeholders_get_a_friendly_message(check, answer, kwargs):
    for placeholder in (None, ...):
        result = check(placeholder, **kwargs)
        assert not result and "No answer yet" in result.message


def test_share_never_masked_accepts_equivalent_forms_and_explains_mistakes():
    kw = dict(p=0.15, epochs=40, dupe_factor=10)
    assert check_share_never_masked(0.197, **kw)  # rounded to 3 decimals
    assert check_share_never_masked("0.1969", **kw)
    assert check_share_never_masked(np.float32(0.85**10), **kw)
    assert check_share_never_masked(torch.tensor(0.85**10), **kw)
    assert check_share_never_masked(0.85**40, p=0.15, epochs=40)  # dynamic
    assert "percentage" in check_share_never_masked(19.69, **kw).message
    assert "at least once" in check_share_never_masked(0.803, **kw).message
    assert "min(epochs, dupe_factor)" in check_share_never_masked(0.85**40, **kw).hint
    assert not check_share_never_masked(0.5, **kw).ok
    assert "to 3 decimals (within 0.0005)" in check_share_never_masked(0.5, **kw).message


def test_share_never_masked_says_the_precision_it_wants():
    kw = dict(p=0.15, epochs=40, dupe_factor=5)  # 0.85**5 = 0.44370...
    assert check_share_never_masked(0.444, **kw) and check_share_never_masked(0.4437, **kw)
    rounded = check_share_never_masked(0.44, **kw)  # the right idea, rounded to 2 decimals
    assert not rounded and "not precise enough" in rounded.message
    assert "to 3 decimals (within 0.0005)" in rounded.message
    assert "within 0.002 of the exact value" in check_share_never_masked(0.44, **kw, tol=0.002).message
    assert check_share_never_masked(0.44, **kw, tol=5e-3)  # a looser tolerance accepts it


def test_repeating_epochs_hints():
    kw = dict(dupe_factor=4, epochs=12, epoch=7)  # epochs 1..12, as the figures count them
    assert check_repeating_epochs({11, 3, 7}, **kw)
    assert check_repeating_epochs(range(3, 13, 4), **kw)
    assert check_repeating_epochs(torch.tensor([3, 7, 11]), **kw)
    assert "mask 2" in check_repeating_epochs([3, 7, 11], **kw).message
    off = check_repeating_epochs([2, 6, 10], **kw)  # counted from 0
    assert not off and "count from 1" in off.hint
    assert "itself" in check_repeating_epochs([3, 11], **kw).hint
    wrong = check_repeating_epochs([3, 7, 11, 12], **kw)
    assert not wrong and "[12]" in wrong.message
    assert check_repeating_epochs([4, 8, 12], dupe_factor=4, epochs=12, epoch=12)  # the last epoch


def test_times_each_mask_seen_hints():
    assert check_times_each_mask_seen(4)  # BERT: 40 epochs, 10 masks
    assert "distinct masks" in check_times_each_mask_seen(10).message
    assert not check_times_each_mask_seen(3)


def test_bert_config_lists_every_difference():
    assert check_bert_config(MaskingConfig.from_preset("bert"))
    result = check_bert_config(MaskingConfig())
    assert not result and "count='bernoulli'" in result.message and "max_predictions=None" in result.message
    assert "unit='word'" in check_bert_config(MaskingConfig.from_preset("bert-wwm")).message
    assert (
        "80/10/10"
        in check_bert_config(
            MaskingConfig.from_preset("bert", mask_replace_prob=1.0, random_replace_prob=0.0)
        ).message
    )
    assert "Expected a MaskingConfig" in check_bert_config({"count": "exact"}).message


def test_input_helpers():
    assert as_number("0.5") == 0.5 and as_number(True) is None and as_number("abc") is None
    assert as_number(float("nan")) is None and as_number(torch.tensor([1.0, 2.0])) is None
    assert as_int_set([1, 2.0, 2]) == {1, 2} and as_int_set("12") is None and as_int_set([1.5]) is None
    assert as_int_set(5) is None and as_int_set([float("inf")]) is None and as_number(10**400) is None


@given(JUNK_ANSWERS)
def test_checks_never_raise(answer):
    for check, _, kwargs in REFERENCE:
        result = check(answer, **kwargs)
        assert isinstance(result, CheckResult) and str(result)


def test_previous_and_self_mask_explains_a_window_one_too_wide():
    """A bidirectional window counts the distance on each side (transformers' convention), so
    causal() & sliding_window(2, causal=False) sees two previous tokens: named, not just 'differs'."""
    from dynmask_viz.attention_masks import causal, sliding_window
    from dynmask_viz.teaching.exercises_attention import check_previous_and_self_mask

    assert check_previous_and_self_mask(causal() & sliding_window(1, causal=False))
    result = check_previous_and_self_mask(causal() & sliding_window(2, causal=False))
    assert not result and "one too many" in str(result) and "sliding_window(1, causal=False)" in str(result)
