"""Bool masks to additive masks and back: the one conversion the package uses.

Boolean convention: True = *the query may attend to the key*. An additive mask holds 0 where
the query may attend and ``torch.finfo(dtype).min`` where it may not; it is *added* to the
scaled scores before the softmax (as Hugging Face eager attention does).

Half precision: ``finfo(float16).min`` is -65504, and adding a score below -16 to it
overflows to ``-inf``; a row in which every key is blocked that way is NaN after the softmax.
Code that owns the addition replaces blocked scores instead of adding to them
(:func:`dynmask_viz.formulas.attention_steps`); a mask handed to a model keeps one finite
key in every row (:func:`dynmask_viz.hf.to_hf_mask`).
"""

from __future__ import annotations

import torch

from .rule import MaskError

__all__ = ["BLOCKED_BELOW", "is_blocked", "to_additive"]

# An additive value <= this leaves a softmax weight of at most e**-10000, i.e. exactly 0 in
# every float dtype: such a key counts as blocked (finfo.min of fp16 is -65504, so it is
# below this in every dtype, and so is -inf).
BLOCKED_BELOW = -1e4


def to_additive(mask_bool: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Bool mask (True = may attend) to additive: 0 where True, ``finfo(dtype).min`` where False.

    Args:
        mask_bool: bool, e.g. ``[B, 1|H, Q, K]``.
        dtype: Float dtype of the scores (the model's dtype).

    Returns:
        Tensor of ``mask_bool``'s shape and device in ``dtype``.

    Raises:
        MaskError: ``mask_bool`` is not a bool tensor, or ``dtype`` is not a float dtype.
    """
    if not isinstance(mask_bool, torch.Tensor) or mask_bool.dtype != torch.bool:
        raise MaskError(
            "to_additive expects a bool mask (True = may attend); got "
            f"{getattr(mask_bool, 'dtype', type(mask_bool).__name__)}. For a 0/1 mask pass "
            "mask.bool(); a float mask that is already additive needs no conversion."
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise MaskError(f"to_additive needs a float dtype (a torch.dtype: the model's); got {dtype!r}.")
    zero = torch.zeros((), dtype=dtype, device=mask_bool.device)
    return torch.where(mask_bool, zero, torch.finfo(dtype).min)


def is_blocked(additive):
    """True where an additive mask (tensor or numpy array) blocks the key (``<= BLOCKED_BELOW``).

    ``-inf`` and ``finfo(dtype).min`` of every float dtype count as blocked; NaN does not.
    """
    return additive <= BLOCKED_BELOW
