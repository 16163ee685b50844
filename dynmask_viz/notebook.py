"""First cell of every notebook: seeds, device, FAST mode, plot style and a version banner.

Usage (the first code cell of each ``notebooks/NN_topic.ipynb``)::

    from dynmask_viz.notebook import setup_notebook
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

__all__ = ["NotebookContext", "apply_style", "fast_from_env", "font_families", "register_cjk_font", "setup_notebook"]

T = TypeVar("T")

_TRUTHY = {"1", "true", "yes"}
# CJK-capable fonts tried first (in this order) when installed, so token strings in any script
# render; DejaVu Sans (always shipped with matplotlib) is the fallback for everything else.
CJK_FONTS = ("Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
# fmt: off
_STYLE = {
    "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight", "figure.figsize": (7.0, 4.0),
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.frameon": False,
    "image.cmap": "viridis",
}
# fmt: on


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


def _pick_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but CUDA is not available")
    return str(dev)


def register_cjk_font() -> str | None:
    """Make the offline CJK font (asset ``cjk_font``) known to matplotlib, if it is cached.

    ``make assets`` fetches it; nothing is downloaded here. Returns its family name, or None.
    """
    from matplotlib import font_manager

    from .assets import cjk_font_path, is_cached

    if not is_cached("cjk_font"):
        return None
    path = str(cjk_font_path())
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def font_families(available: set[str] | None = None) -> list[str]:
    """Font family list for matplotlib: DejaVu Sans, then installed CJK fonts as fallback.

    matplotlib falls back glyph by glyph along this list, so Latin text keeps DejaVu Sans and
    Chinese, Japanese or Korean characters (in token labels) come from the CJK font instead of
    being drawn as boxes. The offline CJK font (asset ``cjk_font``) is registered first.

    Args:
        available: Installed font family names; default: those matplotlib knows about.

    Returns:
        Only installed names, so matplotlib never warns about a missing family.
    """
    if available is None:
        from matplotlib import font_manager

        register_cjk_font()
        available = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans"] + [name for name in CJK_FONTS if name in available]


def apply_style() -> None:
    """Apply the package's clean, readable matplotlib rcParams."""
    import matplotlib

    families = font_families()
    matplotlib.rcParams.update(_STYLE)
    matplotlib.rcParams["font.family"] = families  # per-glyph fallback along this list
    rest = [f for f in matplotlib.rcParams["font.sans-serif"] if f not in families]
    matplotlib.rcParams["font.sans-serif"] = families + rest


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
    dev = _pick_device(device)
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
