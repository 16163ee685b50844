"""Turning a list of features into padded columns, for :class:`MLMCollator`: refuse, never guess.

Every feature must have the same keys, every per-token key one value per token (row by row,
not just in total) and example ids must be integers: a mismatch is an error that names the
feature and the key, never a silent misalignment or truncation.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np
import torch

# Feature keys with one value per token, padded like input_ids.
PADDED = ("attention_mask", "token_type_ids", "special_tokens_mask", "offset_mapping", "word_ids")


def columns_from_features(features, id_key: str) -> dict[str, list]:
    """The column lists of a collator's input: dicts with ``input_ids``, or id sequences.

    Raises:
        TypeError: ``features`` is not a list of features.
        ValueError: It is empty (there is nothing to pad), or the dicts' keys differ.
    """
    if isinstance(features, (str, bytes, Mapping)) or not isinstance(features, Sequence):
        raise TypeError(
            "MLMCollator expects a list of features (dicts with 'input_ids', or id sequences); "
            f"got {type(features).__name__}."
        )
    if len(features) == 0:
        raise ValueError(
            "MLMCollator got an empty list of features: there is no batch to pad (a DataLoader "
            "never yields one; for an empty [0, L] tensor call mask_batch directly)."
        )
    if isinstance(features[0], Mapping):
        return columns_of(features, id_key)
    return {"input_ids": list(features)}


def pad_model_inputs(columns: dict, where: np.ndarray, pad_id: int, pad_type: int) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` (made from ``where`` if absent) and ``token_type_ids``
    (if present), each padded to ``[B, L]`` int64 where ``where`` is False."""
    batch = {"input_ids": pad("input_ids", columns["input_ids"], pad_id, where)}
    if "attention_mask" in columns:
        batch["attention_mask"] = pad(
            "attention_mask", columns["attention_mask"], 0, where, constant=1, binary=True
        )
    else:
        batch["attention_mask"] = torch.from_numpy(where).to(torch.int64)
    if "token_type_ids" in columns:
        batch["token_type_ids"] = pad(
            "token_type_ids", columns["token_type_ids"], pad_type, where, constant=0
        )
    return batch


def columns_of(features: Sequence[Mapping], id_key: str) -> dict[str, list]:
    """Column lists of dict features; every feature must have the same keys (none is guessed)."""
    keys = list(features[0])
    if "input_ids" not in keys:
        raise KeyError(f"Features need an 'input_ids' key; got keys {sorted(keys)}.")
    expected = features[0].keys()
    if all(type(f) is dict and f.keys() == expected for f in features):  # the usual case, fast
        return {key: [f[key] for f in features] for key in keys}
    expected = set(keys)
    for i, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise TypeError(f"Feature {i} is a {type(feature).__name__}, feature 0 a dict: mix neither.")
        if feature.keys() != expected:
            missing, extra = sorted(expected - set(feature)), sorted(set(feature) - expected)
            if id_key in missing or id_key in extra:
                raise ValueError(
                    f"{id_key!r} is on some features but not on others (feature {i} differs from "
                    f"feature 0): give every feature an id, or none (then masks are keyed on the "
                    "token content)."
                )
            raise ValueError(
                f"Feature {i} has different keys from feature 0 (missing {missing}, extra {extra}); "
                "every feature must have the same keys."
            )
    return {key: [f[key] for f in features] for key in keys}


def row_lengths(key: str, rows) -> np.ndarray:
    """``[B]`` lengths of a column's rows (each a sequence, tensor or array)."""
    try:
        return np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    except TypeError:
        bad = next((i for i, row in enumerate(rows) if not hasattr(row, "__len__") or _is_scalar(row)), 0)
        raise TypeError(
            f"Feature {bad}'s {key!r} must be a sequence with one value per token; got "
            f"{type(rows[bad]).__name__}. For a single sequence pass [ids], not ids."
        ) from None


def _is_scalar(row) -> bool:
    return isinstance(row, (torch.Tensor, np.ndarray)) and row.ndim == 0


def check_lengths(key: str, rows, lengths: np.ndarray) -> None:
    """Refuse a column whose rows do not have one value per token of ``input_ids``."""
    got = row_lengths(key, rows)
    bad = np.flatnonzero(got != lengths)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"Feature {i}'s {key!r} has {int(got[i])} values but its input_ids has "
            f"{int(lengths[i])} tokens: every per-token key must have one value per token."
        )


