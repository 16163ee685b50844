"""Fill in the blanks: what masked language models predict at chosen positions, and which
positions a training run masked.

:func:`fill_mask_view` runs each model once on a sequence whose masked positions are written
as ``[MASK]`` and keeps, per masked position, the top-k tokens with their probabilities and
the probability and rank of the true token. :func:`draw_mask` draws a mask with the package's
keyed masking (:func:`~dynmask_viz.masking.mask_batch`), so the mask of training sequence
``i`` in epoch ``e`` is the one the training run drew: ``mask_index`` gives its mask index
(static: ``e % dupe_factor``, dynamic: ``e``; a *fresh* mask: an index no run used).

What is fed: every masked position becomes ``[MASK]``, and nothing else changes. In training
only 80 % of the selected tokens were ``[MASK]`` (10 % a random token, 10 % kept, see
chapter 02); here the model must infer every blank from its context alone, the question
fill-in-the-blank asks. The *positions* of a trained mask are exactly those the model was
asked to predict in that epoch.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction* (fed as
``[MASK]``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..hf.encoding import position_limit
from ..masking import MaskingConfig, MaskingVocab, mask_batch

__all__ = ["FillMaskView", "ModelPredictions", "draw_mask", "fill_mask_view", "mask_index", "times_seen"]

MASK_KINDS = ("static", "dynamic", "fresh")


@dataclass(frozen=True, eq=False)
class ModelPredictions:
    """One model's predictions at the ``M`` masked positions of a :class:`FillMaskView`.

    Attributes:
        top_ids: ``[M, k]`` int64, the ``k`` most probable token ids, most probable first.
        top_probs: ``[M, k]`` float32, their probabilities (softmax over the whole vocabulary).
        top_tokens: ``M`` lists of the ``k`` token strings.
        true_probs: ``[M]`` float32, the probability of the true (original) token.
        true_ranks: ``[M]`` int64, its rank (1 = the most probable token; ties count once).
    """

    top_ids: torch.Tensor
    top_probs: torch.Tensor
    top_tokens: list[list[str]]
    true_probs: torch.Tensor
    true_ranks: torch.Tensor

    def mean_true_probability(self) -> float:
        """Mean probability of the true token over the masked positions (NaN if none)."""
        return float(self.true_probs.mean()) if self.true_probs.numel() else float("nan")

    def top1_correct(self) -> int:
        """Masked positions whose most probable token is the true one."""
        return int((self.true_ranks == 1).sum())


@dataclass(frozen=True, eq=False)
class FillMaskView:
    """A sequence with masked positions and each model's predictions there (``L`` tokens).

    Attributes:
        input_ids: ``[L]`` int64, the original ids (special tokens included).
        masked: ``[L]`` bool, True where the token was fed as ``[MASK]``.
        fed_ids: ``[L]`` int64, what the models were fed.
        tokens: The ``L`` token strings of ``input_ids``.
        positions: ``[M]`` int64, the masked positions, ascending.
        predictions: Model name -> :class:`ModelPredictions` (rows in ``positions`` order).
        k: Predictions kept per position.
    """

    input_ids: torch.Tensor
    masked: torch.Tensor
    fed_ids: torch.Tensor
    tokens: list[str]
    positions: torch.Tensor
    predictions: dict[str, ModelPredictions]
    k: int

    def model(self, name: str) -> ModelPredictions:
        """The predictions of model ``name``; a ``KeyError`` naming the models otherwise."""
        if name not in self.predictions:
            raise KeyError(f"Unknown model name {name!r}; this view has {sorted(self.predictions)}.")
        return self.predictions[name]

    def mean_true_probability(self, name: str) -> float:
        """Mean probability model ``name`` gives the true token at the masked positions."""
        return self.model(name).mean_true_probability()


def _as_ids(name: str, value) -> torch.Tensor:
    ids = torch.as_tensor(value)
    if ids.dim() != 1 or ids.dtype in (torch.bool,) or ids.is_floating_point() or ids.is_complex():
        raise ValueError(
            f"{name} must be a 1-D sequence of integer token ids [L]; got {ids.dtype} {tuple(ids.shape)}."
        )
    return ids.to(torch.int64).cpu()


def fill_mask_view(models: Mapping[str, object], tokenizer, input_ids, masked, *, k: int = 5) -> FillMaskView:
    """Feed ``input_ids`` with ``masked`` positions as ``[MASK]`` to each model, once.

    Args:
        models: Name -> masked LM (e.g. ``BertForMaskedLM``, eval mode), all over
            ``tokenizer``'s vocabulary, e.g. ``{"static": m1, "dynamic": m2}``.
        tokenizer: Their tokenizer (with a ``[MASK]`` token).
        input_ids: ``[L]`` token ids, special tokens included (``[CLS] ... [SEP]``).
        masked: ``[L]`` bool, True where to feed ``[MASK]``; never on a special token.
        k: Predictions kept per position, an int in ``[1, vocabulary size]``.

    Returns:
        A :class:`FillMaskView`. With no masked position no model is run.

    Raises:
        ValueError: No model, a masked special token, a sequence longer than a model's
            positions, ``k`` out of range or shapes that do not match.
        TypeError: A model whose output has no ``logits`` (not a masked LM).
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict of name -> masked LM, e.g. {'static': model}.")
    if tokenizer.mask_token_id is None:
        raise ValueError(f"tokenizer ({type(tokenizer).__name__}) has no mask token: fill-mask needs one.")
    ids = _as_ids("input_ids", input_ids)
    masked = torch.as_tensor(masked)
    if masked.dtype != torch.bool or masked.shape != ids.shape:
        raise ValueError(
            f"masked must be a bool tensor shaped like input_ids {tuple(ids.shape)}; "
            f"got {masked.dtype} {tuple(masked.shape)}."
        )
    masked = masked.cpu()
    vocab_size = len(tokenizer)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= vocab_size:
        raise ValueError(f"k must be an int in [1, {vocab_size}] (the vocabulary); got {k!r}.")
    special = set(tokenizer.all_special_ids)
    bad = [i for i in masked.nonzero().flatten().tolist() if int(ids[i]) in special]
    if bad:
        tokens = tokenizer.convert_ids_to_tokens([int(ids[i]) for i in bad])
        raise ValueError(
            f"masked must be False on special tokens; positions {bad} hold {tokens}. Mask real tokens only."
        )
    for name, model in models.items():
        limit, source = position_limit(model, tokenizer)
        if limit is not None and len(ids) > limit:
            raise ValueError(
                f"The sequence has {len(ids)} tokens but models[{name!r}] takes at most {limit} "
                f"({source}): shorten the text."
            )
    positions = masked.nonzero().flatten()
    fed = torch.where(masked, tokenizer.mask_token_id, ids)
    true_ids = ids[positions]
    predictions = {
        name: _predict(name, model, tokenizer, fed, positions, true_ids, k) for name, model in models.items()
    }
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    return FillMaskView(ids, masked, fed, tokens, positions, predictions, int(k))


