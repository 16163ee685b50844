"""Argument checks shared by ``mask_batch``, the schedules and the collator: refuse, never guess.

Each check either returns the value unchanged (so valid inputs give bit-identical masks) or
raises a ``TypeError`` / ``ValueError`` that names the parameter, says what was expected and
how to fix it. Nothing is truncated, reshaped or clamped: a float id, an epoch past the hash's
range or a ``[2, 2]`` id tensor would otherwise silently give some *other* example's mask.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

# Keys mix ids and mask epochs modulo 2**32 (see ``_hashing.example_stream_keys``): an id or an
# epoch of 2**32 + e would silently reuse the mask of e, so both are refused from 2**32 on.
KEY_LIMIT = 1 << 32


def is_int(value) -> bool:
    """True for Python/numpy integers; False for bools (``True`` is not an id or an epoch)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_token_ids(input_ids) -> None:
    """``input_ids`` must be a 2-D integer tensor ``[B, L]`` (``B`` or ``L`` may be 0)."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        got = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(
            f"input_ids must be a 2-D tensor (batch, seq_len); got {got}. "
            "For one sequence use input_ids[None] or MLMCollator for lists of features."
        )
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}.")


def check_seed(seed) -> int:
    """``seed`` must be an int (any value: it is reduced to 64 bits)."""
    if not is_int(seed):
        raise TypeError(f"seed must be an int (any value, e.g. 0); got {seed!r}.")
    return int(seed)  # a numpy int would overflow in the 64-bit reduction of the seed key


def _as_int_tensor(name: str, value, device, meaning: str) -> torch.Tensor:
    """``value`` as an integer tensor, refusing floats, bools and anything torch cannot read."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value) if isinstance(value, (list, tuple)) else value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be {meaning}; got {type(value).__name__}.") from None
    dtype = value.dtype
    if dtype == torch.bool or dtype.is_floating_point or dtype.is_complex:
        raise TypeError(
            f"{name} must be {meaning}; got dtype {dtype}. Non-integer values are refused "
            "rather than truncated (1.9 would silently mean 1)."
        )
    return value.to(device=device)


def _check_range(name: str, values: torch.Tensor, meaning: str) -> None:
    if values.numel() == 0:
        return
    low, high = torch.aminmax(values.to(torch.int64))
    if int(low) < 0 or int(high) >= KEY_LIMIT:
        raise ValueError(
            f"{name} must be {meaning} in [0, 2**32); got values in [{int(low)}, {int(high)}]. "
            "Ids and epochs are hashed modulo 2**32, so larger values would reuse other masks."
        )


def check_example_ids(example_ids, batch: int, device) -> torch.Tensor:
    """``[B]`` int64 ids in ``[0, 2**32)``, one per row; anything else is refused.

    Args:
        example_ids: A ``[B]`` integer tensor, array or list.
        batch: ``B``, the number of rows of ``input_ids``.
        device: Where the ids go (the input's device).
    """
    meaning = "integers (e.g. dataset indices), one per row: shape [batch]"
    ids = _as_int_tensor("example_ids", example_ids, device, meaning)
    if ids.dim() != 1 or ids.numel() != batch:
        raise ValueError(
            f"example_ids must have one id per row ({batch}), shape [{batch}]; got shape "
            f"{tuple(ids.shape)}. Ids are not reshaped: pass a 1-D tensor of {batch} ids."
        )
    _check_range("example_ids", ids, "integers")
    return ids.to(torch.int64)


def check_epoch(name: str, epoch, batch: int | None = None):
    """An epoch (or ``[B]`` epochs): an int or an integer tensor, values in ``[0, 2**32)``.

    Args:
        name: The parameter's name, for messages (``"mask_epoch"``, ``"epoch"``).
        epoch: Python/numpy int, or integer tensor of shape ``[]`` or ``[B]``.
        batch: ``B`` when known, to check a ``[B]`` tensor's length.

    Returns:
        ``epoch`` unchanged (an int stays an int, a tensor stays the same tensor).
    """
    meaning = "an int or an integer tensor of shape [] or [batch]"
    if is_int(epoch):
        if not 0 <= epoch < KEY_LIMIT:
            raise ValueError(
                f"{name} must be an int in [0, 2**32); got {epoch}. Epochs are hashed modulo "
                "2**32: outside this range one would silently reuse another epoch's mask."
            )
        return epoch
    if not isinstance(epoch, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"{name} must be {meaning} with values in [0, 2**32); got {epoch!r}. Non-integer "
            "epochs are refused rather than truncated (1.9 would silently mean 1)."
        )
    tensor = _as_int_tensor(name, epoch, None, meaning)
    if tensor.dim() > 1 or (batch is not None and tensor.dim() == 1 and tensor.numel() != batch):
        expected = "[] or [batch]" if batch is None else f"[] or [{batch}]"
        raise ValueError(f"{name} must have shape {expected}; got {tuple(tensor.shape)}.")
    _check_range(name, tensor, "integers")
    return epoch


def check_count(name: str, value, minimum: int) -> int:
    """An int ``>= minimum`` (epochs, distinct masks): bools and floats are refused."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def check_probability(name: str, value) -> float:
    """A real number in ``[0, 1]`` (bools, strings and NaN are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}.")
    return float(value)
