"""analysis.attention_views and analysis.mask_rules: what figures and explorers both show."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynmask_viz.analysis import AppliedRule, attention_view, build_rule, mask_view
from dynmask_viz.attention_masks import causal, random_drop
from dynmask_viz.hf import AttentionResult


def _result(mask: torch.Tensor, layers: int = 2, heads: int = 3) -> AttentionResult:
    n = mask.shape[-1]
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, layers, heads, n, n, generator=gen)
    weights = torch.softmax(logits.masked_fill(~mask[None, None], float("-inf")), dim=-1)
    return AttentionResult(
        tokens=[[f"t{i}" for i in range(n)]],
        input_ids=torch.arange(n)[None],
        padding_mask=torch.ones(1, n, dtype=torch.bool),
        attentions=weights,
        applied_mask=mask.expand(1, -1, -1, -1) if mask.ndim == 3 else mask[None, None],
        model_mask=mask,
        outputs=None,
    )


def test_attention_view_picks_a_head_or_the_mean():
    result = _result(torch.ones(4, 4, dtype=torch.bool).tril())
    assert torch.equal(attention_view(result, 1, 2), result.attentions[0, 1, 2])
    torch.testing.assert_close(attention_view(result, -1), result.attentions[0, 1].mean(0))
    assert torch.equal(attention_view(result, np.int64(1), 2), result.attentions[0, 1, 2])  # numpy ints too
    with pytest.raises(ValueError, match="layer 2 out of range"):
        attention_view(result, 2)
    with pytest.raises(ValueError, match="layer must be an int"):
        attention_view(result, 1.0)
    with pytest.raises(ValueError, match=r"head must be 'mean' or an int in \[-3, 3\)"):
        attention_view(result, 0, 3)


def test_mask_view_share_and_all_of_a_per_head_mask():
    per_head = random_drop(0.5, seed=1).dense(1, 3, 5, 5)[0]  # [3, 5, 5]
    result = _result(per_head | torch.eye(5, dtype=torch.bool))
    allowed = result.applied_mask[0]
    torch.testing.assert_close(mask_view(result), allowed.float().mean(0))
    assert torch.equal(mask_view(result, reduce="all"), allowed.all(0).float())
    assert torch.equal(mask_view(result, 1), allowed[1].float())
    with pytest.raises(ValueError, match="reduce must be 'share' or 'all'"):
        mask_view(result, reduce="any")


def test_applied_rule_drops_keys_and_counts_empty_rows():
    rule = build_rule("sliding_window", {"window": 1, "bidirectional": False}, ["a", "b", "c", "d"], None)
    applied = AppliedRule(rule, 4, heads=2, dropped=[2])
    assert applied.dense.shape == (1, 1, 4, 4)  # one pattern for every head
    assert not applied.dense[..., 2].any() and applied.empty_rows == 1  # query 2 saw only itself
    assert "drop_tokens" in str(applied.rule)
    assert torch.equal(
        AppliedRule(causal(), 3, heads=2).dense[0, 0], torch.ones(3, 3, dtype=torch.bool).tril()
    )
    with pytest.raises(ValueError, match="Unknown mask rule"):
        build_rule("nope", {}, ["a"], None)
