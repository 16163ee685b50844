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

    Values are passed on as given (no casting, no clamping): the rule factories check them and
    say which values are valid. ``prefix_length`` may exceed the number of tokens (the whole
    text is then the prefix); ``k`` may not (``topk_keys`` refuses it).

    Args:
        name: A key of :data:`RULES`.
        params: Exactly the parameters :data:`RULES` lists for ``name`` (``window``,
            ``bidirectional``, ``prefix_length``, ``punctuation``, ``k``, ``p``,
            ``mask_seed``, ``per_head``), e.g. ``{"window": 3, "bidirectional": False}``.
            ``window`` counts as in transformers (:func:`~dynmask_viz.attention_masks.sliding_window`):
            keys, itself included, for a causal window; tokens on each side when ``bidirectional``.
        tokens: The ``L`` tokens (for ``drop_stopwords``).
        scores: ``[1, 1, L, L]`` float, what ``topk_keys`` ranks keys by (the unmasked attention,
            mean over layers and heads); only needed for ``topk_keys``.

    Raises:
        ValueError: Unknown rule name, missing or unknown parameters, or a value the rule refuses.
        TypeError: A value of the wrong type (e.g. a float window).
    """
    if not isinstance(name, str) or name not in RULES:
        raise ValueError(f"Unknown mask rule {name!r}; choose one of {sorted(RULES)}.")
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of {list(RULES[name])}; got {type(params).__name__}.")
    missing, unknown = sorted(set(RULES[name]) - set(params)), sorted(set(params) - set(RULES[name]))
    if missing or unknown:
        raise ValueError(
            f"Rule {name!r} takes exactly the parameters {sorted(RULES[name])}; "
            f"missing {missing}, unknown {unknown}."
        )
    p = params
    if name == "sliding_window":
        if not isinstance(p["bidirectional"], bool):  # `not "no"` would silently be False
            raise TypeError(
                f"sliding_window(bidirectional) must be True or False; got {p['bidirectional']!r}."
            )
        return am.sliding_window(p["window"], causal=not p["bidirectional"])
    if name == "random_drop" and (isinstance(p["mask_seed"], bool) or not isinstance(p["mask_seed"], int)):
        raise TypeError(f"random_drop(mask_seed) must be an int; got {p['mask_seed']!r}.")
    if name == "topk_keys" and scores is None:
        raise ValueError("build_rule('topk_keys') needs scores ([1, 1, L, L]) to rank the keys by.")
    builders = {
        "full": am.full,
        "causal": am.causal,
        "prefix_lm": lambda: am.prefix_lm(p["prefix_length"]),
        "drop_stopwords": lambda: am.drop_stopwords([tokens], punctuation=p["punctuation"]),
        "topk_keys": lambda: am.topk_keys(scores, p["k"]),
        "random_drop": lambda: am.random_drop(p["p"], p["mask_seed"], per_head=p["per_head"]),
    }
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
        bad = [i for i in dropped if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < length]
        if bad:
            raise ValueError(f"dropped must be token indices in [0, {length - 1}]; got {bad}.")
        if dropped:
            drop = torch.zeros(1, length, dtype=torch.bool)
            drop[0, list(dropped)] = True
            rule = rule & am.drop_tokens(drop)
        self.rule = rule
        self.dense = rule.dense(1, heads if rule.per_head else 1, length)
        self.empty_rows = int(am.empty_rows(self.dense).sum())
