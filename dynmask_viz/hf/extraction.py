"""Attention extraction: the weights a Hugging Face model really used, under the mask you meant.

Boolean convention: True = *the query may attend to the key*.

``extract_attention`` forces eager attention (transformers 5 returns ``attentions=()`` under
SDPA without an error), builds the 4-D mask the model needs with
:func:`dynmask_viz.hf.to_hf_mask`, and caches forward passes so interactive widgets can
change the layer or head without running the model again.
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from ..attention_masks import MaskError, MaskRule
from .masks import attn_implementation, is_causal_model, to_hf_mask

_CACHE_SIZE = 32


@dataclass
class AttentionResult:
    """What one forward pass attended to.

    Attributes:
        tokens: Per example, the token strings without padding (``len(tokens[b]) = n_b``).
        input_ids: ``[B, L]`` token ids fed to the model.
        padding_mask: ``[B, L]`` bool, True on real tokens.
        attentions: ``[B, layers, heads, L, L]`` attention weights (rows sum to 1).
        applied_mask: ``[B, 1|heads, L, L]`` bool, True = the query was allowed to attend to the
            key: the mask actually applied (your rule combined with padding, the causal mask of
            a decoder and the empty-row policy).
        model_mask: The ``attention_mask`` passed to the model (2-D padding or 4-D).
        outputs: The model's outputs (``hidden_states`` included).
        rule: Name of the mask rule, ``"padding"`` when none was given.
    """

    tokens: list[list[str]]
    input_ids: torch.Tensor
    padding_mask: torch.Tensor
    attentions: torch.Tensor
    applied_mask: torch.Tensor
    model_mask: torch.Tensor
    outputs: object = field(repr=False)
    rule: str = "padding"

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[1]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[2]

    def example(self, index: int = 0) -> torch.Tensor:
        """``[layers, heads, n, n]`` attention of example ``index``, padding removed."""
        n = len(self.tokens[index])
        return self.attentions[index, :, :, :n, :n]

    def mask_of(self, index: int = 0) -> torch.Tensor:
        """``[1|heads, n, n]`` bool applied mask of example ``index``, padding removed."""
        n = len(self.tokens[index])
        return self.applied_mask[index, :, :n, :n]

    def to_bertviz(self, index: int = 0) -> tuple[tuple[torch.Tensor, ...], list[str]]:
        """``(attention, tokens)`` in bertviz's format: one ``[1, heads, n, n]`` per layer."""
        example = self.example(index)
        return tuple(layer[None] for layer in example), self.tokens[index]


def ensure_eager(model) -> None:
    """Switch ``model`` to eager attention in place when it is not already.

    Only eager attention returns attention weights in transformers 5; SDPA returns an empty
    tuple without saying so.
    """
    if attn_implementation(model) != "eager":
        model.set_attn_implementation("eager")
    if attn_implementation(model) != "eager":
        raise MaskError(
            f"Could not switch {type(model).__name__} to eager attention; load it with "
            "attn_implementation='eager' (dynmask_viz.hf.load_model does by default)."
        )


class _Cache:
    """A small LRU of forward passes, keyed by model, tokenizer, texts and mask.

    Objects are keyed by ``id`` and the entry keeps them alive, checked with ``is`` on a hit,
    so a recycled ``id`` can never return another model's result. Tensor masks are keyed by
    content. The cache assumes a model's weights do not change: after training a model
    further, call ``CACHE.clear()`` (or pass ``use_cache=False``).
    """

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, AttentionResult] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, owners: tuple) -> AttentionResult | None:
        entry = self.entries.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[1], owners)):
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple, owners: tuple, result: AttentionResult) -> None:
        self.entries[key] = (result, owners)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()
        self.hits = self.misses = 0


CACHE = _Cache()


def _fingerprint(*tensors: torch.Tensor | None) -> str:
    digest = hashlib.sha1()
    for tensor in tensors:
        if tensor is None:
            digest.update(b"none")
            continue
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _encode(tokenizer, text_or_batch, max_length):
    texts = [text_or_batch] if isinstance(text_or_batch, str) else list(text_or_batch)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("text_or_batch must be a string or a non-empty list of strings.")
    if len(texts) > 1 and tokenizer.pad_token is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has no pad token, so a batch of texts cannot be padded. "
            "Set one (e.g. tokenizer.pad_token = tokenizer.eos_token) or pass one text at a time."
        )
    return tokenizer(
        texts,
        return_tensors="pt",
        padding=len(texts) > 1,
        truncation=max_length is not None,
        max_length=max_length,
    )


