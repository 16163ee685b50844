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
    """Local attention within ``window`` positions, as transformers 5 counts it; True = may attend.

    * ``causal=True`` (default): ``q - window < k <= q``, i.e. the query and the
      ``window - 1`` tokens before it (``window`` keys in all, fewer at the start). This is
      transformers' ``sliding_window_causal_mask_function(window)`` (Mistral's and Gemma's
      ``config.sliding_window``).
    * ``causal=False``: ``|q - k| <= window``, i.e. ``window`` tokens on each side
      (``2 * window + 1`` keys in all). This is transformers'
      ``sliding_window_bidirectional_mask_function(window)``.

    The two conventions differ by one on purpose, because transformers' do: the causal
    window counts *keys* (itself included), the bidirectional one the *distance* each side, so
    ``sliding_window(w) == causal() & sliding_window(w - 1, causal=False)`` for ``w >= 2``.

    attention-gym counts the causal window as a distance too: its
    ``generate_sliding_window(w)`` allows ``0 <= q - k <= w`` (``w + 1`` keys), which is
    ``sliding_window(w + 1)`` here.

    Args:
        window: Window size, >= 1 (causal ``window=1`` lets each query see only itself;
            bidirectional ``window=1`` itself and one neighbour on each side).
        causal: Whether the window only looks back. ``causal=False`` looks ahead on purpose
            (:attr:`MaskRule.looks_ahead`): a decoder gets it as is from ``to_hf_mask``.
    """
    w = as_int("sliding_window(window)", window, 1)
    causal = as_flag("sliding_window(causal)", causal)
    if causal:
        fn = lambda b, h, q, k: ((q - k) >= 0) & ((q - k) < w)
        name = f"sliding_window(w={w})"
    else:
        fn = lambda b, h, q, k: (q - k).abs() <= w
        name = f"sliding_window(w={w}, causal=False)"
    return MaskRule(name=name, fn=fn, params={"window": w, "causal": bool(causal)}, looks_ahead=not causal)


def prefix_lm(prefix_length: int | torch.Tensor) -> MaskRule:
    """Prefix LM: bidirectional over the first ``n`` tokens, causal after them.

    Allowed (True) when ``k <= q`` (causal) or ``k < n`` (the key is in the prefix), so every
    token, including the prefix, sees the whole prefix. The prefix looks ahead on purpose
    (:attr:`MaskRule.looks_ahead`): ``to_hf_mask`` gives a decoder (GPT-2...) this mask as is,
    not its causal part only. ``n`` counts from position 0 of the sequence; for packed
    documents use ``per_document(prefix_lm(n), segment_ids)``.

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
            looks_ahead=True,
        )
    n_int = as_int("prefix_lm(prefix_length)", prefix_length, 0)
    return MaskRule(
        name=f"prefix_lm(n={n_int})",
        fn=lambda b, h, q, k: (q >= k) | (k < n_int),
        params={"prefix_length": n_int},
        absolute=True,
        looks_ahead=True,
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


def _positions_in_documents(seg: torch.Tensor) -> torch.Tensor:
    """int ``[B, L]``: each token's position in its document, i.e. how many tokens of the same
    document come before it (``slot - start`` for a contiguous document)."""
    # A stable sort groups each document's tokens in slot order; the rank within the group is
    # the position. O(L log L), unlike comparing every pair of slots.
    order = torch.sort(seg, dim=-1, stable=True).indices
    ids = seg.gather(-1, order)
    slots = torch.arange(seg.shape[-1], device=seg.device).expand_as(seg)
    first = torch.ones_like(seg, dtype=torch.bool)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    group_start = torch.where(first, slots, torch.zeros_like(slots)).cummax(-1).values
    return torch.empty_like(seg).scatter_(-1, order, slots - group_start)


def per_document(rule: MaskRule, segment_ids: torch.Tensor) -> MaskRule:
    """``rule`` applied inside each packed document, at positions counted from its start.

    Query ``q`` may attend (True) to key ``k`` iff both are in the same document and ``rule``
    allows ``(q - start, k - start)``, positions within that document. Unlike
    ``document(ids) & rule``, which reads absolute positions, ``per_document(prefix_lm(2), ids)``
    gives *every* document a prefix of 2 tokens. Like attention-gym's ``generate_doc_mask_mod``
    (offsets there, segment ids here). For ``causal`` and ``sliding_window``, which depend on
    ``q - k`` only, it equals ``document(ids) & rule`` when every document is contiguous.

    Args:
        rule: A rule of positions only (``causal``, ``sliding_window``, ``prefix_lm``,
            ``global_tokens`` by position, and their combinations). Combine rules of per-token
            data outside: ``per_document(prefix_lm(2), ids) & padding(attention_mask)``.
        segment_ids: int ``[B, L]``; tokens with equal ids belong to the same document. A
            token's position is the number of tokens of its document before it, so a document
            need not be contiguous (a padding id shared by scattered slots is one document).

    Raises:
        MaskError: ``rule`` reads per-token data, or ``segment_ids`` is not ``[B, L]`` ints.
    """
    if not isinstance(rule, MaskRule):
        raise TypeError(f"per_document(rule) must be a MaskRule; got {type(rule).__name__}.")
    if rule.reads_slots:
        raise MaskError(
            f"per_document(rule): {rule.name} reads per-token data by slot, which would be read "
            "at positions within a document instead. Combine it outside: "
            "per_document(rule_of_positions, segment_ids) & data_rule."
        )
    seg = as_int_tensor("per_document(segment_ids)", segment_ids, 2, "[batch, seq_len] segment ids")
    pos = _positions_in_documents(seg)

    def within_documents(inner):
        def fn(b, h, q, k):
            same = take(seg, b, q) == take(seg, b, k)
            return same & inner(b, h, take(pos, b, q), take(pos, b, k))

        return fn

    fn = within_documents(rule.fn)

    return MaskRule(
        name=f"per_document({rule.name})",
        fn=fn,
        params={"rule": rule.name, "shape": tuple(seg.shape), "documents": int(seg.unique().numel())},
        sizes=rule.sizes
        + batch_sizes("per_document", seg, ("batch", "q_len"))
        + (("kv_len", int(seg.shape[1]), "per_document"),),
        per_head=rule.per_head,
        device=seg.device,
        looks_ahead=rule.looks_ahead,
        tabulate=rule.tabulate,
        # On a decoder, the rule's decoder view inside each document (causal where it does not
        # look ahead: within a contiguous document, q - start >= k - start is q >= k).
        decoder_fn=within_documents(rule.for_decoder().fn) if rule.looks_ahead else None,
    )


def global_tokens(positions) -> MaskRule:
    """Global tokens attend to every key and are attended by every query (True = may attend).

    Usually OR-ed with a local pattern: ``sliding_window(4, causal=False) | global_tokens([0])``
    (Longformer / BigBird style). Alone, a pair is allowed iff its query or its key is global.
    A global query sees later keys on purpose (:attr:`MaskRule.looks_ahead`), also on a decoder.

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
            looks_ahead=True,
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
        looks_ahead=True,
    )
