"""Helpers shared by the rule factories: validating inputs and indexing captured tensors."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .rule import MaskError


def take(data: torch.Tensor, *idx: torch.Tensor) -> torch.Tensor:
    """``data[idx]`` for index tensors, with size-1 dims of ``data`` broadcast.

    Works both with broadcast ``arange`` indices (dense) and with 0-d indices under
    ``torch.vmap`` (``create_mask``): only tensor ops, no Python branching on values.
    """
    dev = idx[0].device
    # A size-1 data dim (e.g. one example shared by the whole batch) is read at index 0.
    picked = tuple(torch.zeros_like(i) if n == 1 else i for i, n in zip(idx, data.shape))
    return data.to(dev)[picked]


def as_int(name: str, value, minimum: int) -> int:
    """Validate a Python integer argument (bools are rejected: ``True`` is not a size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise MaskError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def as_flag(name: str, value) -> bool:
    """Validate a yes/no argument: a bool (numpy's too), never a truthy stand-in like ``"no"``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def as_bool_2d(name: str, value, meaning: str) -> torch.Tensor:
    """Validate a ``[B, L]`` mask given as bool or 0/1 integers; return it as bool.

    Args:
        name: Argument name for messages.
        value: Tensor ``[B, L]`` (a 1-D ``[L]`` tensor is read as one example).
        meaning: What True means, for messages (e.g. "1/True = real token").
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [batch, seq_len] ({meaning}).")
    if value.ndim == 1:
        value = value.unsqueeze(0)
    if value.ndim != 2:
        raise MaskError(f"{name} must be [batch, seq_len] ({meaning}); got shape {tuple(value.shape)}.")
    if value.dtype != torch.bool:
        if value.is_floating_point() or value.is_complex():
            raise MaskError(f"{name} must be bool or 0/1 integers ({meaning}); got {value.dtype}.")
        if not bool(((value == 0) | (value == 1)).all()):
            raise MaskError(f"{name} must contain only 0/1 ({meaning}); found other values.")
        value = value.to(torch.bool)
    return value


def as_int_tensor(name: str, value, ndim: int, meaning: str) -> torch.Tensor:
    """Validate an integer tensor (or nested list) with ``ndim`` dims; return int64."""
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):  # strings, ragged lists, objects
        raise TypeError(
            f"{name} must be integers ({meaning}): a tensor or (nested) list; got {value!r}."
        ) from None
    if not isinstance(value, torch.Tensor) and tensor.numel() == 0:
        tensor = tensor.to(torch.int64)  # an empty list is float32 by default, but means "none"
    if tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex():
        raise MaskError(f"{name} must hold integers ({meaning}); got {tensor.dtype}.")
    if tensor.ndim != ndim:
        raise MaskError(f"{name} must have {ndim} dim(s) ({meaning}); got {tuple(tensor.shape)}.")
    return tensor.to(torch.int64)


def batch_sizes(source: str, data: torch.Tensor, dims: tuple[str, ...]) -> tuple:
    """Size constraints ``(dim, size, source)`` for a rule built on ``data``.

    Batch and head dims of size 1 broadcast, so they add no constraint.
    """
    return tuple(
        (dim, int(n), source)
        for dim, n in zip(dims, data.shape)
        if not (dim in ("batch", "heads") and n == 1)
    )
