"""Input-dependent mask rules: which keys to keep depends on tokens, scores or a seed.

Every factory returns a :class:`MaskRule`; True = *may attend*. These rules can leave a query
with no allowed key ("empty row"): check with :func:`empty_rows`, and see the
``on_empty_row`` policy of :func:`dynmask_viz.hf.to_hf_mask`.
"""

from __future__ import annotations

import math
import numbers

import torch

from .._hashing import coordinate_hash
from ._data import as_bool_2d, as_flag, as_int, batch_sizes, take
from .rule import MaskError, MaskRule


def _key_rule(kept: torch.Tensor, keep_self: bool, name: str) -> MaskRule:
    keep_self = as_flag(f"{name}(keep_self)", keep_self)
    if keep_self:
        fn = lambda b, h, q, k: take(kept, b, k) | (q == k)
    else:
        fn = lambda b, h, q, k: take(kept, b, k)
    return MaskRule(
        name=f"{name}(keep_self=True)" if keep_self else name,
        fn=fn,
        params={"shape": tuple(kept.shape), "kept": int(kept.sum()), "keep_self": keep_self},
        sizes=batch_sizes(name, kept, ("batch", "kv_len")),
        device=kept.device,
    )


def keep_tokens(keep: torch.Tensor, *, keep_self: bool = False) -> MaskRule:
    """Key-side token selection: every query may attend (True) only to kept keys.

    Dropping is key-side only: a dropped token still *attends as a query* (its output mixes the
    kept tokens), it just cannot be attended to. By default it cannot see itself either
    (``keep_self=False``): "dropped" means invisible to everyone. Pass ``keep_self=True`` to
    let every query also attend to its own position (self-attention, ``Q == K``), which
    also prevents empty rows.

    Args:
        keep: ``[B, K]`` bool (or 0/1), True = the key stays visible.
        keep_self: Also allow each query to attend to its own position.
    """
    kept = as_bool_2d("keep_tokens(keep)", keep, "True = keep the key")
    return _key_rule(kept, keep_self, "keep_tokens")


def drop_tokens(drop: torch.Tensor, *, keep_self: bool = False) -> MaskRule:
    """Key-side drop: ``drop_tokens(d)`` allows what ``keep_tokens(~d)`` allows.

    See :func:`keep_tokens` for what a dropped token still does as a query.

    Args:
        drop: ``[B, K]`` bool (or 0/1), True = hide this key from every query.
        keep_self: Also allow each query to attend to its own position.
    """
    dropped = as_bool_2d("drop_tokens(drop)", drop, "True = drop the key")
    return _key_rule(~dropped, keep_self, "drop_tokens")


