"""How a causal model (GPT-2...) applies a rule: the decoder views of rules and of their
combinations (:meth:`MaskRule.for_decoder`). True = may attend."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: rule.py imports this module
    from .rule import MaskMod, MaskRule


def decoder_view(rule: MaskRule) -> MaskMod:
    """``fn`` of the rule as a decoder applies it: its own view, ``fn`` if it looks ahead, else
    ``fn & causal``."""
    if rule.decoder_fn is not None:
        return rule.decoder_fn
    if rule.looks_ahead:
        return rule.fn
    fn = rule.fn
    return lambda b, h, q, k: fn(b, h, q, k) & (q >= k)


def decoder_combination(rules: tuple[MaskRule, ...], op: str) -> MaskMod | None:
    """``decoder_fn`` of ``&``/``|`` over ``rules``: None unless a part looks ahead.

    ``|`` adds keys, so each part brings its decoder view (the parts that do not look ahead
    stay causal). ``&`` only removes keys, so parts that do not look ahead filter as they are
    (``prefix_lm(4) & padding(m)`` keeps the prefix) and the others bring their decoder view.
    """
    if not any(r.looks_ahead for r in rules):
        return None
    views = tuple(decoder_view(r) if (op == "or" or r.looks_ahead) else r.fn for r in rules)

    def fn(b, h, q_idx, kv_idx):
        out = views[0](b, h, q_idx, kv_idx)
        for view in views[1:]:
            out = (out & view(b, h, q_idx, kv_idx)) if op == "and" else (out | view(b, h, q_idx, kv_idx))
        return out

    return fn
