"""Scaled dot-product attention, one named step at a time, for teaching and for checking.

``softmax(Q K^T * scale + M) V``, where ``M`` is an *additive* mask: 0 where the query may
attend, ``torch.finfo(dtype).min`` where it may not. A bool mask (True = may attend) is turned
into that additive form first, as Hugging Face eager attention does.

Blocked keys: their score is *replaced* by the mask value (``masked_fill``), not added to it.
In float32/float64 the two are the same number (``finfo.min + s`` rounds to ``finfo.min``),
but in float16 ``finfo.min + s`` overflows to ``-inf`` for any score below -16, and a row of
``-inf`` is NaN. Fully masked rows (a query that may attend to nothing): with ``finfo.min``
every entry of the row is the same huge negative number, so the softmax is *uniform* and the
output is the mean of the values, with no NaN, in every dtype. With ``-inf`` the row is
``-inf - (-inf) = NaN`` inside softmax: see :func:`demo_minus_inf_row`. (PyTorch's SDPA
with a *bool* mask returns zeros for such rows in torch 2.13, so it only matches
:func:`attention_steps` on rows with at least one allowed key.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from ..attention_masks import MaskError, is_blocked, to_additive

__all__ = ["AttentionSteps", "attention_from_hidden", "attention_steps", "demo_minus_inf_row"]


@dataclass(frozen=True)
class AttentionSteps:
    """Every intermediate of scaled dot-product attention. ``...`` = leading (batch, head) dims.

    Attributes:
        scores: ``[..., Lq, Lk]`` raw dot products ``q @ k^T``.
        scale: The factor applied to the scores (default ``1 / sqrt(d)``).
        scaled: ``[..., Lq, Lk]`` ``scores * scale``.
        mask: Additive mask (broadcastable to ``scaled``), or None.
        masked: ``[..., Lq, Lk]`` ``scaled + mask`` where the key is allowed, the mask value
            itself where it is blocked (``<= BLOCKED_BELOW``; the same number in float32 for
            ``finfo.min``, and no overflow to ``-inf`` in float16); ``scaled`` when no mask.
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