@torch.no_grad()
def extract_attention(
    model,
    tokenizer,
    text_or_batch: str | list[str],
    mask: MaskRule | torch.Tensor | None = None,
    *,
    max_length: int | None = None,
    on_empty_row: str = "keep_self",
    use_cache: bool = True,
) -> AttentionResult:
    """Run ``model`` on text and return every layer's attention under ``mask``.

    Args:
        model: A transformers encoder (BERT, RoBERTa, DistilBERT, MiniLM...) or decoder
            (GPT-2, Llama...) model; switched to eager attention in place if needed.
        tokenizer: Its tokenizer.
        text_or_batch: One text or a list of texts (padded together).
        mask: None (padding, plus causal for decoders, as the model does by itself), a
            :class:`~dynmask_viz.attention_masks.MaskRule`, or a bool tensor (True = may
            attend) ``[L, L]`` or ``[1|B, 1|H, L, L]``; combined with padding and causality.
        max_length: Truncate longer texts.
        on_empty_row: Policy for queries left with no key (see ``to_hf_mask``).
        use_cache: Reuse the forward pass of identical inputs and mask.

    Returns:
        An :class:`AttentionResult`.

    Raises:
        MaskError: If the mask cannot mean what it seems to (see ``check_attention_mask``).
    """
    ensure_eager(model)
    model.eval()
    texts = (text_or_batch,) if isinstance(text_or_batch, str) else tuple(text_or_batch)
    owners = (model, tokenizer, mask if isinstance(mask, MaskRule) else None)
    mask_key = _fingerprint(mask) if isinstance(mask, torch.Tensor) else id(mask)
    key = (
        id(model),
        id(tokenizer),
        str(model.device),
        model.dtype,
        texts,
        max_length,
        on_empty_row,
        mask_key,
    )
    if use_cache and (cached := CACHE.get(key, owners)) is not None:
        return cached

    encoded = _encode(tokenizer, text_or_batch, max_length)
    input_ids = encoded["input_ids"].to(model.device)
    padding = encoded["attention_mask"].to(model.device)
    if mask is None:
        model_mask = padding
        rule_name = "padding"
        allowed = padding.bool()[:, None, None, :].expand(-1, 1, input_ids.shape[1], -1)
        if is_causal_model(model):
            allowed = allowed & torch.ones_like(allowed[0, 0]).tril()
    else:
        model_mask = to_hf_mask(mask, model, input_ids, padding, on_empty_row=on_empty_row)
        rule_name = str(mask) if isinstance(mask, MaskRule) else "custom"
        allowed = model_mask if model_mask.dtype == torch.bool else model_mask == 0

    extra = {}
    # Only models with a token-type table (BERT family) get them: GPT-2's forward accepts
    # token_type_ids too, but embeds them with its word embeddings.
    if (
        "token_type_ids" in encoded
        and getattr(model.config, "type_vocab_size", 0)
        and "token_type_ids" in _forward_args(model)
    ):
        extra["token_type_ids"] = encoded["token_type_ids"].to(model.device)
    outputs = model(
        input_ids=input_ids,
        attention_mask=model_mask,
        output_attentions=True,
        output_hidden_states=True,
        **extra,
    )
    if not outputs.attentions:
        raise MaskError(
            "The model returned no attention weights (attentions=()). It must run with eager "
            "attention: load it with attn_implementation='eager'."
        )
    lengths = padding.sum(1).tolist()
    tokens = [
        tokenizer.convert_ids_to_tokens(ids[padding[b].bool()].tolist()) for b, ids in enumerate(input_ids)
    ]
    assert all(len(t) == n for t, n in zip(tokens, lengths))
    result = AttentionResult(
        tokens=tokens,
        input_ids=input_ids,
        padding_mask=padding.bool(),
        attentions=torch.stack(outputs.attentions, dim=1).float(),
        applied_mask=allowed,
        model_mask=model_mask,
        outputs=outputs,
        rule=rule_name,
    )
    if use_cache:
        CACHE.put(key, owners, result)
    return result


def _forward_args(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)