def _predict(name, model, tokenizer, fed, positions, true_ids, k) -> ModelPredictions:
    if positions.numel() == 0:
        empty = torch.empty(0, k)
        return ModelPredictions(empty.long(), empty, [], torch.empty(0), torch.empty(0, dtype=torch.int64))
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(input_ids=fed[None].to(device), attention_mask=torch.ones_like(fed)[None].to(device))
    logits = getattr(out, "logits", None)
    if logits is None or logits.dim() != 3:
        raise TypeError(
            f"models[{name!r}] must be a masked LM (e.g. BertForMaskedLM) returning logits "
            f"[1, L, vocab]; {type(model).__name__} returned no such logits."
        )
    if logits.shape[-1] < len(tokenizer):
        raise ValueError(
            f"models[{name!r}] predicts {logits.shape[-1]} ids but the tokenizer has "
            f"{len(tokenizer)}: they do not belong together."
        )
    probs = logits[0, positions.to(device)].float().softmax(-1).cpu()  # [M, V]
    top_probs, top_ids = probs.topk(k, dim=-1)
    true_probs = probs.gather(1, true_ids[:, None])[:, 0]
    true_ranks = (probs > true_probs[:, None]).sum(-1) + 1
    top_tokens = [tokenizer.convert_ids_to_tokens(row) for row in top_ids.tolist()]
    return ModelPredictions(top_ids, top_probs, top_tokens, true_probs, true_ranks)


