"""Fill in the blanks: what masked language models predict at chosen positions, and which
positions a training run masked.

:func:`fill_mask_view` runs each model once on a sequence with some positions selected for
prediction and keeps, per selected position, the top-k tokens with their probabilities and the
probability, log-probability and rank of the true token. :func:`~.fill_mask_masks.draw_mask`
draws a mask with the package's keyed masking (:func:`~dynmask_viz.masking.mask_batch`), so the
mask of training sequence ``i`` in epoch ``e`` is the one the training run drew: ``mask_index``
gives its mask index (static: ``e % dupe_factor``, dynamic: ``e``; a *fresh* mask: an index no
run used).
:func:`draw_training_input` also returns the input that training fed with that mask.

What is fed: by default every selected position becomes ``[MASK]`` (the model must infer each
blank from its context alone, the question fill-in-the-blank asks). With ``fed_ids`` (e.g. from
:func:`draw_training_input`) the input is exactly the training input of that mask: 80 % of the
selected tokens ``[MASK]``, 10 % a random token, 10 % kept (chapter 02). A model memorizes
what it was trained on, so only that input shows its memorization in full.

Why a loss and not only a mean probability: memorization mostly lifts the hard, unlikely
true tokens (say from 0.001 to 0.003), which barely moves a mean of probabilities dominated by
the easy ones, but moves the mean of ``-log p`` (the loss, in nats) clearly.
``exp(-loss)`` is the geometric-mean probability of the true tokens.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction* (fed as
``[MASK]``, or as training fed it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .._threads import intra_op_threads
from ..hf.encoding import position_limit
from .fill_mask_masks import _as_ids

__all__ = ["FillMaskView", "ModelPredictions", "fill_mask_view"]


@dataclass(frozen=True, eq=False)
class ModelPredictions:
    """One model's predictions at the ``M`` masked positions of a :class:`FillMaskView`.

    Attributes:
        top_ids: ``[M, k]`` int64, the ``k`` most probable token ids, most probable first.
        top_probs: ``[M, k]`` float32, their probabilities (softmax over the whole vocabulary).
        top_tokens: ``M`` lists of the ``k`` token strings.
        true_probs: ``[M]`` float32, the probability of the true (original) token.
        true_ranks: ``[M]`` int64, its rank (1 = the most probable token; ties count once).
        true_log_probs: ``[M]`` float32, its log-probability (``log_softmax``, never ``-inf``
            from a probability rounded to 0).
    """

    top_ids: torch.Tensor
    top_probs: torch.Tensor
    top_tokens: list[list[str]]
    true_probs: torch.Tensor
    true_ranks: torch.Tensor
    true_log_probs: torch.Tensor

    def mean_true_probability(self) -> float:
        """Arithmetic mean probability of the true token over the masked positions (NaN if none).

        Dominated by the easy tokens: it hardly moves when a model memorizes (see the module)."""
        return float(self.true_probs.mean()) if self.true_probs.numel() else float("nan")

    def mean_loss(self) -> float:
        """Mean ``-log p(true token)`` over the masked positions, in nats (NaN if none): the MLM
        loss of this sequence, the number memorization moves."""
        return -float(self.true_log_probs.double().mean()) if self.true_log_probs.numel() else float("nan")

    def geometric_mean_probability(self) -> float:
        """``exp(-mean_loss())``: the geometric-mean probability of the true tokens (NaN if none)."""
        return math.exp(-self.mean_loss())

    def top1_correct(self) -> int:
        """Masked positions whose most probable token is the true one."""
        return int((self.true_ranks == 1).sum())


@dataclass(frozen=True, eq=False)
class FillMaskView:
    """A sequence with masked positions and each model's predictions there (``L`` tokens).

    Attributes:
        input_ids: ``[L]`` int64, the original ids (special tokens included).
        masked: ``[L]`` bool, True where the token was selected for prediction.
        fed_ids: ``[L]`` int64, what the models were fed (``[MASK]``, or the training input).
        tokens: The ``L`` token strings of ``input_ids``.
        positions: ``[M]`` int64, the masked positions, ascending.
        predictions: Model name -> :class:`ModelPredictions` (rows in ``positions`` order).
        k: Predictions kept per position.
        mask_token_id: The tokenizer's ``[MASK]`` id.
        fed_tokens: The ``L`` token strings of ``fed_ids`` (what the models read).
    """

    input_ids: torch.Tensor
    masked: torch.Tensor
    fed_ids: torch.Tensor
    tokens: list[str]
    positions: torch.Tensor
    predictions: dict[str, ModelPredictions]
    k: int
    mask_token_id: int
    fed_tokens: list[str]

    def model(self, name: str) -> ModelPredictions:
        """The predictions of model ``name``; a ``KeyError`` naming the models otherwise."""
        if name not in self.predictions:
            raise KeyError(f"Unknown model name {name!r}; this view has {sorted(self.predictions)}.")
        return self.predictions[name]

    def mean_true_probability(self, name: str) -> float:
        """Mean probability model ``name`` gives the true token at the masked positions."""
        return self.model(name).mean_true_probability()

    def mean_loss(self, name: str) -> float:
        """Model ``name``'s mean ``-log p(true token)`` at the masked positions (nats)."""
        return self.model(name).mean_loss()

    def fed_as(self) -> list[str]:
        """Per masked position (``positions`` order), what the input held there: ``"[MASK]"``,
        ``"kept"`` (the true token itself) or ``"random"`` (another token)."""
        out = []
        for p in self.positions.tolist():
            fed, true = int(self.fed_ids[p]), int(self.input_ids[p])
            out.append("kept" if fed == true else "[MASK]" if fed == self.mask_token_id else "random")
        return out


