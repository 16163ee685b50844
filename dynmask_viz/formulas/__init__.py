"""Attention formulas, step by step, for teaching and for checking.

* :mod:`.steps`: ``softmax(Q K^T * scale + M) V`` one named step at a time
  (:func:`attention_steps`), recomputed from a model's own weights (:func:`attention_from_hidden`),
  and the ``-inf`` row that turns into NaN (:func:`demo_minus_inf_row`).
* :mod:`.causal`: the causal mask of a decoding step and its alignment (:func:`causal_mask`), and
  why SDPA's ``is_causal=True`` is wrong for a one-query step (:func:`demo_is_causal_decoding`).

Boolean convention: True = may attend; additive masks use ``torch.finfo(dtype).min``.
"""

from .causal import IsCausalDemo, causal_mask, demo_is_causal_decoding
from .steps import AttentionSteps, attention_from_hidden, attention_steps, demo_minus_inf_row

__all__ = [
    "AttentionSteps",
    "IsCausalDemo",
    "attention_from_hidden",
    "attention_steps",
    "causal_mask",
    "demo_is_causal_decoding",
    "demo_minus_inf_row",
]
