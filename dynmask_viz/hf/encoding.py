"""Text to model inputs for :func:`~dynmask_viz.hf.extract_attention`, refusing what would crash.

Checked here, before the forward pass, so the user reads what is wrong and how to fix it
instead of a traceback from inside transformers:

* a text that tokenizes to no token at all (an empty string on a tokenizer that adds no
  special tokens, e.g. GPT-2's): a model cannot run on zero tokens;
* a text longer than the model's positions (602 tokens on MiniLM's 512): refused unless
  ``max_length`` asks for truncation, which then says what it cut.

Left padding (``tokenizer.padding_side = "left"``, the usual setting for decoders) puts the
real tokens at the end of the row: :func:`position_ids` numbers them from 0 as in a single
text (GPT-2 would otherwise number them from the amount of padding).
"""

from __future__ import annotations

import numbers
import warnings

import torch

# Tokenizers without a known limit report a huge sentinel (int(1e30)) as model_max_length.
_NO_LIMIT = 10**9


class TruncationWarning(UserWarning):
    """``max_length`` cut tokens from one or more texts; the result's ``truncated`` says how many."""


def as_texts(text_or_batch) -> list[str]:
    """The texts of ``text_or_batch`` (one string or a non-empty list/tuple of strings)."""
    if isinstance(text_or_batch, str):
        return [text_or_batch]
    if isinstance(text_or_batch, (list, tuple)) and text_or_batch:
        if all(isinstance(t, str) for t in text_or_batch):
            return list(text_or_batch)
    raise TypeError(
        "text_or_batch must be a string or a non-empty list of strings; got "
        f"{type(text_or_batch).__name__}{_describe(text_or_batch)}."
    )


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        if not value:
            return " (empty)"
        types = sorted({type(t).__name__ for t in value})
        return f" of {', '.join(types)}"
    return ""


def position_limit(model, tokenizer) -> tuple[int | None, str]:
    """The longest input the model takes, and where that number comes from.

    The smaller of the model's position table (``max_position_embeddings``, GPT-2's
    ``n_positions``) and the tokenizer's ``model_max_length`` (RoBERTa's table has 514 rows
    but takes 512 tokens: its positions start at 2). ``(None, "")`` when neither is known.
    """
    config = getattr(model, "config", None)
    found = []
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, numbers.Integral) and value > 0:
            found.append((int(value), f"model.config.{name}={value}"))
            break
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, numbers.Integral) and 0 < value < _NO_LIMIT:
        found.append((int(value), f"tokenizer.model_max_length={value}"))
    return min(found) if found else (None, "")


def _check_max_length(max_length, limit: int | None, source: str, min_tokens: int) -> None:
    if max_length is None:
        return
    if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral):
        raise TypeError(f"max_length must be None or an int; got {max_length!r}.")
    if max_length < min_tokens or (limit is not None and max_length > limit):
        upper = f"{limit} ({source})" if limit is not None else "any"
        raise ValueError(
            f"max_length must be between {min_tokens} (the tokenizer's special tokens plus one "
            f"real token) and {upper}; got {max_length}."
        )


def encode(tokenizer, texts: list[str], max_length: int | None, limit: int | None, source: str):
    """Tokenize ``texts`` (padded together), refusing empty and over-long texts.

    Args:
        tokenizer: A transformers tokenizer (called with ``return_tensors="pt"``).
        texts: The texts.
        max_length: None (refuse texts longer than ``limit``) or the number of tokens to
            truncate every text to (special tokens included).
        limit: The model's position limit (:func:`position_limit`), or None.
        source: Where ``limit`` comes from, for messages.

    Returns:
        ``(encoded, truncated)``: the tokenizer's ``BatchEncoding`` and, per text, how many
        tokens ``max_length`` cut (a :class:`TruncationWarning` names them when any).

    Raises:
        ValueError: A text with no token, a text longer than the limit without
            ``max_length``, or a ``max_length`` out of range.
        TypeError: ``tokenizer`` is not callable or ``max_length`` not an int.
    """
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer (dynmask_viz.hf.load_tokenizer()); "
            f"got {type(tokenizer).__name__}."
        )
    special = tokenizer.num_special_tokens_to_add(pair=False)
    _check_max_length(max_length, limit, source, special + 1)
    if len(texts) > 1 and tokenizer.pad_token is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has no pad token, so a batch of texts (text_or_batch) "
            "cannot be padded. Set one (e.g. tokenizer.pad_token = tokenizer.eos_token) or pass "
            "one text at a time."
        )
    # verbose=False: the length check below replaces the tokenizer's "longer than the
    # specified maximum" log line with an error that says what to do.
    # One tokenizer call in the usual case (nothing to cut): its lengths are checked, and it
    # is returned as is; only a truncation re-tokenizes.
    encoded = tokenizer(texts, return_tensors="pt", padding=len(texts) > 1, truncation=False, verbose=False)
    ids = encoded["input_ids"]
    if "attention_mask" in encoded:
        lengths = [int(n) for n in encoded["attention_mask"].sum(-1)]
    else:
        lengths = [ids.shape[1]] * ids.shape[0]
    for i, n in enumerate(lengths):
        if n == 0:
            raise ValueError(
                f"text_or_batch[{i}] = {texts[i]!r} has no token after tokenization "
                f"({type(tokenizer).__name__} adds no special tokens), and a model cannot run on "
                "zero tokens: pass a non-empty text."
            )
    too_long = [(i, n) for i, n in enumerate(lengths) if limit is not None and n > limit]
    if max_length is None and too_long:
        i, n = too_long[0]
        raise ValueError(
            f"text_or_batch[{i}] has {n} tokens but the model takes at most {limit} ({source}); "
            f"{len(too_long)} text(s) are too long. Pass max_length={limit} (or less) to "
            "truncate them (the result's 'truncated' says how many tokens were cut), or "
            "shorten the text."
        )
    truncated = [0 if max_length is None else max(0, n - max_length) for n in lengths]
    if any(truncated):
        cut = ", ".join(f"text_or_batch[{i}]: {c} of {lengths[i]}" for i, c in enumerate(truncated) if c)
        warnings.warn(
            f"max_length={max_length} cut tokens from the {tokenizer.truncation_side} of "
            f"{cut} (result.truncated lists the counts).",
            TruncationWarning,
            stacklevel=3,
        )
    if any(truncated):
        encoded = tokenizer(
            texts, return_tensors="pt", padding=len(texts) > 1, truncation=True, max_length=max_length
        )
    return encoded, truncated


def has_left_padding(padding: torch.Tensor) -> bool:
    """Whether some example has padding *before* a real token (``[B, L]``, True = real)."""
    real = padding.bool()
    # Right padding only: once a row turns False it stays False, i.e. the row is sorted.
    return bool((real[:, 1:] & ~real[:, :-1]).any())


def position_ids(padding: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` positions counting real tokens only: 0 at each example's first real token.

    Padding slots get 0 too; what they hold never reaches a real token (they are masked).
    """
    return (padding.long().cumsum(-1) - 1).clamp(min=0)
