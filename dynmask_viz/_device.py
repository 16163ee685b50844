"""The one device picker: what ``"auto"`` means, a clear error for a missing CUDA, and the
precision a device trains in (:func:`pick_precision`)."""

from __future__ import annotations

import torch

__all__ = ["PRECISIONS", "autocast", "backward_and_step", "grad_scaler", "pick_device", "pick_precision"]


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device to use.

    Args:
        device: ``"auto"`` or None (CUDA if available, else CPU), or any torch device
            string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.

    Raises:
        RuntimeError: A CUDA device was requested but CUDA is not available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={str(device)!r} was requested but CUDA is not available.")
    return dev


# The precision a run really uses (recorded with its results): bf16 autocast on GPUs with fast
# bf16 (compute capability >= 8: Ampere, Hopper...), fp16 autocast with a gradient scaler on
# older ones (T4, V100: bf16 there is emulated and slow), fp32 elsewhere.
PRECISIONS = ("bf16", "fp16+GradScaler", "fp32")


def pick_precision(device: str | torch.device, wanted_mixed: bool) -> str:
    """The precision to train and evaluate in: one of :data:`PRECISIONS`.

    Args:
        device: The torch device the run uses (after :func:`pick_device`).
        wanted_mixed: Whether mixed precision is asked for (``ExperimentConfig.bf16``: "mixed
            precision on CUDA"). It is used on CUDA only.

    Returns:
        ``"fp32"`` if mixed precision is not wanted or the device is not CUDA; ``"bf16"`` on a
        GPU of compute capability >= 8 (or ROCm); ``"fp16+GradScaler"`` on an older GPU.
        The capability of ``device`` itself is read (``torch.cuda.is_bf16_supported`` reads
        the *current* device's), so a mixed machine picks per GPU.
    """
    device = torch.device(device)
    if not wanted_mixed or device.type != "cuda":
        return "fp32"
    if getattr(torch.version, "hip", None):  # ROCm GPUs torch supports all have bf16
        return "bf16"
    major, _minor = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16+GradScaler"


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} (see pick_precision); got {precision!r}.")


def autocast(device: str | torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (disabled for ``"fp32"``)."""
    _check_precision(precision)
    device = torch.device(device)
    dtype = torch.float16 if precision == "fp16+GradScaler" else torch.bfloat16
    return torch.autocast(device.type, dtype, enabled=precision != "fp32")


def grad_scaler(device: str | torch.device, precision: str):
    """A fresh ``torch.amp.GradScaler`` for ``"fp16+GradScaler"``, else None (bf16 and fp32
    gradients do not underflow the way fp16 ones do)."""
    _check_precision(precision)
    if precision != "fp16+GradScaler":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def backward_and_step(loss: torch.Tensor, optimizer, parameters, max_norm: float, scaler=None) -> None:
    """Backward pass, gradient clipping and optimizer step, with or without a gradient scaler.

    Args:
        loss: Scalar loss to minimise.
        optimizer: The optimizer holding ``parameters``.
        parameters: The parameters whose gradient norm is clipped to ``max_norm``.
        max_norm: Largest total gradient norm (``clip_grad_norm_``).
        scaler: A ``GradScaler`` (fp16, :func:`grad_scaler`) or None. With one, the loss is
            scaled before backward so small fp16 gradients do not underflow, the gradients
            are unscaled before clipping (the norm is the true one), and the step is skipped
            (the scale lowered) when a gradient is inf or nan.
    """
    if scaler is None:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    scaler.step(optimizer)
    scaler.update()
