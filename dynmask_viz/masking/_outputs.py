"""What ``MLMCollator`` returns: extra feature keys passed on, a ``BatchEncoding`` of tensors.

Hugging Face's collator pads features with ``tokenizer.pad``, which turns every key it does
not pad into a tensor of the batch (``next_sentence_label`` becomes ``[B]``), and returns a
``BatchEncoding``. Dropping such a key is silent and costly: ``BertForPreTraining`` without
``next_sentence_label`` returns ``loss=None``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

RETURN_TENSORS = ("pt", "np")


def check_return_tensors(value, where: str = "return_tensors") -> str:
    """``"pt"`` or ``"np"``, refused otherwise (``"tf"``: transformers 5 has no TensorFlow)."""
    if not isinstance(value, str) or value not in RETURN_TENSORS:
        raise ValueError(f"{where} must be 'pt' (torch tensors) or 'np' (numpy arrays); got {value!r}.")
    return value


def stack_column(key: str, values: list, return_tensors: str = "pt") -> torch.Tensor:
    """One tensor for a per-example key the collator does not pad (``[B]`` for scalars).

    Dtypes as Hugging Face's ``BatchEncoding`` gives them: Python floats become float32 for
    ``"pt"`` (torch's default) and float64 for ``"np"`` (numpy's); arrays keep their dtype.

    Raises:
        ValueError: If the values do not stack into one tensor (ragged lists, strings), with
            what to do about the column.
    """
    try:
        if all(isinstance(v, torch.Tensor) for v in values):
            return torch.stack(values)
        if all(isinstance(v, np.ndarray) for v in values):
            return torch.from_numpy(np.stack(values))
        if return_tensors == "np":
            return torch.from_numpy(np.asarray(values))
        return torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError):
        shown = repr(values[:2])[:80]
        raise ValueError(
            f"Feature key {key!r} does not stack into one tensor (values such as {shown}): "
            "MLMCollator pads only input_ids, attention_mask, token_type_ids, "
            "special_tokens_mask, offset_mapping and word_ids, and stacks every other key as "
            "Hugging Face's collator does. Remove the column (the Trainer does unless "
            "remove_unused_columns=False), or give it one value (or equal-length list) per example."
        ) from None


def batch_encoding(columns: Mapping[str, torch.Tensor], return_tensors: str):
    """A ``transformers.BatchEncoding`` of the columns, as torch tensors or numpy arrays."""
    # Imported here: the masking layer itself does not need transformers to be importable,
    # and after the first call this is a dictionary lookup.
    from transformers import BatchEncoding

    if return_tensors == "np":
        columns = {key: value.numpy() for key, value in columns.items()}
    return BatchEncoding(dict(columns))