def mask_index(kind: str, epoch: int, *, dupe_factor: int, fresh_mask_epoch: int) -> int:
    """The mask index (``mask_epoch`` of :func:`~dynmask_viz.masking.mask_batch`) to draw.

    Args:
        kind: ``"static"`` (epoch ``e`` uses mask ``e % dupe_factor``), ``"dynamic"`` (mask
            ``e``) or ``"fresh"`` (``fresh_mask_epoch``, an index no training epoch used).
        epoch: The 0-based training epoch (ignored for ``"fresh"``).
        dupe_factor: Distinct static masks, an int >= 1.
        fresh_mask_epoch: The index of a fresh mask, above every index a run used.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}; got {kind!r}.")
    for name, value, low in (("epoch", epoch, 0), ("dupe_factor", dupe_factor, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")
    if kind == "fresh":
        return int(fresh_mask_epoch)
    return int(epoch % dupe_factor) if kind == "static" else int(epoch)


def times_seen(mask_epoch: int, kind: str, *, epochs: int, dupe_factor: int) -> int:
    """How often a run trained on mask index ``mask_epoch`` of a sequence, over ``epochs``.

    Static runs use index ``e % dupe_factor`` in epoch ``e``: index ``m < dupe_factor`` comes
    back in epochs ``m, m + dupe_factor, ...``. Dynamic runs use index ``e`` once each.
    """
    if kind == "static":
        return len(range(mask_epoch, epochs, dupe_factor)) if mask_epoch < dupe_factor else 0
    if kind == "dynamic":
        return int(mask_epoch < epochs)
    raise ValueError(f"kind must be 'static' or 'dynamic'; got {kind!r}.")


def draw_mask(
    input_ids,
    vocab: MaskingVocab,
    masking: MaskingConfig,
    *,
    seed: int,
    mask_epoch: int,
    example_id: int | None = None,
    word_ids: torch.Tensor | Sequence[int] | None = None,
) -> torch.Tensor:
    """``[L]`` bool: the positions :func:`~dynmask_viz.masking.mask_batch` selects (True = selected).

    Keyed as in training: ``(seed, example_id, mask_epoch)``; the experiment's training row
    ``i`` has ``example_id=i`` (no padding, no attention mask, as the training loop draws it).

    Args:
        input_ids: ``[L]`` token ids, special tokens included.
        vocab: The :class:`~dynmask_viz.masking.MaskingVocab` of the tokenizer.
        masking: The :class:`~dynmask_viz.masking.MaskingConfig` (the run's ``masking``).
        seed: The masking seed (the run's ``seed``).
        mask_epoch: The mask index (:func:`mask_index`).
        example_id: The example id; None hashes it from the token content (a typed sentence
            then keeps its masks however often it is typed).
        word_ids: ``[L]`` word index per token (``-1`` on specials) for word and span units.
    """
    ids = _as_ids("input_ids", input_ids)[None]
    example_ids = None if example_id is None else torch.tensor([example_id])
    words = None if word_ids is None else torch.as_tensor(word_ids, dtype=torch.int64)[None]
    result = mask_batch(
        ids, vocab, masking, seed=seed, example_ids=example_ids, mask_epoch=mask_epoch, word_ids=words
    )
    return result.masked[0]
