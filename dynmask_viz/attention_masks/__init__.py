"""Attention-mask catalogue: named, composable FlexAttention-style rules.

Boolean convention: ``True`` = *the query may attend to the key*, in every rule and every
dense mask. Additive masks (:func:`to_additive`) use ``torch.finfo(dtype).min``.

Each factory returns a :class:`MaskRule` ``rule(b, h, q_idx, kv_idx) -> bool`` usable as a
FlexAttention ``mask_mod``; ``rule.dense(B, H, Q, K)`` materializes it by broadcasting and
``rule.block_mask(...)`` builds a ``BlockMask``. Combine with ``&``, ``|``, ``~``::

    rule = causal() & sliding_window(4)          # name: "causal & sliding_window(w=4)"
    dense = (rule & padding(batch["attention_mask"])).dense(2, 1, 8, 8)

Structural: :func:`full`, :func:`causal`, :func:`padding`, :func:`sliding_window`,
:func:`prefix_lm`, :func:`document`, :func:`global_tokens`; :func:`per_document` applies a
rule inside each packed document, at positions counted from the document's start.
Input-dependent: :func:`keep_tokens`, :func:`drop_tokens`, :func:`drop_stopwords`,
:func:`topk_keys`, :func:`score_threshold`, :func:`random_drop`.
Empty rows (a query that may attend to nothing): :func:`empty_rows`, :func:`fix_empty_rows`.
Additive form: :func:`to_additive`, :func:`is_blocked`, :data:`BLOCKED_BELOW`.
FlexAttention (:mod:`.flex`): :func:`flex_mask_mod` (a keep table for ``random_drop``, whose
hash would not compile in bounded time), :func:`check_flex` (against SDPA with the dense
mask), :func:`block_kinds` / :func:`block_sparsity`, :func:`compiled_flex_attention`.
"""

from .._hashing import coordinate_hash
from .additive import BLOCKED_BELOW, is_blocked, to_additive
from .dynamic import (
    drop_tokens,
    keep_tokens,
    random_drop,
    score_threshold,
    topk_keys,
)
from .empty import EMPTY_ROW_POLICIES, empty_rows, fix_empty_rows
from .flex import (
    BLOCK_KINDS,
    BlockSparsity,
    FlexCheck,
    block_kinds,
    block_sparsity,
    check_flex,
    compiled_flex_attention,
    flex_mask_mod,
)
from .rule import MaskError, MaskRule, and_rules, not_rule, or_rules
from .stopwords import ENGLISH_STOPWORDS, drop_stopwords, stopword_keep_mask
from .structural import (
    causal,
    document,
    full,
    global_tokens,
    padding,
    per_document,
    prefix_lm,
    sliding_window,
)

__all__ = [
    "BLOCKED_BELOW",
    "BLOCK_KINDS",
    "BlockSparsity",
    "FlexCheck",
    "block_kinds",
    "block_sparsity",
    "check_flex",
    "compiled_flex_attention",
    "flex_mask_mod",
    "EMPTY_ROW_POLICIES",
    "ENGLISH_STOPWORDS",
    "MaskError",
    "MaskRule",
    "and_rules",
    "causal",
    "coordinate_hash",
    "document",
    "drop_stopwords",
    "drop_tokens",
    "empty_rows",
    "fix_empty_rows",
    "full",
    "global_tokens",
    "is_blocked",
    "keep_tokens",
    "not_rule",
    "or_rules",
    "padding",
    "per_document",
    "prefix_lm",
    "random_drop",
    "score_threshold",
    "sliding_window",
    "stopword_keep_mask",
    "to_additive",
    "topk_keys",
]
