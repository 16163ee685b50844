"""Independent dense references for the attention-mask tests, built by broadcasting index grids
(never by calling a rule). True = may attend."""

from __future__ import annotations

import torch


def grid(batch: int, heads: int, q_len: int, kv_len: int):
    """Index grids [B,1,1,1], [1,H,1,1], [1,1,Q,1], [1,1,1,K] for reference masks."""
    return (
        torch.arange(batch)[:, None, None, None],
        torch.arange(heads)[None, :, None, None],
        torch.arange(q_len)[None, None, :, None],
        torch.arange(kv_len)[None, None, None, :],
    )


def expand(ref: torch.Tensor, shape) -> torch.Tensor:
    return torch.broadcast_to(ref, shape)


def ref_causal(shape):
    _, _, q, k = grid(*shape)
    return expand(q >= k, shape)


def ref_prefix(shape, n):
    _, _, q, k = grid(*shape)
    n = torch.as_tensor(n).reshape(-1, 1, 1, 1)
    return expand((k <= q) | (k < n), shape)


def ref_document(shape, seg):
    # Same document <=> equal ids: compare ids of every query with ids of every key.
    same = seg[:, :, None] == seg[:, None, :]
    return expand(same[:, None], shape)


def ref_padding(shape, real):
    return expand(real.bool()[:, None, None, :], shape)


def ref_global(shape, positions):
    flags = torch.zeros(shape[2], dtype=torch.bool)
    flags[list(positions)] = True
    return expand(flags[None, None, :, None] | flags[None, None, None, :], shape)
