"""Every catalogue rule at one size, for the FlexAttention tests (and their compile subprocess).

``catalogue(batch, heads, length)`` builds each factory of :mod:`dynmask_viz.attention_masks`
once (data rules on seeded random data of that size) and a few compositions, among them the
ones with ``random_drop`` that need the keep table. True = may attend.
"""

from __future__ import annotations

import torch

from dynmask_viz.attention_masks import (
    causal,
    document,
    drop_stopwords,
    drop_tokens,
    full,
    global_tokens,
    keep_tokens,
    padding,
    per_document,
    prefix_lm,
    random_drop,
    score_threshold,
    sliding_window,
    topk_keys,
)

WORDS = ("[CLS]", "the", "film", "is", "not", "bad", ",", "it", "is", "great", ".", "[SEP]")


def catalogue(batch: int, heads: int, length: int, seed: int = 0, device: str = "cpu") -> dict:
    """``{name: rule}`` of every factory and a few compositions, on data of these sizes (drawn
    on the CPU, then moved to ``device``: a data rule is used on its data's device)."""
    g = torch.Generator().manual_seed(seed)
    real = torch.ones(batch, length, dtype=torch.bool)
    real[-1, length - length // 4 :] = False  # the last example is right-padded
    seg = torch.zeros(batch, length, dtype=torch.int64)
    seg[:, length // 3 :] = 1  # two packed documents
    seg[:, 2 * length // 3 :] = 2
    flags = torch.zeros(batch, length, dtype=torch.bool)
    flags[:, 0] = True
    keep = torch.rand(batch, length, generator=g) > 0.3
    scores = torch.randn(batch, heads, length, length, generator=g)
    tokens = [[WORDS[(i + b) % len(WORDS)] for i in range(length)] for b in range(batch)]
    real, seg, flags, keep, scores = (t.to(device) for t in (real, seg, flags, keep, scores))
    rules = {
        "full": full(),
        "causal": causal(),
        "padding": padding(real),
        "sliding_window": sliding_window(4),
        "sliding_window_bidirectional": sliding_window(3, causal=False),
        "prefix_lm": prefix_lm(5),
        "prefix_lm_per_example": prefix_lm(torch.arange(batch, device=device) + 2),
        "document": document(seg),
        "per_document": per_document(prefix_lm(3), seg),
        "global_tokens": global_tokens([0, length // 2]),
        "global_tokens_flags": global_tokens(flags),
        "keep_tokens": keep_tokens(keep),
        "drop_tokens": drop_tokens(~keep, keep_self=True),
        "drop_stopwords": drop_stopwords(tokens),
        "topk_keys": topk_keys(scores, 4, within=causal()),
        "score_threshold": score_threshold(scores, 0.5),
        "random_drop": random_drop(0.1, 0),
        "random_drop_shared_heads": random_drop(0.3, 7, per_head=False),
        # Compositions: random_drop inside &, |, ~ and per_document takes the keep table.
        "causal_and_random_drop": causal() & random_drop(0.1, 0),
        "not_random_drop_or_padding": ~random_drop(0.5, 1) | ~padding(real),
        "per_document_random_drop": per_document(random_drop(0.2, 3), seg) | global_tokens(flags),
        "window_or_global_and_padding": (sliding_window(2, causal=False) | global_tokens([0]))
        & padding(real),
    }
    return rules
