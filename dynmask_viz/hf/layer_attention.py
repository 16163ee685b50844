"""Put a :mod:`~dynmask_viz.hf.layer_masks` rule into a Hugging Face encoder, and watch it work.

:func:`install_layer_mask` registers one attention function with transformers'
``AttentionInterface`` (and the eager additive padding mask with ``AttentionMaskInterface``:
without it a custom implementation gets *no* padding mask at all) and switches the model to it.
The function is eager attention (scores, additive mask, softmax, dropout, weighted values) with
one step added: the layer's rule chooses the keys, the others get ``torch.finfo(dtype).min``.

:class:`LayerMaskRecording` counts, per layer, the (real query, real key) pairs kept, and can keep
each layer's chosen mask for a picture.

Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

import torch

from .layer_masks import LayerMask
from .masks import attn_implementation

__all__ = [
    "LAYER_MASK_ATTENTION",
    "LayerMaskRecording",
    "install_layer_mask",
    "layer_mask_of",
    "set_layer_mask",
]

LAYER_MASK_ATTENTION = "dynmask_viz_layer_mask"
_REGISTERED = False


def _register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(LAYER_MASK_ATTENTION, layer_masked_attention)
    AttentionMaskInterface.register(LAYER_MASK_ATTENTION, eager_mask)
    _REGISTERED = True


def _self_attentions(model) -> list:
    """The self-attention modules, in layer order (anything with ``num_attention_heads`` and ``query``)."""
    attn_implementation(model)  # a clear TypeError for anything that is not a transformers model
    found = [
        m
        for m in model.modules()
        if hasattr(m, "num_attention_heads") and hasattr(m, "query") and hasattr(m, "attention_head_size")
    ]
    if not found:
        raise TypeError(
            f"install_layer_mask needs a BERT-style encoder (self-attention modules with query, key, "
            f"value); found none in {type(model).__name__}."
        )
    return found


def install_layer_mask(model, rule: LayerMask, *, seed: int = 0):
    """Make every self-attention layer of ``model`` choose its keys with ``rule``.

    Args:
        model: A transformers BERT-family encoder (``BertModel``,
            ``BertForSequenceClassification``, ...), in any attention implementation: it is
            switched to this package's (eager with the rule).
        rule: The layer mask, e.g. ``TopKKeys(8)``.
        seed: Seeds a learned rule's parameters (one stream per layer).

    Returns:
        The model (changed in place). A learned rule adds its parameters to it, so build the
        optimizer after this call.
    """
    if not isinstance(rule, LayerMask):
        raise TypeError(
            f"rule must be a dynmask_viz.hf LayerMask (e.g. TopKKeys(8)); got {type(rule).__name__}."
        )
    _register()
    for layer, attention in enumerate(_self_attentions(model)):
        attention.layer_mask = rule
        attention.layer_mask_index = layer
        attention.layer_mask_recording = None
        rule.attach(attention, layer, seed)
    model.set_attn_implementation(LAYER_MASK_ATTENTION)
    if attn_implementation(model) != LAYER_MASK_ATTENTION:
        # transformers only logs a warning when it decides a model cannot switch: training on
        # would silently use plain attention in every condition.
        import transformers

        raise RuntimeError(
            f"{type(model).__name__} did not switch to the layer-mask attention (it stayed "
            f"{attn_implementation(model)!r}) under transformers {transformers.__version__}; "
            "the rule would not be applied."
        )
    return model


def layer_mask_of(model) -> LayerMask | None:
    """The rule :func:`install_layer_mask` put into ``model`` (None if none)."""
    return getattr(_self_attentions(model)[0], "layer_mask", None)


def set_layer_mask(model, rule: LayerMask) -> LayerMask:
    """Swap the rule of a model :func:`install_layer_mask` prepared; return the rule it had.

    Adds no parameters: for scoring a model under another rule (a mask at test time only) and
    putting its own back. A learned rule needs the parameters its own install added.

    Raises:
        ValueError: The model has no layer mask installed.
    """
    if not isinstance(rule, LayerMask):
        raise TypeError(
            f"rule must be a dynmask_viz.hf LayerMask (e.g. TopKKeys(8)); got {type(rule).__name__}."
        )
    modules = _self_attentions(model)
    installed = getattr(modules[0], "layer_mask", None)
    if installed is None:
        raise ValueError(
            "model has no layer mask installed: call dynmask_viz.hf.install_layer_mask(model, "
            "FullAttention()) first."
        )
    for module in modules:
        module.layer_mask = rule
    return installed


class LayerMaskRecording:
    """Count (and optionally keep) what the layer masks choose while the context is open.

    ``with LayerMaskRecording(model, keep_masks=True) as rec: model(**batch)``.

    Attributes:
        kept, valid: per layer, the number of (real query, real key) pairs kept / allowed by
            padding, summed over the batches and heads seen.
        masks: per layer, the last batch's ``[B, H, Q, K]`` bool keep mask (``keep_masks``).
        weights: per layer, the last batch's ``[B, H, Q, K]`` attention weights (``keep_masks``).
    """

    def __init__(self, model, *, keep_masks: bool = False) -> None:
        self._modules = _self_attentions(model)
        if getattr(self._modules[0], "layer_mask", None) is None:
            raise ValueError(
                "LayerMaskRecording needs a model with a layer mask: call install_layer_mask first."
            )
        n = len(self._modules)
        self.keep_masks = keep_masks
        self.kept, self.valid = [0] * n, [0] * n
        self.masks: list[torch.Tensor | None] = [None] * n
        self.weights: list[torch.Tensor | None] = [None] * n

    def __enter__(self) -> LayerMaskRecording:
        for m in self._modules:
            m.layer_mask_recording = self
        return self

    def __exit__(self, *exc) -> None:
        for m in self._modules:
            m.layer_mask_recording = None

    @property
    def share_kept(self) -> float:
        """Kept pairs over allowed pairs, all layers together (nan before any batch)."""
        return sum(self.kept) / sum(self.valid) if sum(self.valid) else float("nan")

    def add(self, layer: int, keep: torch.Tensor, real: torch.Tensor, weights: torch.Tensor) -> None:
        """Record one layer's choice. ``keep`` ``[B, H, Q, K]``, ``real`` ``[B, K]`` bool."""
        pairs = real[:, None, :, None] & real[:, None, None, :]
        self.kept[layer] += int((keep & pairs).sum())
        self.valid[layer] += int(pairs.sum()) * keep.shape[1]
        if self.keep_masks:
            self.masks[layer] = keep.detach().cpu()
            self.weights[layer] = weights.detach().cpu()


