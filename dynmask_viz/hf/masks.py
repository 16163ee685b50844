"""Convert masks to what a Hugging Face model needs: ``to_hf_mask``.

True = may attend; additive masks use ``torch.finfo(dtype).min``. See the package docstring.
"""

from __future__ import annotations

import warnings

import torch

from ..attention_masks import MaskError, MaskRule, fix_empty_rows, to_additive

SUPPORTED_IMPLEMENTATIONS = ("eager", "sdpa")
FIX_4D = (
    "Build a 4-D mask with dynmask_viz.hf.to_hf_mask(rule_or_bool_mask, model, "
    "input_ids=input_ids, attention_mask=padding_mask): it returns [B, 1, Q, K] in the form "
    "this attention implementation needs (additive finfo.min for eager, bool for sdpa)."
)


class EmptyRowWarning(UserWarning):
    """Some queries could attend to nothing; the ``on_empty_row`` policy was applied."""


def attn_implementation(model) -> str:
    """The model's attention implementation, e.g. ``"eager"`` or ``"sdpa"``."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if impl is None:
        raise MaskError("expected a transformers model with config._attn_implementation.")
    return impl


def is_causal_model(model) -> bool:
    """Whether ``model`` applies a causal mask itself (GPT-2, Llama, BERT as a decoder...).

    A 4-D mask replaces the model's own causal mask entirely, so ``to_hf_mask`` must add it.
    """
    if getattr(model.config, "is_decoder", False):
        return True
    return any(getattr(m, "is_causal", False) is True for m in model.modules())


def _inputs(input_ids, attention_mask) -> tuple[int, int, torch.Tensor | None]:
    ref = input_ids if input_ids is not None else attention_mask
    if not isinstance(ref, torch.Tensor) or ref.ndim != 2:
        raise MaskError("pass input_ids [batch, seq_len] and/or a 2-D padding attention_mask.")
    batch, length = ref.shape
    if attention_mask is None:
        return batch, length, None
    if tuple(attention_mask.shape) != (batch, length):
        raise MaskError(
            f"attention_mask must be the (batch, key) padding mask {(batch, length)} of "
            f"input_ids (1 = real token); got {tuple(attention_mask.shape)}. Pass a (query, "
            "key) pattern as the first argument of to_hf_mask instead."
        )
    return batch, length, attention_mask.to(torch.bool)


def _dense(mask: torch.Tensor, batch: int, heads: int, length: int) -> torch.Tensor:
    if mask.dtype != torch.bool:
        raise MaskError(
            f"to_hf_mask takes a MaskRule or a bool mask (True = may attend); got {mask.dtype}. "
            "For a 0/1 mask pass mask.bool(); check a ready additive mask with "
            "check_attention_mask(model, input_ids, mask) and give it to the model as is."
        )
    if mask.ndim == 2:
        mask = mask[None, None]
    if mask.ndim != 4:
        raise MaskError(
            f"to_hf_mask takes a [Q, K] or [1|B, 1|H, Q, K] mask; got {tuple(mask.shape)}. "
            "For [B, Q, K] pass mask[:, None]."
        )
    b, h, q, k = mask.shape
    if (q, k) != (length, length):
        raise MaskError(f"mask covers {q} queries x {k} keys but the input has {length} tokens.")
    if b not in (1, batch) or h not in (1, heads):
        raise MaskError(
            f"mask [{b}, {h}, {q}, {k}] cannot broadcast over batch={batch} and "
            f"heads={heads}: its first dim must be 1 or {batch}, its second 1 or {heads}."
        )
    return mask


def to_hf_mask(
    mask: MaskRule | torch.Tensor,
    model,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    *,
    on_empty_row: str = "keep_self",
    causal: bool | None = None,
) -> torch.Tensor:
    """The 4-D mask that makes ``model`` attend exactly where ``mask`` is True.

    Combined with the padding mask (and with a causal mask when the model is causal: a 4-D
    mask replaces the model's own), expanded over the batch, in the model's dtype and device.

    Args:
        mask: A :class:`MaskRule` or a bool mask (True = may attend) ``[Q, K]`` or
            ``[1|B, 1|H, Q, K]``; size-1 dims broadcast.
        model: A transformers model whose ``config._attn_implementation`` is eager or sdpa.
        input_ids: ``[B, L]``, gives the batch size and length.
        attention_mask: Optional ``[B, L]`` padding mask, 1/True = real token.
        on_empty_row: What to do with queries left with no key (see
            :func:`~dynmask_viz.attention_masks.fix_empty_rows`): ``"keep_self"`` (default;
            attend to itself, with an :class:`EmptyRowWarning`), ``"uniform"`` or ``"raise"``.
        causal: Also apply a causal mask; default: whether the model is causal.

    Returns:
        ``[B, 1|H, L, L]``: additive ``finfo(model.dtype).min`` float for eager; bool for sdpa
        (additive too when ``"uniform"`` rows exist, so sdpa averages them like eager).
    """
    impl = attn_implementation(model)
    if impl not in SUPPORTED_IMPLEMENTATIONS:
        raise MaskError(
            f"to_hf_mask supports attn_implementation {SUPPORTED_IMPLEMENTATIONS}; the model "
            f"uses {impl!r}. Load it with attn_implementation='eager' (needed for attentions)."
        )
    batch, length, pad = _inputs(input_ids, attention_mask)
    heads, device = model.config.num_attention_heads, model.device
    if isinstance(mask, MaskRule):
        allowed = mask.dense(batch, heads if mask.per_head else 1, length, length, device=device)
    elif isinstance(mask, torch.Tensor):
        allowed = _dense(mask, batch, heads, length).to(device)
    else:
        raise TypeError(f"to_hf_mask takes a MaskRule or a bool tensor; got {type(mask).__name__}.")
    if pad is not None:
        allowed = allowed & pad.to(device)[:, None, None, :]
    if is_causal_model(model) if causal is None else causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=device).tril()
    allowed, empty = fix_empty_rows(allowed.expand(batch, -1, -1, -1), on_empty_row)
    if on_empty_row == "keep_self" and bool(empty.any()):
        warnings.warn(
            f"{int(empty.sum())} query row(s) could attend to nothing; they now attend to "
            "themselves (on_empty_row='keep_self').",
            EmptyRowWarning,
            stacklevel=2,
        )
    if impl == "sdpa" and not bool(empty.any() and on_empty_row == "uniform"):
        return allowed
    return to_additive(allowed, model.dtype)
