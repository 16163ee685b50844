"""Chapter 05's exercise checks: the answers are computed from the model and the explorer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS
from _tiny_models import tiny_bert_for
from hypothesis import HealthCheck, given, settings

from dynmask_viz.assets import is_cached
from dynmask_viz.attention_masks import causal, sliding_window
from dynmask_viz.teaching.checks import CheckResult
from dynmask_viz.teaching.exercises_explorer import check_local_window_without, check_previous_token_head

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return tiny_bert_for(tokenizer)


def _shares(model, tokenizer) -> torch.Tensor:
    """[layers, heads] mean weight on the previous token, straight from transformers' output."""
    encoded = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        attentions = torch.stack(model(**encoded, output_attentions=True).attentions)[:, 0]
    return attentions.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def test_previous_token_head_accepts_only_the_strongest(tiny, tokenizer):
    shares = _shares(tiny, tokenizer)
    layers, heads = shares.shape
    best = divmod(int(shares.argmax()), heads)
    assert check_previous_token_head(best, tiny, tokenizer, TEXT)
    assert check_previous_token_head(list(best), tiny, tokenizer, TEXT)
    others = [(la, h) for la in range(layers) for h in range(heads) if (la, h) != best]
    for pair in others:
        result = check_previous_token_head(pair, tiny, tokenizer, TEXT)
        assert not result and f"{float(shares[pair]):.0%}" in str(result)
    out = check_previous_token_head((layers, 0), tiny, tokenizer, TEXT)
    assert not out and f"layers 0-{layers - 1}" in str(out)
    assert "No answer" in str(check_previous_token_head(None, tiny, tokenizer, TEXT))
    assert "two ints" in str(check_previous_token_head((True, 1), tiny, tokenizer, TEXT))


def test_previous_token_head_names_a_swapped_answer(tokenizer):
    for seed in range(20):  # a tiny model whose strongest head is (0, 1) or (1, 0)
        model = tiny_bert_for(tokenizer, seed=seed)
        shares = _shares(model, tokenizer)
        layer, head = divmod(int(shares.argmax()), shares.shape[1])
        if layer != head and head < shares.shape[0]:
            break
    else:
        pytest.fail("no seed in 0-19 gives a swappable strongest head")
    result = check_previous_token_head((head, layer), model, tokenizer, TEXT)
    assert not result and "swapped" in str(result)
    assert check_previous_token_head(np.array([layer, head]), model, tokenizer, TEXT)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JUNK_ANSWERS)
def test_checks_never_raise(tiny, tokenizer, answer):
    for result in (
        check_previous_token_head(answer, tiny, tokenizer, TEXT),
        check_local_window_without(answer),
    ):
        assert isinstance(result, CheckResult) and not result and str(result)


TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
IS_THE = torch.tensor([t == "the" for t in TOKENS])


def _state(mask: torch.Tensor, head=0) -> SimpleNamespace:
    """What the check reads of an AttentionState: the mask (1 = may attend), tokens, head."""
    return SimpleNamespace(mask=mask.float(), tokens=TOKENS, head=head)


def _window(n: int = len(TOKENS)) -> torch.Tensor:
    return sliding_window(2, causal=False).dense(1, 1, n)[0, 0]


def test_local_window_without_the_accepts_the_mask_and_explains_mistakes():
    right = _window() & ~IS_THE
    assert check_local_window_without(_state(right))
    assert check_local_window_without(SimpleNamespace(state=_state(right)))  # the explorer itself
    one_the = _window() & ~torch.tensor([i == 1 for i in range(len(TOKENS))])
    assert "1 'the' token(s)" in str(check_local_window_without(_state(one_the)))
    assert "can still be attended" in str(check_local_window_without(_state(_window())))
    causal_window = sliding_window(3).dense(1, 1, len(TOKENS))[0, 0] & ~IS_THE
    assert "causal" in str(check_local_window_without(_state(causal_window)))
    wide = sliding_window(3, causal=False).dense(1, 1, len(TOKENS))[0, 0] & ~IS_THE
    assert "pairs where" in str(check_local_window_without(_state(wide)))
    share = right.float() * 0.5  # heads averaged over a rule that differs per head
    assert "differs between heads" in str(check_local_window_without(_state(share, head=None)))
    assert not check_local_window_without(_state(causal().dense(1, 1, len(TOKENS))[0, 0]))


@pytest.mark.skipif(not is_cached("minilm"), reason="offline default model missing: `make assets`")
def test_local_window_without_on_the_real_explorer():
    """The answer chapter 05 expects, set through the explorer's controls, passes."""
    from dynmask_viz.widgets import AttentionExplorer

    ex = AttentionExplorer(TEXT, rule="full")
    assert not check_local_window_without(ex.state)
    the = [i for i, t in enumerate(ex.state.tokens) if t == "the"]
    ex.set(rule="sliding_window", window=2, bidirectional=True, dropped=the)
    assert check_local_window_without(ex)
    ex.set(bidirectional=False)
    assert not check_local_window_without(ex)
