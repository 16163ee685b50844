"""What a layer mask keeps, layer by layer, for one text, and what it does to the prediction.

Shared by :func:`dynmask_viz.plots.plot_layer_keep` and
:class:`dynmask_viz.widgets.LayerMaskExplorer`. The model is a sequence classifier with a
layer mask installed (:func:`~dynmask_viz.hf.install_layer_mask`); a view runs it twice,
with the rule asked for and with full attention, recording each layer's chosen keys.

Boolean convention: ``keep`` is True where *the query may attend to the key*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..hf.encoding import position_limit
from ..hf.layer_attention import LayerMaskRecording, layer_mask_of, set_layer_mask
from ..hf.layer_masks import FullAttention, LayerMask, RandomKeyDrop, TokenKeep

__all__ = ["LayerMaskView", "layer_mask_view"]


@dataclass(frozen=True, eq=False)
class LayerMaskView:
    """One text through a layer-masked classifier: the keys kept per layer and the predictions.

    Arrays are numpy, rows = queries, columns = keys, every token real (no padding).

    Attributes:
        text: The input text.
        tokens: Its ``L`` tokens, special tokens included (``[CLS] ... [SEP]``).
        rule_name: The rule's name, e.g. ``"topk_keys(k=4)"``.
        keep: bool ``[layers, H, L, L]``, True = the query may attend to the key (after the
            padding mask and the empty-row fallback: a query left with no key keeps itself).
        weights: float ``[layers, H, L, L]`` attention weights under the rule (rows sum to 1).
        share_kept_per_layer: Per layer, the share of the ``H * L * L`` pairs kept.
        probabilities: ``[n_labels]`` class probabilities with the rule.
        probabilities_full: ``[n_labels]`` with full attention (same model, same text).
        labels: The class names, in the model's label order.
        truncated: Tokens cut from the end by ``max_length`` (0 when nothing was cut).
    """

    text: str
    tokens: list[str]
    rule_name: str
    keep: np.ndarray
    weights: np.ndarray
    share_kept_per_layer: list[float]
    probabilities: np.ndarray
    probabilities_full: np.ndarray
    labels: tuple[str, ...]
    truncated: int = 0

    @property
    def share_kept(self) -> float:
        """Share of the (query, key) pairs kept, all layers and heads together."""
        return float(np.mean(self.share_kept_per_layer))

    @property
    def prediction(self) -> str:
        """The label predicted with the rule."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def prediction_full(self) -> str:
        """The label predicted with full attention."""
        return self.labels[int(np.argmax(self.probabilities_full))]


def _check_model(model) -> None:
    """A BERT sequence classifier with a layer mask installed, or a clear error."""
    layers = getattr(getattr(getattr(model, "bert", None), "encoder", None), "layer", None)
    if layers is None or len(layers) == 0:
        raise ValueError(
            "model must be a BERT sequence classifier (model.bert.encoder.layer), e.g. "
            f"BertForSequenceClassification or mask_finetuning.load_trained(folder)[0]; got "
            f"{type(model).__name__}."
        )
    if layer_mask_of(model) is None:
        raise ValueError(
            "model has no layer mask installed: call dynmask_viz.hf.install_layer_mask(model, "
            "FullAttention()) first (mask_finetuning.load_trained returns one that has)."
        )


def _encode(tokenizer, text: str, model, max_length: int | None) -> tuple[list[int], int]:
    """Token ids of ``text`` (special tokens added) and how many ``max_length`` cut."""
    limit, source = position_limit(model, tokenizer)
    if max_length is not None:
        low = tokenizer.num_special_tokens_to_add(pair=False) + 1
        high = limit if limit is not None else math.inf
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not low <= max_length <= high:
            raise ValueError(
                f"max_length must be None or an int in [{low}, {limit}] (special tokens plus one "
                f"real token, up to {source or 'no known limit'}); got {max_length!r}."
            )
    ids = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    if max_length is None:
        if limit is not None and len(ids) > limit:
            raise ValueError(
                f"text has {len(ids)} tokens but the model takes at most {limit} ({source}): pass "
                f"max_length={limit} (or less) to cut the end off, or shorten the text."
            )
        return ids, 0
    if len(ids) <= max_length:
        return ids, 0
    return tokenizer(text, truncation=True, max_length=max_length)["input_ids"], len(ids) - max_length


