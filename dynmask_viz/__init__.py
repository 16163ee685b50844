"""dynmask-viz: see, measure and use masking in Transformers.

Two meanings of "masking", taught side by side:

* MLM input masking, static vs dynamic (RoBERTa section 4.1): :mod:`dynmask_viz.masking`.
* Attention masks (which key each query may attend to): :mod:`dynmask_viz.attention_masks`.

Boolean mask convention used everywhere in this package: ``True`` means *may attend*
(attention masks) or *is selected for MLM prediction* (MLM masks). Additive masks use
``torch.finfo(dtype).min`` for blocked positions.

Layers, lowest first (a module imports only from layers below it; ``tests/test_layers.py``
enforces it): ``_hashing``/``_device`` -> ``masking``, ``attention_masks`` -> ``formulas`` ->
``assets`` -> ``hf`` -> ``analysis`` -> ``experiments`` -> ``plots`` -> ``widgets`` ->
``teaching``. See the README's Layout section.

The notebooks' import surface: every public name of the layers in :data:`LAYERS` (all but the
experiments ``experiments``, ``mask_finetuning`` and ``causal_lm``, each imported by its full
name, e.g. ``dynmask_viz.experiments``) is also reachable here,
``from dynmask_viz import setup_notebook, load_model, extract_attention, plot_mask_effect``,
imported on first use (``import dynmask_viz`` itself loads nothing heavy). Each name has one
home, its layer; :func:`surface` says which.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

__version__ = "0.1.0"

# The layers whose public names (their ``__all__``) the root resolves, in lookup order.
LAYERS = (
    "teaching",
    "hf",
    "analysis",
    "plots",
    "widgets",
    "masking",
    "attention_masks",
    "formulas",
    "assets",
)


@functools.cache
def surface() -> dict[str, str]:
    """Public name -> the layer that is its home, read from each layer's ``__all__``.

    The ``__all__`` lists are read from the source (no layer is imported), so
    ``import dynmask_viz`` stays instant and the names cannot drift from the layers.
    """
    homes: dict[str, str] = {}
    root = Path(__file__).parent
    for layer in LAYERS:
        path = root / layer / "__init__.py" if (root / layer).is_dir() else root / f"{layer}.py"
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__all__" for t in node.targets
            ):
                for name in ast.literal_eval(node.value):
                    homes.setdefault(name, layer)
    return homes


def __getattr__(name: str):
    layer = surface().get(name)
    if layer is None:
        raise AttributeError(f"module 'dynmask_viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{layer}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *surface()])
