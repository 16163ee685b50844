"""Structural mask rules: patterns fixed by positions (and, for some, per-example data).

Every factory returns a :class:`MaskRule`; True = *may attend*. Query and key indices are
absolute positions aligned at 0 (query ``i`` and key ``i`` are the same token), which is the
self-attention case. For a ``[B, L]`` argument, a batch of 1 is shared by every example.
"""

from __future__ import annotations

import torch

from ._data import as_bool_2d, as_flag, as_int, as_int_tensor, batch_sizes, take
from .rule import MaskError, MaskRule


def full() -> MaskRule:
    """Every query may attend to every key (all True), like ``flex_attention.noop_mask``."""
    return MaskRule(name="full", fn=lambda b, h, q, k: (q >= 0) & (k >= 0))


def causal() -> MaskRule:
    """Query ``q`` may attend to keys ``k <= q`` (itself and the past); True = may attend."""
    return MaskRule(name="causal", fn=lambda b, h, q, k: q >= k)


def padding(attention_mask: torch.Tensor) -> MaskRule:
    """Key-side padding: every query may attend (True) only to real tokens.

    Queries at padded positions still attend to the real keys (their outputs are normally
    ignored); a fully padded example gives empty rows, see :func:`empty_rows`.

    Args:
        attention_mask: ``[B, K]`` bool or 0/1 ints, 1/True = real token (Hugging Face's
            tokenizer output).
    """
    real = as_bool_2d("padding(attention_mask)", attention_mask, "1/True = real token")
    return MaskRule(
        name="padding",
        fn=lambda b, h, q, k: take(real, b, k),
        params={"shape": tuple(real.shape), "real_tokens": int(real.sum())},
        sizes=batch_sizes("padding", real, ("batch", "kv_len")),
        device=real.device,
    )


def sliding_window(window: int, causal: bool = True) -> MaskRule:
    """Local attention within ``window`` positions; True = may attend.

    * ``causal=True`` (default): ``q - window < k <= q``, i.e. the query and the
      ``window - 1`` tokens before it (``window`` keys in all, fewer at the start).
    * ``causal=False``: ``|q - k| < window``, i.e. ``window - 1`` tokens on each side
      (``2 * window - 1`` keys in all).

    Args:
        window: Window size, >= 1 (``window=1`` lets each query see only itself).
        causal: Whether the window only looks back.
    """
    w = as_int("sliding_window(window)", window, 1)
    causal = as_flag("sliding_window(causal)", causal)
    if causal:
        fn = lambda b, h, q, k: ((q - k) >= 0) & ((q - k) < w)
        name = f"sliding_window(w={w})"
    else:
        fn = lambda b, h, q, k: (q - k).abs() < w
        name = f"sliding_window(w={w}, causal=False)"
    return MaskRule(name=name, fn=fn, params={"window": w, "causal": bool(causal)})


def prefix_lm(prefix_length: int | torch.Tensor) -> MaskRule:
    """Prefix LM: bidirectional over the first ``n`` tokens, causal after them.

    Allowed (True) when ``k <= q`` (causal) or ``k < n`` (the key is in the prefix), so every
    token, including the prefix, sees the whole prefix.

    Args:
        prefix_length: ``n``, an int >= 0 shared by all examples, or an int tensor ``[B]``.
    """
    if isinstance(prefix_length, torch.Tensor):
        n = as_int_tensor("prefix_lm(prefix_length)", prefix_length, 1, "one length per example")
        if bool((n < 0).any()):
            raise MaskError("prefix_lm(prefix_length) must be >= 0 for every example.")
        return MaskRule(
            name="prefix_lm(n=per-example)",
            fn=lambda b, h, q, k: (q >= k) | (k < take(n, b)),
            params={"prefix_length": n.tolist()},
            sizes=batch_sizes("prefix_lm", n, ("batch",)),
            device=n.device,
            absolute=True,
        )
    n_int = as_int("prefix_lm(prefix_length)", prefix_length, 0)
    return MaskRule(
        name=f"prefix_lm(n={n_int})",
        fn=lambda b, h, q, k: (q >= k) | (k < n_int),
        params={"prefix_length": n_int},
        absolute=True,
    )


def document(segment_ids: torch.Tensor) -> MaskRule:
    """Block-diagonal mask for packed sequences: attend (True) only within the same document.

    Combine with :func:`causal` for packed causal LM training (``causal() & document(ids)``)
    and with :func:`padding` if padding shares a segment id with a real document.

    Args:
        segment_ids: int ``[B, L]``; tokens with equal ids belong to the same document.
    """
    seg = as_int_tensor("document(segment_ids)", segment_ids, 2, "[batch, seq_len] segment ids")
    return MaskRule(
        name="document",
        fn=lambda b, h, q, k: take(seg, b, q) == take(seg, b, k),
        params={"shape": tuple(seg.shape), "documents": int(seg.unique().numel())},
        sizes=batch_sizes("document", seg, ("batch", "q_len")) + (("kv_len", int(seg.shape[1]), "document"),),
        device=seg.device,
    )


def global_tokens(positions) -> MaskRule:
    """Global tokens attend to every key and are attended by every query (True = may attend).

    Usually OR-ed with a local pattern: ``sliding_window(4, causal=False) | global_tokens([0])``
    (Longformer / BigBird style). Alone, a pair is allowed iff its query or its key is global.

    Args:
        positions: Either positions shared by all examples (ints or a 1-D int tensor,
            non-negative), or a bool ``[B, L]`` tensor flagging the global tokens per example.
    """
    if isinstance(positions, torch.Tensor) and positions.dtype == torch.bool:
        flags = as_bool_2d("global_tokens(positions)", positions, "True = global token")
        return MaskRule(
            name="global_tokens(per-example)",
            fn=lambda b, h, q, k: take(flags, b, q) | take(flags, b, k),
            params={"shape": tuple(flags.shape), "global": int(flags.sum())},
            sizes=batch_sizes("global_tokens", flags, ("batch", "q_len"))
            + (("kv_len", int(flags.shape[1]), "global_tokens"),),
            device=flags.device,
        )
    pos = as_int_tensor("global_tokens(positions)", positions, 1, "positions of global tokens")
    if bool((pos < 0).any()):
        raise MaskError("global_tokens(positions) must be non-negative token positions.")

    def is_global(idx: torch.Tensor) -> torch.Tensor:
        # Membership test by broadcasting against all positions: no indexing, any length works.
        return (idx.unsqueeze(-1) == pos.to(idx.device)).any(-1)

    return MaskRule(
        name=f"global_tokens(positions={pos.tolist()})",
        fn=lambda b, h, q, k: is_global(q) | is_global(k),
        params={"positions": pos.tolist()},
        device=pos.device,
        absolute=True,
    )
