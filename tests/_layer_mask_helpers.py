"""Tiny classifiers, padded batches and dense references for ``tests/test_layer_masks.py``.

The references recompute each layer's scores from the module's own projections (a forward
pre-hook captures the layer's input), independently of the attention function under test.
Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

import contextlib

import torch
from transformers import BertConfig, BertForSequenceClassification

HEADS = 4


def tiny_classifier(
    *, layers: int = 2, seed: int = 0, impl: str = "eager", vocab_size: int = 100, positions: int = 32
) -> BertForSequenceClassification:
    """A random 2-label BERT classifier (4 heads of 8 dims), eval mode, float32; global RNG untouched.

    ``vocab_size=len(tokenizer)`` makes it take a real tokenizer's ids (the view and explorer tests).
    """
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=64,
        max_position_embeddings=positions,
        num_labels=2,
        attn_implementation=impl,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return BertForSequenceClassification(config).eval()


def padded_batch(lengths: list[int], *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded random ``input_ids`` / ``attention_mask`` ``[B, max(lengths)]`` (pad id 0)."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(5, 100, (len(lengths), width), generator=gen)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    return {"input_ids": ids.masked_fill(~mask, 0), "attention_mask": mask.long()}


def padding_valid(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` 0/1 padding mask -> ``[B, 1, L, L]`` bool, True = the query may see the key."""
    real = attention_mask.bool()
    return real[:, None, None, :].expand(-1, 1, real.shape[1], -1)


def with_self_fallback(keep: torch.Tensor) -> torch.Tensor:
    """``keep`` ``[..., Q, K]`` with every empty row given its own key (the documented fallback)."""
    empty = ~keep.any(-1, keepdim=True)
    return keep | (empty & torch.eye(keep.shape[-2], keep.shape[-1], dtype=torch.bool))


def self_attentions(model) -> list:
    """The model's ``BertSelfAttention`` modules, in layer order."""
    return [layer.attention.self for layer in model.bert.encoder.layer]


@contextlib.contextmanager
def layer_scores(model):
    """Capture each layer's scaled scores ``[B, H, L, L]`` and values ``[B, H, L, d]``.

    Yields a dict ``{"logits": [...], "value": [...]}`` (one entry per layer, last call wins),
    recomputed with the same ops the attention functions use, so equal inputs give equal bits.
    """
    found: dict[str, list] = {"logits": [], "value": []}
    modules = self_attentions(model)
    for key in found:
        found[key] = [None] * len(modules)

    def hook_for(index: int, module):
        def hook(_module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            shape = (*hidden.shape[:-1], -1, module.attention_head_size)
            with torch.no_grad():
                query = module.query(hidden).view(shape).transpose(1, 2)
                key = module.key(hidden).view(shape).transpose(1, 2)
                found["value"][index] = module.value(hidden).view(shape).transpose(1, 2)
                found["logits"][index] = torch.matmul(query, key.transpose(2, 3)) * module.scaling

        return hook

    handles = [m.register_forward_pre_hook(hook_for(i, m), with_kwargs=True) for i, m in enumerate(modules)]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()