def example_ids_of(key: str, values: list) -> torch.Tensor:
    """``[B]`` int64 example ids from a feature column; non-integers are refused, not truncated."""
    try:  # 0-d tensors (a dataset's torch format) hold one id each
        array = np.asarray([v.item() if isinstance(v, torch.Tensor) else v for v in values])
    except (TypeError, ValueError, RuntimeError):  # ragged or multi-element: not one id each
        array = np.asarray(values, dtype=object)
    flags = any(isinstance(v, (bool, np.bool_)) for v in values)  # numpy reads [0, True] as ints
    if array.ndim != 1 or array.dtype.kind not in "iu" or flags:
        raise TypeError(
            f"Feature key {key!r} must hold one integer id per feature (e.g. the dataset index, "
            f"in [0, 2**32)); got {values[:3]!r}{'...' if len(values) > 3 else ''}."
        )
    return torch.as_tensor(array.astype(np.int64))


def valid_positions(lengths: np.ndarray, length: int, left: bool) -> np.ndarray:
    """``[B, length]`` bool, True where a row's real tokens go after padding."""
    positions = np.arange(length)[None, :]
    if left:
        return positions >= (length - lengths)[:, None]
    return positions < lengths[:, None]


def flatten(key: str, rows, pairs: bool = False) -> np.ndarray:
    """The values of ragged rows, one after the other, as int64; non-integers are refused."""
    first = rows[0]
    if isinstance(first, (torch.Tensor, np.ndarray)):
        arrays = [np.asarray(r).reshape(-1) for r in rows]
        if any(a.dtype.kind not in "iub" for a in arrays):
            raise TypeError(f"{key!r} must hold integers; got {[str(a.dtype) for a in arrays][:3]}.")
        return np.concatenate(arrays).astype(np.int64, copy=False)
    # chain.from_iterable + fromiter is the fastest pure-Python flattening (C iterators), but
    # fromiter(int64) truncates 1.5 to 1 silently. Any check of every value costs another pass
    # over the lists, as long as the flattening itself (measured on 64 x 512 real-text
    # features, benchmarks/bench_masking.py: +0.2 ms on 0.55 ms for input_ids, +0.6 ms on
    # 2.3 ms for offset pairs; the collator's whole budget is ~2.5 ms). So each row's first
    # value (first pair) is checked: Python lists of ids come from a tokenizer or a
    # ``.tolist()``, one type throughout, so a row of floats (e.g. a float tensor's
    # ``tolist()``, JSON numbers read as floats) is refused; numpy/torch rows are checked in
    # full by dtype above. Strings and None anywhere make fromiter raise.
    refusal = f"{key!r} must hold integers, one per token (pairs for offsets)"
    firsts = [row[0] for row in rows if len(row)]
    if pairs:
        firsts = [v for pair in firsts for v in (pair if isinstance(pair, (tuple, list)) else (pair,))]
    bad = [v for v in firsts if type(v) is not int and not isinstance(v, (numbers.Integral, np.bool_))]
    if bad:
        raise TypeError(f"{refusal}; got non-integer values such as {bad[:3]}.")
    flat = chain.from_iterable(rows)
    if pairs:
        flat = chain.from_iterable(flat)
    try:
        return np.fromiter(flat, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):  # strings, None, ragged pairs, ids beyond int64
        raise TypeError(f"{refusal}; got values that are not int64 integers.") from None


def check_binary(key: str, padded: torch.Tensor, where: np.ndarray) -> None:
    """Refuse a padded ``[B, L]`` 0/1 column (``attention_mask``) holding any other value.

    Bools arrive here as 0/1 already; 2, -1 or 7 would otherwise be read as 1 (a real token).
    ``where`` (True at a row's real tokens) turns the padded column into the feature's index.
    """
    bad = (padded != 0) & (padded != 1)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        token = int(where[row, :col].sum())
        raise ValueError(
            f"Feature {row}'s {key!r} holds {int(padded[row, col])} at token {token}; it must "
            "hold only 0/1 integers or True/False (1/True: a real token, 0/False: padding)."
        )


def pad(
    key: str, rows, pad_value: int, where: np.ndarray, constant: int | None = None, binary: bool = False
) -> torch.Tensor:
    """Pad ragged rows into a ``[B, L]`` int64 tensor, real values where ``where`` is True.

    With ``constant``, rows that hold only that value (e.g. an all-ones attention mask) are
    recognised by ``list.count`` without converting them element by element. With ``binary``,
    any value but 0/1 is refused (:func:`check_binary`; the constant path needs no check).
    """
    if constant is not None and all(isinstance(row, list) for row in rows):
        if all(row.count(constant) == len(row) for row in rows):
            return torch.from_numpy(np.where(where, constant, pad_value).astype(np.int64))
    out = np.full(where.shape, pad_value, dtype=np.int64)
    flat = flatten(key, rows)
    if flat.size != int(where.sum()):
        raise ValueError(
            "Feature columns have inconsistent lengths: every key must have one value per token."
        )
    if where.all():
        out = flat.reshape(where.shape)
    else:
        out[where] = flat
    padded = torch.from_numpy(out)
    if binary:
        check_binary(key, padded, where)
    return padded
