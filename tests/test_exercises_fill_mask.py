"""Chapter 02's fill-in-the-blank exercise check: the losses are recomputed from the model, each
sequence fed as in training (the 80/10/10 input of its mask)."""

from __future__ import annotations

import math

import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS, assert_junk_rejected, assert_right_passes_and_placeholders_do_not
from _tiny_models import tiny_bert_with_head
from hypothesis import HealthCheck, given, settings
from transformers import BertForMaskedLM

from dynmask_viz.analysis import draw_training_input
from dynmask_viz.masking import MaskingConfig, MaskingVocab
from dynmask_viz.teaching import check_trained_vs_fresh
from dynmask_viz.teaching.exercises_fill_mask import trained_and_fresh_loss
from dynmask_viz.widgets import FillMaskExplorer

SETUP = dict(mask_seed=0, dupe_factor=4, masking=MaskingConfig(), fresh_mask_epoch=10_000, epochs=12)


@pytest.fixture(scope="module")
def case(tokenizer):
    model = tiny_bert_with_head(tokenizer, BertForMaskedLM, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    rows = torch.randint(1000, 3000, (4, 40), generator=g)
    rows[:, 0], rows[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    _memorize(model, tokenizer, rows[2], sequence=2, mask_epoch=1)
    return dict(model=model.eval(), tokenizer=tokenizer, training_ids=rows, sequence=2, epoch=1, **SETUP)


def _memorize(model, tokenizer, ids, *, sequence, mask_epoch, steps=40):
    """Train on one mask of one row (fed as in training) until the model knows its blanks: the
    losses under that mask and under a fresh one then differ clearly, as for a model that
    memorized its training masks."""
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    masked, fed = draw_training_input(
        ids, vocab, SETUP["masking"], seed=0, mask_epoch=mask_epoch, example_id=sequence
    )
    fed, labels = fed[None], torch.where(masked, ids, -100)[None]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        model(input_ids=fed, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def test_the_explorers_numbers_pass(case):
    ex = FillMaskExplorer(
        {"static": case["model"]}, case["tokenizer"], training_ids=case["training_ids"], **SETUP
    )
    trained = ex.set(mode="training", sequence=2, scheme="static", epoch=1, mask="trained")
    fresh = ex.set(mask="fresh")
    assert trained.feed == fresh.feed == "training"  # the explorer's default: fed as in training
    answer = (trained.mean_loss("static"), fresh.mean_loss("static"))
    assert answer == pytest.approx(trained_and_fresh_loss(**case))
    assert_right_passes_and_placeholders_do_not(check_trained_vs_fresh, answer, case)
    assert check_trained_vs_fresh([round(a, 3) for a in answer], **case)  # 3 decimals, as printed


def test_wrong_answers_get_a_hint(case):
    trained, fresh = trained_and_fresh_loss(**case)
    assert trained < fresh - 0.1  # the memorized mask: the swap below is a different answer
    swapped = check_trained_vs_fresh((fresh, trained), **case)
    assert not swapped and "swapped" in swapped.message
    half = check_trained_vs_fresh((trained, fresh + 0.05), **case)
    assert not half and "trained number is right" in half.message
    assert not check_trained_vs_fresh((trained + 0.01, fresh), **case)
    other_epoch = trained_and_fresh_loss(**{**case, "epoch": 2})
    assert not check_trained_vs_fresh(other_epoch, **case)
    ex = FillMaskExplorer(
        {"static": case["model"]}, case["tokenizer"], training_ids=case["training_ids"], **SETUP
    )
    as_mask = ex.set(mode="training", sequence=2, scheme="static", epoch=1, mask="trained", feed="mask")
    every_blank = (as_mask.mean_loss("static"), ex.set(mask="fresh").mean_loss("static"))
    assert not check_trained_vs_fresh(every_blank, **case)  # every blank as [MASK] is another input
    probabilities = tuple(math.exp(-x) for x in (trained, fresh))  # the geometric means, not losses
    assert not check_trained_vs_fresh(probabilities, **case)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=JUNK_ANSWERS)
def test_junk_never_raises(case, answer):
    assert_junk_rejected([(check_trained_vs_fresh, None, case)], answer)
