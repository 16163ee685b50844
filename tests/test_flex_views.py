"""Data of the FlexAttention figures: one head's mask and block kinds, and the timing table."""

from __future__ import annotations

import pytest
import torch

from dynmask_viz.analysis import block_sparsity_view, time_attention
from dynmask_viz.analysis.flex_views import FLEX_EAGER, SDPA_CAUSAL, SDPA_MASK
from dynmask_viz.attention_masks import block_kinds, causal, random_drop, sliding_window


def test_view_shows_the_chosen_head_of_the_mask_flex_reads():
    rule = causal() & random_drop(0.3, 2)  # differs by head: head 1 must not show head 0
    view = block_sparsity_view(rule, 24, block_size=8, batch=2, heads=2, index=1, head=1)
    assert torch.equal(view.mask, rule.dense(2, 2, 24, 24)[1, 1])
    assert torch.equal(view.kinds, block_kinds(rule.block_mask(2, 2, 24, block_size=8))[1, 1])
    assert view.sparsity.blocks == 2 * 2 * 3 * 3
    with pytest.raises(ValueError, match=r"head must be an int in \[0, 2\)"):
        block_sparsity_view(rule, 24, block_size=8, heads=2, head=2)


def test_time_attention_times_each_path_at_each_length():
    t = time_attention(causal(), [16, 32], heads=2, head_dim=8, block_size=8, repeats=2, compiled=False)
    assert t.lengths == (16, 32) and set(t.seconds) == {FLEX_EAGER, SDPA_MASK, SDPA_CAUSAL}
    assert all(len(v) == 2 and min(v) > 0 for v in t.seconds.values())
    assert t.skipped == (1 / 4, 6 / 16)  # 2 x 2 and 4 x 4 blocks of 8: the upper triangle
    assert len(t.speedup()) == 2 and t.shape == (1, 2, 8)
    # is_causal computes causal attention: it is timed only for a rule equal to causal.
    other = time_attention(
        sliding_window(4), [16], heads=1, head_dim=8, block_size=8, repeats=1, compiled=False
    )
    assert SDPA_CAUSAL not in other.seconds
    with pytest.raises(ValueError, match="lengths must be ints >= 1"):
        time_attention(causal(), [0])