def _additive(mask, dtype: torch.dtype, target: tuple, device: torch.device) -> torch.Tensor:
    """``mask`` as an additive mask of ``dtype``; every problem it has is reported at once."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"mask must be None or a torch.Tensor (bool, True = may attend, or additive float); "
            f"got {type(mask).__name__}."
        )
    problems = []  # the most fundamental first: a mask of the wrong size is wrong whatever its dtype
    try:
        torch.broadcast_shapes(tuple(mask.shape), target)
        fits = tuple(torch.broadcast_shapes(tuple(mask.shape), target)) == target
    except RuntimeError:
        fits = False
    if not fits:
        problems.append(
            f"mask of shape {tuple(mask.shape)} cannot broadcast to the scores {target} "
            "[..., Lq, Lk]: build it for these queries and keys."
        )
    if mask.dtype != torch.bool and not mask.is_floating_point():
        problems.append(
            f"mask of dtype {mask.dtype} would be *added* to the scores as numbers. "
            "Pass a bool mask (True = may attend): mask.bool(), or an additive float mask."
        )
    elif mask.is_floating_point() and mask.dtype != dtype:
        problems.append(
            f"additive mask is {mask.dtype} but the scores are {dtype}; build it in the "
            "right dtype (finfo.min of one dtype is -inf in a smaller one): "
            "dynmask_viz.attention_masks.to_additive(mask_bool, dtype)."
        )
    if mask.device != device:
        problems.append(
            f"mask is on {mask.device} but q, k, v are on {device}: move it with mask.to(q.device)."
        )
    if problems:
        raise MaskError(
            " ".join(problems)
            if len(problems) == 1
            else " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        )
    return to_additive(mask, dtype) if mask.dtype == torch.bool else mask


def _check_qkv(q, k, v) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2 or not t.is_floating_point():
            got = (
                f"a {t.dtype} tensor of shape {tuple(t.shape)}"
                if isinstance(t, torch.Tensor)
                else type(t).__name__
            )
            raise MaskError(f"{name} must be a float tensor [..., L, d]; got {got}.")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise MaskError(
            f"shapes do not fit: q {tuple(q.shape)} and k {tuple(k.shape)} need the same d; "
            f"k and v {tuple(v.shape)} need the same length Lk."
        )
    if not q.dtype == k.dtype == v.dtype or not q.device == k.device == v.device:
        raise MaskError(
            f"q, k and v must share one dtype and device; got {q.dtype}/{k.dtype}/{v.dtype} on "
            f"{q.device}/{k.device}/{v.device}. Convert them, e.g. k.to(q)."
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise MaskError(
            f"the leading (batch, head) dims of q {tuple(q.shape)}, k {tuple(k.shape)} and "
            f"v {tuple(v.shape)} do not broadcast together."
        ) from None


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
    scale=scale)`` (to ~1e-12 in float64) on every row that has at least one allowed key. A
    fully blocked row is uniform in every dtype (float16 included), never NaN, unless the
    mask holds ``-inf`` (see :func:`demo_minus_inf_row`).

    Args:
        q: ``[..., Lq, d]`` queries.
        k: ``[..., Lk, d]`` keys.
        v: ``[..., Lk, dv]`` values.
        mask: None, bool (True = may attend) or additive float of the scores' dtype, any
            shape broadcastable to ``[..., Lq, Lk]``.
        scale: Score scale; defaults to ``1 / sqrt(d)`` like SDPA.

    Returns:
        :class:`AttentionSteps`.

    Raises:
        MaskError: q, k, v or mask of shapes, dtypes or devices that do not fit (every
            problem of the mask at once).
        TypeError: ``mask`` not a tensor, ``scale`` not a finite number.
    """
    _check_qkv(q, k, v)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    elif isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise TypeError(f"scale must be None (1/sqrt(d)) or a finite real number; got {scale!r}.")
    scale = float(scale)
    scores = q @ k.transpose(-2, -1)
    scaled = scores * scale
    additive = None if mask is None else _additive(mask, scaled.dtype, tuple(scaled.shape), scaled.device)
    if additive is None:
        masked = scaled
        empty = torch.zeros(scaled.shape[:-1], dtype=torch.bool, device=scaled.device)
    else:
        blocked = torch.broadcast_to(is_blocked(additive), scaled.shape)
        # A blocked key's score is replaced by the mask value: adding it would overflow to
        # -inf in float16 (finfo.min + a score below -16), making a fully masked row NaN.
        masked = torch.where(blocked, additive, scaled + additive)
        empty = blocked.all(dim=-1)
    weights = torch.softmax(masked, dim=-1)
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
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise TypeError(f"seed must be an int in [0, 2**63); got {seed!r}.")
    gen = torch.Generator().manual_seed(int(seed))
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
        f"model_layer must be a BERT-style layer (BertLayer, BertAttention or "
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
    width, weight = attn.query.in_features, attn.query.weight
    if not isinstance(hidden_states, torch.Tensor) or not hidden_states.is_floating_point():
        raise TypeError(f"hidden_states must be a float tensor [B, L, {width}]; got {hidden_states!r:.60}.")
    if hidden_states.ndim != 3 or hidden_states.shape[-1] != width or hidden_states.shape[1] == 0:
        raise MaskError(
            f"hidden_states must be [B, L, {width}] (the layer's hidden size, L >= 1); got "
            f"{tuple(hidden_states.shape)}."
        )
    if hidden_states.dtype != weight.dtype or hidden_states.device != weight.device:
        raise MaskError(
            f"hidden_states is {hidden_states.dtype} on {hidden_states.device} but the layer is "
            f"{weight.dtype} on {weight.device}: pass hidden_states.to(weight) or the model's own."
        )
    if mask is not None and not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be None or a 4-D torch.Tensor [B, 1|H, L, L]; got {type(mask).__name__}.")
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
