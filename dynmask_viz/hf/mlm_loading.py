"""Load a masked-LM (a model that fills in ``[MASK]``) and its tokenizer.

The project commits two small BERT masked-LMs, pretrained on the offline Wikipedia articles
with static (BERT) and dynamic (RoBERTa) masking and the same in everything else
(:mod:`dynmask_viz.experiments.fill_mask_models`); ``load_mlm("static")`` and
``load_mlm("dynamic")`` load them offline. A local folder or a Hub name
(``"bert-base-uncased"``, ``"roberta-base"``) works too where it is cached or online.
"""

from __future__ import annotations

import os
from pathlib import Path

from .loading import ModelUnavailableError, _from_pretrained

__all__ = ["MLM_DIRS", "load_mlm"]

_MODELS = Path(__file__).resolve().parents[2] / "data" / "models"
# The committed models, by the masking they were pretrained with. They ship with the repository
# (data/ is not in the wheel), found relative to this package.
MLM_DIRS = {"static": _MODELS / "mlm_static", "dynamic": _MODELS / "mlm_dynamic"}
_DEFAULT = "load_mlm('static') or load_mlm('dynamic') (the models committed under data/models/mlm_*)"


def _resolve(name_or_path: str | os.PathLike) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a Hub name)."""
    if isinstance(name_or_path, str) and name_or_path in MLM_DIRS:
        folder = MLM_DIRS[name_or_path]
        if not (folder / "model.safetensors").is_file():
            raise ModelUnavailableError(
                f"The committed {name_or_path} masked-LM is not at {folder}: it ships with the "
                "repository's data/ folder, not with an installed wheel. Use a clone of the "
                "repository installed with `pip install -e .`, or rebuild it there with `python -m "
                f"dynmask_viz.experiments pretrain-model --condition {name_or_path} --out {folder}` "
                "(about a minute on a GPU), or pass a model folder or Hub name."
            )
        return str(folder), False
    local = Path(name_or_path).expanduser()
    return (str(local), False) if local.is_dir() else (str(name_or_path), True)


def load_mlm(name_or_path: str | os.PathLike = "dynamic", *, attn_implementation: str = "eager", device=None):
    """Load a masked language model and its tokenizer, in eval mode, float32.

    Args:
        name_or_path: ``"static"`` or ``"dynamic"`` (the committed models, offline), a local
            model folder, or a Hub name (``"bert-base-uncased"``, ``"roberta-base"``) when it is
            in the local Hugging Face cache or online.
        attn_implementation: ``"eager"`` by default, so ``output_attentions=True`` returns the
            weights (SDPA returns none).
        device: Optional device to move the model to.

    Returns:
        ``(model, tokenizer)``: an ``AutoModelForMaskedLM`` (float32 even where the weights are
        stored in fp16) and its fast tokenizer, which has a mask token.

    Raises:
        TypeError: ``name_or_path`` is not a str or path.
        ModelUnavailableError: A committed model is missing (the message says how to rebuild
            it), or a Hub name cannot be loaded offline (the message names the offline models).
        ValueError: The tokenizer has no mask token (not a masked-LM's tokenizer).
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"name_or_path must be 'static', 'dynamic', a model folder or a Hub name; got "
            f"{type(name_or_path).__name__} {name_or_path!r}."
        )
    common = {"offline_default": _DEFAULT, "resolve": _resolve}
    tokenizer = _from_pretrained(AutoTokenizer, name_or_path, **common)
    if tokenizer.mask_token is None:
        raise ValueError(
            f"{name_or_path!r}'s tokenizer has no mask token: it is not a masked-LM's tokenizer."
        )
    model = _from_pretrained(
        AutoModelForMaskedLM,
        name_or_path,
        use_safetensors=True,
        attn_implementation=attn_implementation,
        dtype=torch.float32,
        **common,
    )
    return (model if device is None else model.to(device)).eval(), tokenizer
