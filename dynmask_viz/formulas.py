"""Scaled dot-product attention, one named step at a time, for teaching and for checking.

``softmax(Q K^T * scale + M) V``, where ``M`` is an *additive* mask: 0 where the query may
attend, ``torch.finfo(dtype).min`` where it may not. A bool mask (True = may attend) is turned
into that additive form first, as Hugging Face eager attention does.

Fully masked rows (a query that may attend to nothing): with ``finfo.min`` every score in
the row becomes the same huge negative number, so the softmax is *uniform* and the output is
the mean of the values, with no NaN. With ``-inf`` the row is ``-inf - (-inf) = NaN`` inside
softmax: see :func:`demo_minus_inf_row`. (PyTorch's SDPA with a *bool* mask returns zeros for
such rows in torch 2.13, so it only matches :func:`attention_steps` on rows with at least one
allowed key.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attention_masks import MaskError, is_blocked, to_additive

__all__ = ["AttentionSteps", "attention_steps", "attention_from_hidden", "demo_minus_inf_row"]


@dataclass(frozen=True)
class AttentionSteps:
    """Every intermediate of scaled dot-product attention. ``...`` = leading (batch, head) dims.

    Attributes:
        scores: ``[..., Lq, Lk]`` raw dot products ``q @ k^T``.
        scale: The factor applied to the scores (default ``1 / sqrt(d)``).
        scaled: ``[..., Lq, Lk]`` ``scores * scale``.
        mask: Additive mask that was added (broadcastable to ``scaled``), or None.
        masked: ``[..., Lq, Lk]`` ``scaled + mask`` (``scaled`` itself when no mask).
        weights: ``[..., Lq, Lk]`` ``softmax(masked, dim=-1)``; each row sums to 1.
        output: ``[..., Lq, dv]`` ``weights @ v``.
        empty_rows: bool ``[..., Lq]``, True where the mask blocks every key of the query
            (blocked = value ``<= BLOCKED_BELOW`` (-1e4): ``finfo.min`` and ``-inf``).
    """

    scores: torch.Tensor
    scale: float
    scaled: torch.Tensor
    mask: torch.Tensor | None
    masked: torch.Tensor
    weights: torch.Tensor
    output: torch.Tensor
    empty_rows: torch.Tensor


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return to_additive(mask, dtype)
    if not mask.is_floating_point():
        raise MaskError(
            f"attention mask of dtype {mask.dtype} would be *added* to the scores as numbers. "
            "Pass a bool mask (True = may attend): mask.bool(), or an additive float mask."
        )
    if mask.dtype != dtype:
        raise MaskError(
            f"additive mask is {mask.dtype} but the scores are {dtype}; build it in the "
            "right dtype (finfo.min of one dtype is -inf in a smaller one): "
            "dynmask_viz.attention_masks.to_additive(mask_bool, dtype)."
        )
    return mask


def attention_steps(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scale: float | None = None,
) -> AttentionSteps:
    """Scaled dot-product attention with every step kept.

    Matches ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
    scale=scale)`` (to ~1e-12 in float64) on every row that has at least one allowed key.

    Args:
        q: ``[..., Lq, d]`` queries.
        k: ``[..., Lk, d]`` keys.
        v: ``[..., Lk, dv]`` values.
        mask: None, bool (True = may attend) or additive float of the scores' dtype, any
            shape broadcastable to ``[..., Lq, Lk]``.
        scale: Score scale; defaults to ``1 / sqrt(d)`` like SDPA.

    Returns:
        :class:`AttentionSteps`.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2 or not t.is_floating_point():
            raise MaskError(f"{name} must be a float tensor [..., L, d]; got {t!r:.60}.")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise MaskError(
            f"shapes do not fit: q {tuple(q.shape)} and k {tuple(k.shape)} need the same d; "
            f"k and v {tuple(v.shape)} need the same length Lk."
        )
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    scores = q @ k.transpose(-2, -1)
    scaled = scores * scale
    additive = None if mask is None else _additive(mask, scaled.dtype)
    masked = scaled if additive is None else scaled + additive
    weights = torch.softmax(masked, dim=-1)
    if additive is None:
        empty = torch.zeros(scaled.shape[:-1], dtype=torch.bool, device=scaled.device)
    else:
        blocked = torch.broadcast_to(is_blocked(additive), scaled.shape)
        empty = blocked.all(dim=-1)
    return AttentionSteps(scores, scale, scaled, additive, masked, weights, weights @ v, empty)


