"""The causal mask of a decoding step, and why SDPA's ``is_causal=True`` is wrong for it.

With a KV cache, a decoder's new query is the *last* position: its causal row must be aligned
bottom-right (every cached key and itself). ``F.scaled_dot_product_attention(is_causal=True)``
aligns top-left, which for one query means key 0 only. Boolean convention: True = may attend.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

__all__ = ["IsCausalDemo", "causal_mask", "demo_is_causal_decoding"]


def causal_mask(q_len: int, k_len: int, *, align: str = "bottom_right") -> torch.Tensor:
    """The causal mask of ``q_len`` queries over ``k_len`` keys, bool ``[q_len, k_len]``
    (True = may attend).

    ``"bottom_right"``: the queries are the *last* ``q_len`` positions (query ``i`` is at
    position ``k_len - q_len + i`` and sees every key up to it): what decoding with a KV cache
    needs, where one new query comes after ``k_len - 1`` cached keys. ``"top_left"``: query
    ``i`` sees keys ``0..i``, as if the queries were the *first* positions: what
    ``F.scaled_dot_product_attention(..., is_causal=True)`` builds (torch 2.x documents it
    as ``torch.ones(L, S).tril(diagonal=0)``). Both are the same when ``q_len == k_len``.

    Raises:
        ValueError: Lengths not ints >= 1, ``q_len > k_len`` for bottom_right, or an unknown
            ``align``.
    """
    for name, value in (("q_len", q_len), ("k_len", k_len)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    if align not in ("bottom_right", "top_left"):
        raise ValueError(
            f"align must be 'bottom_right' (KV-cache decoding) or 'top_left' (is_causal); got {align!r}."
        )
    if align == "top_left":
        return torch.ones(q_len, k_len, dtype=torch.bool).tril()
    if q_len > k_len:
        raise ValueError(
            f"bottom_right needs q_len <= k_len (the queries are the last keys); got {q_len} > {k_len}."
        )
    return torch.ones(q_len, k_len, dtype=torch.bool).tril(diagonal=k_len - q_len)


@dataclass(frozen=True)
class IsCausalDemo:
    """One decoding step (1 query over ``cache_len`` cached keys + its own), four ways, via SDPA.

    Attributes:
        q, k, v: ``[1, 1, 1, d]`` and ``[1, 1, cache_len + 1, d]`` (batch, head, length, dim).
        is_causal: ``[1, 1, 1, d]`` output of ``sdpa(q, k, v, is_causal=True)``.
        top_left, bottom_right: outputs with the explicit :func:`causal_mask` of that alignment.
        no_mask: output with no mask at all.
        top_left_row, bottom_right_row: bool ``[cache_len + 1]``, the query's mask row.
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    is_causal: torch.Tensor
    top_left: torch.Tensor
    bottom_right: torch.Tensor
    no_mask: torch.Tensor
    top_left_row: torch.Tensor
    bottom_right_row: torch.Tensor


def demo_is_causal_decoding(cache_len: int = 10, *, dim: int = 8, seed: int = 0) -> IsCausalDemo:
    """Why ``is_causal=True`` is wrong for a 1-query decoding step, checked with torch's SDPA.

    ``is_causal=True`` aligns the causal mask top-left: the single query gets row 0, so it sees
    key 0 only and its output is ``v[..., 0, :]``. The new token is the *last* position, so its
    row must be bottom-right aligned: every cached key and itself, i.e. no mask at all (which
    is why decoders pass ``is_causal=False`` when the query length is 1).

    Args:
        cache_len: Keys already in the cache (the query adds one), >= 1.
        dim: Head dimension. seed: Seed of the explicit generator for q, k, v (float64).
    """
    if isinstance(cache_len, bool) or not isinstance(cache_len, numbers.Integral) or cache_len < 1:
        raise ValueError(f"cache_len must be an int >= 1 (keys already cached); got {cache_len!r}.")
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 1, 1, dim, generator=gen, dtype=torch.float64)
    k, v = (torch.randn(1, 1, cache_len + 1, dim, generator=gen, dtype=torch.float64) for _ in range(2))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    top_left = causal_mask(1, cache_len + 1, align="top_left")
    bottom_right = causal_mask(1, cache_len + 1, align="bottom_right")
    return IsCausalDemo(
        q,
        k,
        v,
        is_causal=sdpa(q, k, v, is_causal=True),
        top_left=sdpa(q, k, v, attn_mask=top_left),
        bottom_right=sdpa(q, k, v, attn_mask=bottom_right),
        no_mask=sdpa(q, k, v),
        top_left_row=top_left[0],
        bottom_right_row=bottom_right[0],
    )