def layer_masked_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention whose keys the module's layer mask chooses (transformers' signature).

    Shapes: query/key/value ``[B, H, L, d]``; attention_mask additive ``[B, 1, Q, K]`` (or None);
    returns ``([B, L, H, d], weights [B, H, Q, K])``.
    """
    rule = getattr(module, "layer_mask", None)
    if rule is None:
        raise RuntimeError(
            f"{type(module).__name__} uses attention {LAYER_MASK_ATTENTION!r} without a layer mask: "
            "call dynmask_viz.hf.install_layer_mask(model, rule)."
        )
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    logits = torch.matmul(query, key.transpose(2, 3)) * scaling
    b, h, q, k = logits.shape
    if attention_mask is None:
        valid = torch.ones(b, 1, q, k, dtype=torch.bool, device=logits.device)
    elif attention_mask.dtype == torch.bool:  # a 4-D bool mask given by the caller: True = may attend
        valid = attention_mask[..., :k]
    else:  # transformers' eager padding mask: 0 or finfo.min (of whatever float dtype it has)
        valid = attention_mask[..., :k] > torch.finfo(attention_mask.dtype).min / 2
    keep, bias = rule.select(
        logits, valid, layer=module.layer_mask_index, value=value, module=module, inputs=kwargs
    )
    keep = keep & valid
    # A query left with no key attends to itself (q == k): never NaN, never uniform. Applied
    # unconditionally: testing `empty.any()` first would sync a GPU in every layer of every step.
    empty = ~keep.any(-1, keepdim=True)
    keep = keep | (empty & torch.eye(q, k, dtype=torch.bool, device=logits.device))
    if bias is not None:
        logits = logits + bias
    weights = torch.softmax(logits.masked_fill(~keep, torch.finfo(logits.dtype).min), dim=-1)
    recording = module.layer_mask_recording
    if recording is not None:
        recording.add(module.layer_mask_index, keep.expand(b, h, q, k), valid[:, 0, 0, :], weights)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights
