"""The one device picker: what ``"auto"`` means, and a clear error for a missing CUDA."""

from __future__ import annotations

import torch

__all__ = ["pick_device"]


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
