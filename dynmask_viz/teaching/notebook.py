"""First cell of every notebook: seeds, device, FAST mode, plot style and a version banner.

Usage (the first code cell of each ``notebooks/NN_topic.ipynb``)::

    from dynmask_viz.teaching import setup_notebook
    ctx = setup_notebook()

:func:`setup_notebook` is the *only* place that seeds the global RNGs (``random``, NumPy,
``torch``), as a convenience for ad-hoc cells. Library code never relies on global RNG state;
it takes explicit seeds / ``torch.Generator`` objects. Hub behaviour (``HF_HUB_OFFLINE`` etc.)
is deliberately left untouched.
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass, field
from importlib import metadata
from typing import TypeVar

import numpy as np
import torch

from .._device import pick_device
from ..plots import apply_style

__all__ = ["NotebookContext", "fast_from_env", "setup_notebook"]

T = TypeVar("T")

_TRUTHY = {"1", "true", "yes"}


@dataclass(frozen=True)
class NotebookContext:
    """What :func:`setup_notebook` decided, for the rest of the notebook to use.

    Attributes:
        seed: Seed given to ``random``, NumPy and torch.
        fast: Whether FAST mode (small sizes, for CI and quick previews) is on.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda"``.
        versions: Package name -> version string (dynmask-viz, python, torch, transformers).
    """

    seed: int
    fast: bool
    device: str
    versions: dict = field(default_factory=dict, hash=False)

    def scale(self, full: T, fast: T) -> T:
        """Pick a size for the current mode.

        Args:
            full: Value used normally (e.g. ``2000`` training steps).
            fast: Value used in FAST mode (e.g. ``20``).

        Returns:
            ``fast`` when FAST mode is on, else ``full``.
        """
        return fast if self.fast else full


def fast_from_env() -> bool:
    """Return True when the ``DYNMASK_FAST`` env var is ``1``/``true``/``yes`` (any case)."""
    return os.environ.get("DYNMASK_FAST", "").strip().lower() in _TRUTHY


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _inline_figures() -> None:
    """In a Jupyter kernel, display ``Figure`` objects as images.

    The package's plot functions build figures without pyplot (so they never pop up or leak);
    without the inline formatter a returned Figure would print as ``<Figure size ...>`` text.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to display into
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")


def setup_notebook(
    seed: int = 0, fast: bool | None = None, *, device: str | None = None, style: bool = True
) -> NotebookContext:
    """Prepare a notebook session; call it in the first code cell.

    Args:
        seed: Seed for python ``random``, NumPy and ``torch.manual_seed``.
        fast: Force FAST mode on/off; ``None`` reads the ``DYNMASK_FAST`` env var.
        device: Torch device to use; ``None`` picks ``cuda`` when available, else ``cpu``.
        style: Apply the matplotlib style (see :func:`apply_style`).

    Returns:
        The frozen :class:`NotebookContext` (use ``ctx.scale(full, fast)`` for sizes).

    Raises:
        RuntimeError: A CUDA device was requested but CUDA is not available.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    fast = fast_from_env() if fast is None else bool(fast)
    dev = str(pick_device(device))
    if style:
        apply_style()
    _inline_figures()
    versions = {
        "dynmask-viz": _version("dynmask-viz"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
    }
    dev_desc = dev
    if torch.device(dev).type == "cuda":
        dev_desc += f" ({torch.cuda.get_device_name(torch.device(dev))})"
    print(" | ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"device {dev_desc} | FAST {'on' if fast else 'off'} | seed {seed}")
    return NotebookContext(seed=seed, fast=fast, device=dev, versions=versions)
