"""Attention masks a model computes inside every layer, from that layer's own scores, as it trains.

The catalogue's input-dependent rules (:mod:`dynmask_viz.attention_masks`) take scores given
from outside, for one forward pass. To *train* with such a mask, each layer must choose its keys
from its own scores on every step. Each class here is one such rule; :func:`install_layer_mask`
puts it into a Hugging Face encoder. Every rule is tested against its catalogue factory (the
dense reference): the keys chosen here are the ones ``topk_keys``, ``score_threshold``,
``random_drop`` or ``keep_tokens`` choose from the same scores.

Boolean convention: ``keep`` is True where *the query may attend to the key*.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ..attention_masks import random_drop, stopword_keep_mask
from ..attention_masks.dynamic import topk_keep

__all__ = [
    "DynamicMaskAttention",
    "FullAttention",
    "LayerMask",
    "ProbabilityThreshold",
    "RandomKeyDrop",
    "TokenKeep",
    "TopKKeys",
]


class LayerMask:
    """A rule choosing, in each attention layer, which keys each query may attend to.

    Subclasses implement :meth:`select`. Some rules add parameters to the model
    (:meth:`attach`); ``learned`` ones train them with it.
    """

    name = "layer_mask"
    learned = False

    def attach(self, attention: nn.Module, layer: int, seed: int) -> None:
        """Add this rule's parameters (if any) to one self-attention module."""

    def select(
        self,
        logits: torch.Tensor,
        valid: torch.Tensor,
        *,
        layer: int,
        value: torch.Tensor,
        module,
        inputs: dict,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Choose the keys.

        Args:
            logits: ``[B, H, Q, K]`` scaled scores ``q . k / sqrt(d)`` of this layer.
            valid: ``[B, 1, Q, K]`` bool, True = the padding mask lets the query see the key.
            layer: Layer index, from 0.
            value: ``[B, H, K, d]`` value vectors (what DMA scores keys from).
            module: The self-attention module (where learned parameters live).
            inputs: The extra keyword arguments of the model call (``key_keep``, ``mask_draw``).

        Returns:
            ``(keep, bias)``: keep ``[B, 1|H, Q|1, K]`` bool (True = may attend; it is ANDed with
            ``valid`` afterwards), and an optional additive bias broadcastable to the logits.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class FullAttention(LayerMask):
    """Every key the padding mask allows (True everywhere): the baseline."""

    name = "full"

    def select(self, logits, valid, *, layer, value, module, inputs):
        return valid, None


class TokenKeep(LayerMask):
    """Hide some tokens as keys in every layer: ``keep_tokens(key_keep)``, given per batch.

    The model call passes ``key_keep`` ``[B, K]`` bool (True = the key stays visible); build
    each row with :meth:`keep_row` (:func:`~dynmask_viz.attention_masks.stopword_keep_mask`
    with this rule's word list), the one home of what the rule hides.

    Args:
        name: What the rule hides, for reports (e.g. ``"drop_stopwords"``).
        stopwords: Words to hide: None for the built-in English list, ``()`` for none.
        punctuation: Also hide tokens made only of punctuation.
    """

    def __init__(self, name: str = "keep_tokens", *, stopwords=None, punctuation: bool = True) -> None:
        self.name = name
        self.stopwords = None if stopwords is None else frozenset(stopwords)
        self.punctuation = punctuation

    def keep_row(self, tokens: list[str], tokenizer=None) -> list[bool]:
        """``[L]`` True = the token stays visible as a key (special tokens always do)."""
        return stopword_keep_mask(tokens, tokenizer, stopwords=self.stopwords, punctuation=self.punctuation)[
            0
        ].tolist()

    def select(self, logits, valid, *, layer, value, module, inputs):
        keep = inputs.get("key_keep")
        if keep is None:
            raise ValueError(
                f"The layer mask {self.name!r} needs key_keep=[batch, seq_len] bool (True = the key "
                "stays visible) in the model call, e.g. model(**batch, key_keep=stopword_keep_mask(...))."
            )
        if keep.dtype != torch.bool or tuple(keep.shape) != (logits.shape[0], logits.shape[-1]):
            raise ValueError(
                f"key_keep must be a bool tensor [batch, seq_len] = {(logits.shape[0], logits.shape[-1])}; "
                f"got {keep.dtype} {tuple(keep.shape)}."
            )
        return keep[:, None, None, :], None


class TopKKeys(LayerMask):
    """Each query keeps its ``k`` highest-scoring keys in each head: ``topk_keys(logits, k)``.

    Ranked by this layer's own logits among the keys the padding mask allows (a row with fewer
    real keys keeps them all); ties go to the lower key index, as in the catalogue. The choice
    has no gradient: the kept scores train, the selection follows them (top-k attention,
    Gupta et al. 2021).

    Args:
        k: Keys kept per query, ``>= 1``.
    """

    def __init__(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"TopKKeys(k) must be an int >= 1 (keys kept per query); got {k!r}.")
        self.k = k
        self.name = f"topk_keys(k={k})"

    def select(self, logits, valid, *, layer, value, module, inputs):
        # Ranked in float32: bfloat16 logits tie often, and ties go to the earlier key.
        return topk_keep(logits.detach().float(), min(self.k, logits.shape[-1]), valid), None


class ProbabilityThreshold(LayerMask):
    """Keep the keys whose attention probability (padding mask only) is at least ``threshold``.

    ``score_threshold(softmax(logits), t)``, plus each query's highest-scoring key, so that no
    row is left empty when its attention is spread thin (the catalogue rule alone may leave one).

    Args:
        threshold: A probability in ``(0, 1)``, e.g. 0.05.
    """

    def __init__(self, threshold: float) -> None:
        ok = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
        if not ok or not 0.0 < float(threshold) < 1.0 or math.isnan(threshold):
            raise ValueError(
                f"ProbabilityThreshold(threshold) must be a probability in (0, 1); got {threshold!r}."
            )
        self.threshold = float(threshold)
        self.name = f"score_threshold(p>={self.threshold:g})"

    def select(self, logits, valid, *, layer, value, module, inputs):
        scores = logits.detach().float()  # compared in float32 (bfloat16 has ~3 digits)
        probs = torch.softmax(scores.masked_fill(~valid, torch.finfo(scores.dtype).min), dim=-1)
        keep = probs >= self.threshold
        return keep | topk_keep(probs, 1, valid), None


class RandomKeyDrop(LayerMask):
    """Drop each (query, key) pair with probability ``p``, a fresh pattern per step and layer.

    ``random_drop(p, seed=draw_seed(seed, draw, layer))``: the pattern is a pure function of the
    rule's seed, the model call's ``mask_draw`` (the training step; evaluation uses a fixed draw)
    and the layer, so a run repeats exactly. Like attention dropout, but the kept weights are
    renormalised by the softmax instead of rescaled.

    Args:
        p: Drop probability in ``[0, 1)``.
        seed: The rule's seed (e.g. the run's seed), in ``[0, 2**24)``.

    Attributes:
        EVAL_DRAW: The draw to score with (``mask_draw=RandomKeyDrop.EVAL_DRAW``): fixed, and never
            a training step of a run shorter than 2**31 steps.
    """

    EVAL_DRAW = 2**31

    def __init__(self, p: float, seed: int = 0) -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) < 1.0:
            raise ValueError(f"RandomKeyDrop(p) must be a probability in [0, 1); got {p!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 24:
            # draw_seed packs (seed, draw, layer) into the 64 bits the hash reads: 24 for the seed
            raise ValueError(f"RandomKeyDrop(seed) must be an int in [0, 2**24); got {seed!r}.")
        self.p, self.seed = float(p), seed
        self.name = f"random_drop(p={self.p:g})"

    @staticmethod
    def draw_seed(seed: int, draw: int, layer: int) -> int:
        """The catalogue seed of one (rule seed < 2**24, draw < 2**32, layer < 256).

        Distinct integers for distinct triples; the hash then folds them to 32-bit keys, so two
        draws may (rarely) share a pattern, as two draws of any 32-bit seeded stream may.
        """
        if not 0 <= layer < 256:
            raise ValueError(f"RandomKeyDrop supports models of up to 256 layers; got layer {layer}.")
        return (seed << 40) + (draw << 8) + layer

    def select(self, logits, valid, *, layer, value, module, inputs):
        draw = inputs.get("mask_draw", 0)
        if isinstance(draw, bool) or not isinstance(draw, int) or not 0 <= draw < 1 << 32:
            raise ValueError(
                f"mask_draw must be an int in [0, 2**32) (e.g. the training step); got {draw!r}."
            )
        b, h, q, k = logits.shape
        rule = random_drop(self.p, self.draw_seed(self.seed, draw, layer))
        return rule.dense(b, h, q, k, device=logits.device), None


class DMAScorer(nn.Module):
    """One layer's key scorer of Dynamic Mask Attention: ``A * softplus(dt_proj(values))``.

    Shi et al. (2025), "Trainable Dynamic Mask Sparse Attention", arXiv:2508.02124, as in their
    reference model (flash-dmattn's Doge attention): a linear map of each token's values (all
    heads) to one score per head, scaled by a learned per-head ``A``.
    """

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.dt_proj = nn.Linear(hidden, heads, bias=False)  # no bias, as the reference's default
        # The reference starts A at 0: the bias is 0, every key ties (top-k keeps the first k)
        # and dt_proj gets no gradient until A has moved. Starting at 1 switches the bias on, so
        # the scorer learns from the first step; its first choice is a random projection of
        # the values (A > 0 only scales, it never reorders), which training then shapes.
        self.A = nn.Parameter(torch.ones(heads))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        """``[B, H, K, d]`` values -> ``[B, H, K]`` key scores (added to the logits of kept keys)."""
        b, h, k, d = value.shape
        scores = nn.functional.softplus(self.dt_proj(value.transpose(1, 2).reshape(b, k, h * d)))
        return (self.A * scores).transpose(1, 2)


class DynamicMaskAttention(LayerMask):
    """Learned: each head keeps the ``k`` keys its DMA scorer rates highest, for every query.

    The scores are also added to the kept keys' logits, which is how the scorer gets a gradient
    (the top-k choice itself has none). Parameters: one :class:`DMAScorer` per layer, created by
    :func:`install_layer_mask` from a seed, on the layer's device and dtype. They are new
    weights in a trained model: give them a larger learning rate than the model's (the
    experiment uses ``FinetuneConfig.scorer_lr``), or the choice stays close to its random start.

    Args:
        k: Keys kept per head, ``>= 1`` (all keys of shorter inputs).
        train_scorer: False freezes the scorers at their seeded random start (a control: the
            same sparsity and choice mechanism, without the learning).
    """

    def __init__(self, k: int, *, train_scorer: bool = True) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"DynamicMaskAttention(k) must be an int >= 1 (keys kept per head); got {k!r}.")
        if not isinstance(train_scorer, bool):
            raise ValueError(
                f"DynamicMaskAttention(train_scorer) must be True or False; got {train_scorer!r}."
            )
        self.k, self.learned = k, train_scorer
        self.name = f"dma(k={k})" if train_scorer else f"dma(k={k}, untrained)"

    def attach(self, attention, layer, seed):
        hidden = attention.num_attention_heads * attention.attention_head_size
        weight = attention.query.weight
        with torch.random.fork_rng(devices=[]):  # drawn on the CPU: the same weights on any device
            torch.manual_seed(seed * 1000 + layer)
            scorer = DMAScorer(hidden, attention.num_attention_heads)
        attention.dma_scorer = scorer.to(weight.device, weight.dtype).requires_grad_(self.learned)

    def select(self, logits, valid, *, layer, value, module, inputs):
        scorer = getattr(module, "dma_scorer", None)
        if scorer is None:
            raise RuntimeError(
                "DynamicMaskAttention has no scorer in this layer: use install_layer_mask(model, rule)."
            )
        scores = scorer(value)[:, :, None, :]  # [B, H, 1, K], one choice per head
        key_valid = valid[:, :, :1, :]  # padding is key-side: every query row allows the same keys
        # Ranked in float32 (bfloat16 scores tie often, and ties go to the earlier key).
        keep = topk_keep(scores.detach().float(), min(self.k, logits.shape[-1]), key_valid)
        return keep, scores.to(logits.dtype)