def fill_mask_view(
    models: Mapping[str, object],
    tokenizer,
    input_ids,
    masked,
    *,
    k: int = 5,
    fed_ids=None,
    threads: int | None = 1,
) -> FillMaskView:
    """Feed ``input_ids`` with ``masked`` positions as ``[MASK]`` (or as ``fed_ids``) to each model, once.

    Args:
        models: Name -> masked LM (e.g. ``BertForMaskedLM``, eval mode), all over
            ``tokenizer``'s vocabulary, e.g. ``{"static": m1, "dynamic": m2}``.
        tokenizer: Their tokenizer (with a ``[MASK]`` token).
        input_ids: ``[L]`` token ids, special tokens included (``[CLS] ... [SEP]``).
        masked: ``[L]`` bool, True where to feed ``[MASK]``; never on a special token.
        k: Predictions kept per position, an int in ``[1, vocabulary size]``.
        fed_ids: ``[L]`` what to feed instead (e.g. the training input of a mask, from
            :func:`draw_training_input`): equal to ``input_ids`` outside ``masked``. None:
            every masked position as ``[MASK]``.
        threads: Intra-op threads while the models run (torch's setting is restored after);
            None keeps torch's setting. One by default: a forward pass of one short sequence
            is hundreds of small ops, and in a Jupyter kernel next to one busy process the
            committed 4-layer models took ~1 s per sequence on two threads against 0.05 s on
            one (2 cores of an AMD EPYC; ``benchmarks/bench_fill_mask.py`` measures it).

    Returns:
        A :class:`FillMaskView`. With no masked position no model is run.

    Raises:
        ValueError: No model, a masked special token, a sequence longer than a model's
            positions, ``k`` out of range, ``threads`` not an int >= 1 or None, shapes that do
            not match, or ``fed_ids`` that differ from ``input_ids`` outside ``masked``.
        TypeError: A model whose output has no ``logits`` (not a masked LM).
    """
    intra_op_threads(threads)  # refuses a bad ``threads`` before any work
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
    if fed_ids is None:
        fed = torch.where(masked, tokenizer.mask_token_id, ids)
    else:
        fed = _as_ids("fed_ids", fed_ids)
        if fed.shape != ids.shape or not torch.equal(fed[~masked], ids[~masked]):
            raise ValueError(
                "fed_ids must be shaped like input_ids and equal to them outside masked (only "
                "selected tokens are corrupted); use draw_training_input for a training input."
            )
    true_ids = ids[positions]
    with intra_op_threads(threads):
        predictions = {n: _predict(n, m, tokenizer, fed, positions, true_ids, k) for n, m in models.items()}
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    fed_tokens = tokenizer.convert_ids_to_tokens(fed.tolist())
    return FillMaskView(
        ids, masked, fed, tokens, positions, predictions, int(k), tokenizer.mask_token_id, fed_tokens
    )


def _predict(name, model, tokenizer, fed, positions, true_ids, k) -> ModelPredictions:
    if positions.numel() == 0:
        empty = torch.empty(0, k)
        none = torch.empty(0)
        return ModelPredictions(empty.long(), empty, [], none, torch.empty(0, dtype=torch.int64), none)
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
    picked = logits[0, positions.to(device)].float()  # [M, V]
    probs, log_probs = picked.softmax(-1).cpu(), picked.log_softmax(-1).cpu()  # log: exact for tiny p
    top_probs, top_ids = probs.topk(k, dim=-1)
    true_probs = probs.gather(1, true_ids[:, None])[:, 0]
    true_ranks = (probs > true_probs[:, None]).sum(-1) + 1
    top_tokens = [tokenizer.convert_ids_to_tokens(row) for row in top_ids.tolist()]
    true_log_probs = log_probs.gather(1, true_ids[:, None])[:, 0]
    return ModelPredictions(top_ids, top_probs, top_tokens, true_probs, true_ranks, true_log_probs)
