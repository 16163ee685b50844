"""Hugging Face's collator arguments turned into the project's masking, refused when ambiguous."""

from __future__ import annotations

from .config import MaskingConfig
from .schedules import DynamicMasking, StaticMasking

_HF_MASKING_ARGS = ("mlm_probability", "mask_replace_prob", "random_replace_prob")


def hf_masking_args(mlm_probability, mask_replace_prob, random_replace_prob, whole_word_mask) -> dict:
    """The ``MaskingConfig`` fields given under Hugging Face's argument names (None: not given)."""
    values = (mlm_probability, mask_replace_prob, random_replace_prob)
    args = {name: value for name, value in zip(_HF_MASKING_ARGS, values) if value is not None}
    if whole_word_mask:
        args["unit"] = "word"
    return args


def refuse_masking_for_causal_lm(masking, config, hf_args: dict, return_mask_info: bool) -> None:
    """``mlm=False`` masks nothing: a masking argument with it is a mistake, not ignored."""
    given = [name for name, value in (("masking", masking), ("config", config)) if value is not None]
    given += ["whole_word_mask" if name == "unit" else name for name in sorted(hf_args)]
    given += ["return_mask_info"] if return_mask_info else []
    if given:
        raise ValueError(
            f"mlm=False (causal LM) masks nothing, so it takes no masking arguments; got {given}."
        )


def masking_from_arguments(masking, config, seed, hf_args: dict):
    """The ``DynamicMasking``/``StaticMasking`` an ``MLMCollator`` uses.

    Args:
        masking: A ``DynamicMasking``/``StaticMasking`` or None.
        config: A ``MaskingConfig`` or None (not both with ``masking``).
        seed: The collator's ``seed`` argument (None: the masking's, or 0).
        hf_args: ``MaskingConfig`` fields given under Hugging Face's names
            (``mlm_probability``..., ``unit="word"`` for ``whole_word_mask=True``).

    Raises:
        ValueError: When two arguments describe the masking (which one would win is a guess).
        TypeError: When ``masking`` is not a masking.
    """
    if masking is not None and config is not None:
        raise ValueError("Pass either masking=... or config=..., not both (the masking holds its config).")
    if masking is not None and not isinstance(masking, (DynamicMasking, StaticMasking)):
        raise TypeError(
            f"masking must be a DynamicMasking or StaticMasking (or None); got {type(masking).__name__}."
        )
    if hf_args and (masking is not None or config is not None):
        names = ", ".join(f"{k}=..." if k != "unit" else "whole_word_mask=True" for k in hf_args)
        raise ValueError(
            f"{names} and masking/config both describe the masking: give the values in the "
            "MaskingConfig (MaskingConfig(mlm_probability=..., unit='word', ...)) instead."
        )
    if masking is not None:
        if seed is not None and seed != masking.seed:
            raise ValueError(
                f"seed={seed!r} differs from the masking's seed {masking.seed}: the masking "
                "holds its seed; leave seed out or build the masking with it."
            )
        return masking
    config = MaskingConfig(**hf_args) if config is None else config
    return DynamicMasking(config, 0 if seed is None else seed)