def _key_keep(rule, key_keep, tokens, tokenizer) -> torch.Tensor | None:
    """The ``[1, L]`` bool key-keep row of a :class:`TokenKeep` rule (True = visible key)."""
    if not isinstance(rule, TokenKeep):
        if key_keep is not None:
            raise ValueError(
                f"key_keep is only read by TokenKeep rules; rule {rule.name!r} would ignore it. "
                "Leave key_keep=None."
            )
        return None
    if key_keep is None:
        return torch.tensor([rule.keep_row(tokens, tokenizer)])  # what the rule hides, its own list
    keep = torch.as_tensor(np.asarray(key_keep))
    if keep.dtype != torch.bool or keep.reshape(-1).shape[0] != len(tokens) or keep.ndim > 2:
        raise ValueError(
            f"key_keep must be bool [L] or [1, L] with L = {len(tokens)} tokens (True = the key stays "
            f"visible); got {keep.dtype} {tuple(keep.shape)}."
        )
    return keep.reshape(1, -1)


def layer_mask_view(
    model,
    tokenizer,
    text: str,
    rule: LayerMask,
    *,
    labels: Sequence[str] = ("negative", "positive"),
    key_keep=None,
    max_length: int | None = None,
    mask_draw: int = RandomKeyDrop.EVAL_DRAW,
) -> LayerMaskView:
    """Run ``text`` through ``model`` with ``rule`` in every layer, and with full attention.

    The model's installed rule is swapped for the call (on every layer) and put back after,
    also on an error; so is its train/eval mode. Both passes run in eval mode without
    gradients, the first one recorded with :class:`~dynmask_viz.hf.LayerMaskRecording`.

    Args:
        model: A BERT sequence classifier with a layer mask installed
            (:func:`~dynmask_viz.hf.install_layer_mask`, or
            :func:`dynmask_viz.mask_finetuning.load_trained`).
        tokenizer: Its tokenizer.
        text: The text (e.g. one review).
        rule: The layer mask to look at, e.g. ``TopKKeys(4)``. A learned rule
            (``DynamicMaskAttention``) needs the model it was installed and trained in.
        labels: Class names, one per output of the model.
        key_keep: For a :class:`~dynmask_viz.hf.TokenKeep` rule: bool ``[L]`` (True = the token
            stays visible as a key); default: stopwords and punctuation hidden, or only
            punctuation for a rule named ``"drop_punctuation"`` (as the experiment does).
        max_length: None refuses a text longer than the model's positions; an int cuts the
            text to that many tokens (special tokens included; the view's ``truncated`` says how
            many were cut).
        mask_draw: The draw of a random rule (``RandomKeyDrop``): the same draw, the same
            pattern; by default the one the experiment scores with.

    Returns:
        A :class:`LayerMaskView`.

    Raises:
        ValueError: An empty text, a model without a layer mask, a text longer than the model
            takes (without ``max_length``), ``labels`` not matching the model's outputs, or a
            bad ``key_keep``. TypeError: ``text`` not a str or ``rule`` not a ``LayerMask``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("text must hold at least one word; got an empty text.")
    if not isinstance(rule, LayerMask):
        raise TypeError(
            f"rule must be a dynmask_viz.hf LayerMask (e.g. TopKKeys(4)); got {type(rule).__name__}."
        )
    _check_model(model)
    labels = tuple(labels)
    n_labels = getattr(model.config, "num_labels", None)
    if len(labels) != n_labels or not all(isinstance(name, str) for name in labels):
        raise ValueError(f"labels must be {n_labels} str, one per output of the model; got {labels!r}.")
    ids, truncated = _encode(tokenizer, text, model, max_length)
    tokens = list(tokenizer.convert_ids_to_tokens(ids))
    keep_row = _key_keep(rule, key_keep, tokens, tokenizer)
    device = next(model.parameters()).device
    inputs = {"input_ids": torch.tensor([ids], device=device), "mask_draw": mask_draw}
    installed, training = set_layer_mask(model, rule), model.training
    model.eval()
    try:
        with torch.no_grad():
            extra = {} if keep_row is None else {"key_keep": keep_row.to(device)}
            with LayerMaskRecording(model, keep_masks=True) as rec:
                logits = model(**inputs, **extra).logits
            set_layer_mask(model, FullAttention())
            logits_full = model(**inputs).logits
    finally:
        set_layer_mask(model, installed)
        model.train(training)
    return LayerMaskView(
        text=text,
        tokens=tokens,
        rule_name=rule.name,
        keep=np.stack([m[0].numpy() for m in rec.masks]),
        weights=np.stack([w[0].float().numpy() for w in rec.weights]),
        share_kept_per_layer=[k / v for k, v in zip(rec.kept, rec.valid, strict=True)],
        probabilities=torch.softmax(logits[0].float(), -1).cpu().numpy(),
        probabilities_full=torch.softmax(logits_full[0].float(), -1).cpu().numpy(),
        labels=labels,
        truncated=truncated,
    )