def demo_minus_inf_row(seed: int = 0) -> AttentionSteps:
    """Why masks use ``finfo.min`` and not ``-inf``: a 3x3 example whose middle row is empty.

    Row 1 of the additive mask is ``-inf`` everywhere, so its scores are all ``-inf`` and the
    softmax computes ``exp(-inf - (-inf)) = exp(NaN)``: ``weights[1]`` and ``output[1]`` are NaN
    (and the NaN would spread through every later layer). With ``finfo.min`` instead the same
    row would be uniform (``1/3`` each).

    Args:
        seed: Seed of the explicit generator used for q, k, v.

    Returns:
        :class:`AttentionSteps` in float32 with NaN in row 1 of ``weights`` and ``output``.
    """
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(3, 4, generator=gen) for _ in range(3))
    allowed = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    mask = torch.zeros(3, 3).masked_fill(~allowed, float("-inf"))
    return attention_steps(q, k, v, mask)


def _self_attention_module(layer: torch.nn.Module) -> torch.nn.Module:
    for path in ((), ("self",), ("attention", "self")):
        module = layer
        for attr in path:
            module = getattr(module, attr, None)
        if module is not None and all(hasattr(module, a) for a in ("query", "key", "value")):
            return module
    raise TypeError(
        f"attention_from_hidden expects a BERT-style layer (BertLayer, BertAttention or "
        f"BertSelfAttention with query/key/value Linear layers); got {type(layer).__name__}."
    )


@torch.no_grad()
def attention_from_hidden(
    model_layer: torch.nn.Module, hidden_states: torch.Tensor, mask: torch.Tensor | None = None
) -> AttentionSteps:
    """Recompute a BERT layer's self-attention from its input, with its own Q/K/V weights.

    Independent of the model's attention code, so it can check extracted attention
    (``output_attentions=True`` under eager) to ~1e-6. Dropout is not applied (eval mode).

    Args:
        model_layer: ``BertLayer``, ``BertAttention`` or ``BertSelfAttention``.
        hidden_states: ``[B, L, hidden]``, the layer's input (``outputs.hidden_states[i]``
            for layer ``i`` with ``output_hidden_states=True``).
        mask: None, or the 4-D mask given to the model: bool ``[B|1, 1|H, L, L]`` (True =
            may attend) or additive float (e.g. from ``to_hf_mask``).

    Returns:
        :class:`AttentionSteps` with ``weights`` ``[B, H, L, L]`` and ``output``
        ``[B, H, L, head_dim]`` (per head, before the heads are concatenated).
    """
    attn = _self_attention_module(model_layer)
    if hidden_states.ndim != 3:
        raise MaskError(f"hidden_states must be [B, L, hidden]; got {tuple(hidden_states.shape)}.")
    if mask is not None and mask.ndim != 4:
        raise MaskError(
            f"mask must be 4-D [B, 1|H, L, L]; got {tuple(mask.shape)}. Build it with "
            "dynmask_viz.hf.to_hf_mask(rule_or_mask, model, input_ids=...)."
        )
    batch, length, _ = hidden_states.shape
    heads, head_dim = attn.num_attention_heads, attn.attention_head_size

    def split(linear: torch.nn.Linear) -> torch.Tensor:
        # [B, L, H*d] -> [B, H, L, d], the same head split as the model.
        return linear(hidden_states).view(batch, length, heads, head_dim).transpose(1, 2)

    scale = getattr(attn, "scaling", head_dim**-0.5)
    return attention_steps(split(attn.query), split(attn.key), split(attn.value), mask, scale=scale)
