"""Empty rows: queries that may attend to nothing, and the policies applied to them.

Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

from typing import Literal

import torch

from .rule import MaskError

EmptyRowPolicy = Literal["keep_self", "uniform", "raise"]
EMPTY_ROW_POLICIES = ("keep_self", "uniform", "raise")


def empty_rows(dense_mask: torch.Tensor) -> torch.Tensor:
    """Report queries that may attend to nothing.

    Such a row has no allowed key, so attention there is undefined. What the model then
    computes depends on how the mask is applied: an additive mask with ``finfo(dtype).min``
    everywhere gives equal scores, so eager softmax is *uniform* (the output is the mean of all
    values, no NaN); ``-inf`` gives NaN; SDPA with a bool mask and FlexAttention give an
    all-zero output (torch 2.13). See :func:`fix_empty_rows` for the policies we apply.

    Args:
        dense_mask: bool ``[..., Q, K]``, True = may attend.

    Returns:
        bool ``[..., Q]``, True where the query's row is entirely False.
    """
    if not isinstance(dense_mask, torch.Tensor) or dense_mask.dtype != torch.bool:
        raise MaskError("empty_rows expects a bool tensor [..., Q, K] (True = may attend).")
    if dense_mask.ndim < 2:
        raise MaskError(f"empty_rows expects at least 2 dims [..., Q, K]; got {dense_mask.ndim}.")
    return ~dense_mask.any(dim=-1)


def fix_empty_rows(
    dense_mask: torch.Tensor, on_empty_row: EmptyRowPolicy = "keep_self"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply an empty-row policy to a dense bool mask (True = may attend).

    Policies:
        ``"keep_self"`` (default): an empty query row may attend to its own position (key
        index == query index), so its output is its own value vector. Needs ``Q == K``.
        ``"uniform"``: leave the row empty; with ``finfo.min`` additive masks the softmax is
        uniform over all keys (eager behaviour). Bool masks in SDPA would give zeros instead.
        ``"raise"``: raise :class:`MaskError` naming the first empty rows.

    Args:
        dense_mask: bool ``[..., Q, K]``.
        on_empty_row: One of the policies above.

    Returns:
        ``(mask, empty)``: the (possibly repaired) mask, a new tensor, and the bool ``[..., Q]``
        report of which rows *were* empty before repair.
    """
    if not isinstance(on_empty_row, str) or on_empty_row not in EMPTY_ROW_POLICIES:
        raise MaskError(f"on_empty_row must be one of {EMPTY_ROW_POLICIES}; got {on_empty_row!r}.")
    empty = empty_rows(dense_mask)
    mask = dense_mask.clone()
    if not bool(empty.any()):
        return mask, empty
    where = [tuple(i) for i in empty.nonzero()[:5].tolist()]
    if on_empty_row == "raise":
        raise MaskError(
            f"{int(empty.sum())} query row(s) may attend to nothing (first indices {where}). "
            "Pass on_empty_row='keep_self' to let them attend to themselves, or 'uniform'."
        )
    if on_empty_row == "keep_self":
        q_len, kv_len = mask.shape[-2:]
        if q_len != kv_len:
            raise MaskError(
                f"on_empty_row='keep_self' needs a square mask (Q == K) so that a query has a "
                f"key at its own position; got Q={q_len}, K={kv_len}. Use 'uniform' or 'raise'."
            )
        eye = torch.eye(q_len, dtype=torch.bool, device=mask.device)
        mask |= empty.unsqueeze(-1) & eye
    return mask, empty
