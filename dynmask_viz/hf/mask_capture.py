"""Read back the 4-D attention mask a Hugging Face model builds for itself from a 2-D mask.

Given ``attention_mask=`` ``[B, L]`` (1 = real token), a transformers 5 model builds the mask
its attention layers add to the scores (padding, and causality for a decoder) inside its
forward pass. :func:`model_attention_mask` runs one forward pass and catches that mask where
the first layer receives it, so a chapter can show what the model *really* got instead of
what the documentation says it should get.

Boolean convention of :func:`allowed_from_additive`: True = *the query may attend to the key*.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..attention_masks import is_blocked
from .masks import attn_implementation

__all__ = ["allowed_from_additive", "captured_attention_masks", "model_attention_mask"]


def _takes_attention_mask(module) -> bool:
    try:
        return "attention_mask" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # a builtin forward without a signature
        return False


@contextmanager
def captured_attention_masks(model) -> Iterator[list[torch.Tensor]]:
    """Collect the 4-D ``attention_mask`` tensors the modules inside ``model`` receive.

    Every submodule whose ``forward`` takes ``attention_mask`` (layers, blocks, attention
    modules) gets a forward pre-hook while the ``with`` block runs; the model itself is not
    hooked, since it receives the 2-D padding mask. Each 4-D mask seen is appended, detached
    and cloned, as the module got it (additive for eager: 0 = attend, ``finfo.min`` =
    blocked), in call order: clear the list between forward passes and read element 0 for the
    mask the first layer received. Hooks are removed on exit, also on an error.

    Yields:
        The list the masks are appended to, ``[B, 1|H, Q, K]`` each.
    """
    seen: list[torch.Tensor] = []

    def catch(module, args, kwargs):
        try:
            bound = inspect.signature(module.forward).bind_partial(*args, **kwargs)
        except TypeError:
            return
        mask = bound.arguments.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.ndim == 4:
            seen.append(mask.detach().clone())

    hooks = [
        m.register_forward_pre_hook(catch, with_kwargs=True)
        for m in model.modules()
        if m is not model and _takes_attention_mask(m)
    ]
    try:
        yield seen
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def model_attention_mask(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, **forward_kwargs):
    """The first 4-D ``attention_mask`` a module inside ``model`` receives in one forward pass.

    The model itself receives the 2-D mask given here, its layers the 4-D one it built
    (read with :func:`captured_attention_masks`), returned as the first layer got it
    (additive for eager: 0 = attend, ``finfo.min`` = blocked).

    Args:
        model: A transformers model (eager attention, so the mask is materialised).
        input_ids: ``[B, L]`` token ids.
        attention_mask: ``[B, L]`` 2-D padding mask, 1 = real token.
        **forward_kwargs: More forward arguments, e.g. ``position_ids``.

    Returns:
        ``[B, 1, Q, K]`` (the model's own shape; transformers 5 expands the padding over the
        queries), or None when the model built no mask (no padding, and a kernel that needs
        none).

    Raises:
        TypeError: ``model`` is not a transformers model.
    """
    attn_implementation(model)  # a clear TypeError for anything that is not a model
    with captured_attention_masks(model) as seen:
        extra = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
        model(input_ids=input_ids, attention_mask=attention_mask, **extra, **forward_kwargs)
    return seen[0] if seen else None


def allowed_from_additive(mask: torch.Tensor) -> torch.Tensor:
    """A captured mask as bool, True = may attend (bool masks are returned as they are).

    Args:
        mask: ``[B, 1|H, Q, K]`` additive (0 / ``finfo.min``) or bool mask.
    """
    if mask.dtype == torch.bool:
        return mask
    return ~is_blocked(mask)
