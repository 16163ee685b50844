"""The explorers' state snapshots (widgets/states.py): a notebook cell ending in ``set`` shows one line."""

from __future__ import annotations

from dynmask_viz.widgets import MaskingExplorer


def test_masking_state_repr_is_one_short_line(tokenizer):
    explorer = MaskingExplorer(tokenizer=tokenizer, seed=3, epochs=6, dupe_factor=2)
    text = repr(explorer.set(epoch=4, mode="static"))
    assert "\n" not in text and len(text) < 200  # not the grids' [epochs, L] tensors
    assert text.startswith("ExplorerState(") and "mode='static'" in text and "epoch=4, epochs=6" in text
    assert "seed=3" in text and "dupe_factor=2" in text
