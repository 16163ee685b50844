"""The attention-mask rules an explorer offers, built from control values.

Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import attention_masks as am

__all__ = ["PARAMS", "RULES", "AppliedRule", "build_rule"]

# Rule name -> the parameter controls it uses.
RULES = {
    "full": (),
    "causal": (),
    "sliding_window": ("window", "bidirectional"),
    "prefix_lm": ("prefix_length",),
    "drop_stopwords": ("punctuation",),
    "topk_keys": ("k",),
    "random_drop": ("p", "mask_seed", "per_head"),
}
PARAMS = sorted({p for ps in RULES.values() for p in ps})


def build_rule(name: str, params: dict, tokens: list[str], scores: torch.Tensor | None) -> am.MaskRule:
    """The :class:`~dynmask_viz.attention_masks.MaskRule` for a rule name and its parameters.

    Args:
        name: A key of :data:`RULES`.
        params: Control values (``window``, ``bidirectional``, ``prefix_length``, ``punctuation``,
            ``k``, ``p``, ``mask_seed``, ``per_head``); missing ones are not needed.
        tokens: The ``L`` tokens (for ``drop_stopwords``).
        scores: ``[1, 1, L, L]`` float, what ``topk_keys`` ranks keys by (the unmasked attention,
            mean over layers and heads); only needed for ``topk_keys``.
    """
    n, p = len(tokens), params
    builders = {
        "full": am.full,
        "causal": am.causal,
        "sliding_window": lambda: am.sliding_window(int(p["window"]), causal=not p["bidirectional"]),
        "prefix_lm": lambda: am.prefix_lm(min(int(p["prefix_length"]), n)),
        "drop_stopwords": lambda: am.drop_stopwords([tokens], punctuation=bool(p["punctuation"])),
        "topk_keys": lambda: am.topk_keys(scores, min(int(p["k"]), n)),
        "random_drop": lambda: am.random_drop(
            float(p["p"]), int(p["mask_seed"]), per_head=bool(p["per_head"])
        ),
    }
    if name not in builders:
        raise ValueError(f"Unknown mask rule {name!r}; choose one of {sorted(RULES)}.")
    return builders[name]()


class AppliedRule:
    """A rule with some tokens dropped as keys, materialised once for one input.

    Args:
        rule: The rule.
        length: Number of tokens ``L``.
        heads: Attention heads of the model (a per-head rule gets one mask per head).
        dropped: Token indices hidden as keys from every query.

    Attributes:
        rule: The rule applied (``rule & drop_tokens(...)`` when tokens are dropped).
        dense: ``[1, 1|heads, L, L]`` bool, True = may attend.
        empty_rows: Queries left with no key (a model then applies its empty-row policy).
    """

    def __init__(self, rule: am.MaskRule, length: int, heads: int, dropped: Sequence[int] = ()) -> None:
        if dropped:
            drop = torch.zeros(1, length, dtype=torch.bool)
            drop[0, list(dropped)] = True
            rule = rule & am.drop_tokens(drop)
        self.rule = rule
        self.dense = rule.dense(1, heads if rule.per_head else 1, length)
        self.empty_rows = int(am.empty_rows(self.dense).sum())