def _scores_4d(name: str, scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise MaskError(f"{name}(scores) must be a float tensor [B, H, Q, K] or [Q, K].")
    if scores.ndim == 2:
        scores = scores[None, None]
    if scores.ndim != 4:
        raise MaskError(
            f"{name}(scores) must be [B, H, Q, K] (or [Q, K]); got {tuple(scores.shape)}. "
            "For [B, Q, K] scores shared by all heads, pass scores[:, None]."
        )
    if bool(torch.isnan(scores).any()):
        raise MaskError(f"{name}(scores) contains NaN; scores must be comparable numbers.")
    return scores.detach()


def _score_rule(name: str, keep: torch.Tensor, params: dict) -> MaskRule:
    return MaskRule(
        name=name,
        fn=lambda b, h, q, k: take(keep, b, h, q, k),
        params={"shape": tuple(keep.shape), **params},
        sizes=batch_sizes(name.split("(")[0], keep, ("batch", "heads", "q_len", "kv_len")),
        per_head=keep.shape[1] > 1,
        device=keep.device,
    )


def topk_keep(scores: torch.Tensor, k: int, allowed: torch.Tensor) -> torch.Tensor:
    """The ``k`` highest ``scores`` of each row among the ``allowed`` keys; True = kept.

    The selection behind :func:`topk_keys` (and the layer masks of :mod:`dynmask_viz.hf` that
    train with it). Ties go to the lower key index (a stable descending sort).

    Args:
        scores: float ``[..., K]``.
        k: Keys kept per row, ``1 <= k <= K``; a row with fewer allowed keys keeps those.
        allowed: bool, broadcastable to ``scores`` (True = may be chosen).

    Returns:
        bool, the broadcast shape of ``scores`` and ``allowed``.
    """
    allowed = torch.broadcast_to(allowed, torch.broadcast_shapes(scores.shape, allowed.shape))
    # stable=True keeps equal scores in index order, so ties go to the lower key index.
    by_score = torch.sort(scores.expand(allowed.shape), dim=-1, descending=True, stable=True).indices
    # Then every allowed key before every other one (a second stable sort keeps the score order
    # inside each group): an allowed key scored -inf still beats a key that is not allowed.
    allowed_first = torch.sort(
        allowed.gather(-1, by_score).to(torch.int8), dim=-1, descending=True, stable=True
    )
    order = by_score.gather(-1, allowed_first.indices)[..., :k]
    return torch.zeros_like(allowed).scatter_(-1, order, True) & allowed


def topk_keys(scores: torch.Tensor, k: int, *, within: MaskRule | torch.Tensor | None = None) -> MaskRule:
    """Keep (True) the ``k`` highest-scoring keys of each query, exactly ``k`` per row.

    Ties are broken deterministically: among equal scores the lower key index wins (a stable
    descending sort). ``-inf`` scores can be selected if a row has fewer than ``k`` finite ones.

    Args:
        scores: float ``[B, H, Q, K]`` (or ``[Q, K]``), e.g. attention probabilities or logits.
            Size-1 batch/head dims are shared.
        k: Number of keys to keep per query, ``1 <= k <= K``.
        within: Optional rule or bool mask (True = allowed, broadcastable to ``[B, H, Q, K]``) to
            choose among: keys outside it are never selected, so a row keeps
            ``min(k, allowed keys)``. Without it, ``causal() & topk_keys(s, k)`` may keep
            fewer than ``k`` keys (those chosen among blocked future keys are removed).
    """
    s = _scores_4d("topk_keys", scores)
    k = as_int("topk_keys(k)", k, 1)
    if k > s.shape[-1]:
        raise MaskError(f"topk_keys(k) must be <= the number of keys {s.shape[-1]}; got {k}.")
    allowed = torch.ones_like(s, dtype=torch.bool)
    if isinstance(within, MaskRule):
        allowed = within.dense(*s.shape, device=s.device)
    elif isinstance(within, torch.Tensor):
        if within.dtype != torch.bool:
            raise MaskError(f"topk_keys(within) must be a bool tensor (True = allowed); got {within.dtype}.")
        try:
            allowed = torch.broadcast_to(within, s.shape)
        except RuntimeError:
            raise MaskError(
                f"topk_keys(within) of shape {tuple(within.shape)} does not broadcast to the "
                f"scores' shape {tuple(s.shape)} [B, H, Q, K]."
            ) from None
    elif within is not None:
        raise TypeError("topk_keys(within) must be a MaskRule, a bool tensor or None.")
    keep = topk_keep(s, k, allowed)
    extra = {} if within is None else {"within": getattr(within, "name", "tensor")}
    return _score_rule(f"topk_keys(k={k})", keep, {"k": k, **extra})


def score_threshold(scores: torch.Tensor, threshold: float) -> MaskRule:
    """Keep (True) the keys whose score is ``>= threshold``.

    Args:
        scores: float ``[B, H, Q, K]`` (or ``[Q, K]``); size-1 batch/head dims are shared.
        threshold: Minimum score to keep a key (e.g. an attention probability like 0.05); any
            real number but NaN (``-inf`` keeps every key, ``inf`` only ``inf`` scores).
    """
    s = _scores_4d("score_threshold", scores)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"score_threshold(threshold) must be a real number; got {threshold!r}.")
    if math.isnan(threshold):  # NaN compares False with everything: it would block every key
        raise MaskError("score_threshold(threshold) must be a number, not NaN (NaN would block every key).")
    name = f"score_threshold(t={threshold:g})"
    return _score_rule(name, s >= threshold, {"threshold": threshold})


def random_drop(p: float, seed: int, *, per_head: bool = True) -> MaskRule:
    """Drop each (query, key) pair independently with probability ``p``; True = kept.

    Deterministic from the explicit ``seed`` via :func:`coordinate_hash` (never the global
    RNG), so ``.dense()``, ``create_mask`` and ``create_block_mask`` agree exactly.

    The pattern is keyed by the pair's slot coordinates ``(b, h, q, k)``: the same text gets a
    different pattern as example 1 of a batch than alone, or shifted by left padding. That is
    what keeps it a pure function FlexAttention can use; to compare a batch with single-text
    runs, use a rule that does not depend on the batch index.

    FlexAttention reads it from a keep table (:attr:`MaskRule.tabulate`): compiled inline, each
    reuse of a value inside the hash's 4 rounds is copied, so the kernel grows exponentially
    (1-3 rounds at L=256 on CPU: 18-31 s, then past 200 s; 4 rounds never finished).

    Args:
        p: Drop probability in ``[0, 1]`` (resolution ``2**-32``).
        seed: Any Python int.
        per_head: If False, every head gets the same pattern.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise MaskError(f"random_drop(p) must be a probability in [0, 1]; got {p!r}.")
    seed = as_int("random_drop(seed)", seed, -(1 << 63))
    per_head = as_flag("random_drop(per_head)", per_head)
    cut = round(float(p) * 2**32)  # kept iff hash >= cut, so P(kept) = 1 - p
    if per_head:
        fn = lambda b, h, q, k: coordinate_hash(seed, b, h, q, k) >= cut
    else:
        fn = lambda b, h, q, k: coordinate_hash(seed, b, h * 0, q, k) >= cut
    return MaskRule(
        name=f"random_drop(p={float(p):g}, seed={seed}{'' if per_head else ', per_head=False'})",
        fn=fn,
        params={"p": float(p), "seed": seed, "per_head": bool(per_head)},
        per_head=bool(per_head),
        tabulate=True,
    )
