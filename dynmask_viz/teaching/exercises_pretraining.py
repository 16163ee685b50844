"""Checks for the exercises of chapter 04 (the static-vs-dynamic pretraining experiment).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected answer is
computed inside the check from its other arguments (token counts, curves, losses), so a
notebook cell never shows it before the student answers. Those arguments are plain numbers,
lists or tensors (this layer imports no training code); a wrong one raises a ``ValueError``
naming it.

Epochs are counted from 1, as in the chapter's text and figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .checks import CheckResult, as_number, is_close, is_missing, no_answer, not_yet, passed

__all__ = [
    "check_first_epoch_below_floor",
    "check_memorization_gap",
    "check_parting_epoch",
    "check_share_memorized",
    "check_unigram_loss",
]

LOSS_TOL = 0.01  # nats: a loss to 2 decimals passes
_LOG2 = math.log(2.0)


def _number_or_feedback(answer, what: str) -> tuple[float | None, CheckResult | None]:
    """The answer as a float, or the feedback for a placeholder or a non-number."""
    if is_missing(answer):
        return None, no_answer(what)
    value = as_number(answer)
    if value is None:
        return None, not_yet(f"Expected {what}, got {answer!r}.")
    return value, None


def _int_tensor(value, name: str, check: str) -> torch.Tensor:
    tensor = torch.as_tensor(value)
    if tensor.dim() != 1 or len(tensor) == 0 or tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
        raise ValueError(
            f"{check}({name}=...) must be a non-empty 1-D tensor or list of ints; got {value!r}."
        )
    return tensor.long()


def _unigram_losses(counts: torch.Tensor, labels: torch.Tensor, special: list[int]) -> dict[str, float]:
    """Mean loss of the labels (nats) under several ways of turning counts into probabilities."""

    def loss(c: torch.Tensor) -> float:
        log_p = c.log() - math.log(float(c.sum()))
        return float(-log_p[labels].mean())

    raw = counts.double()
    smoothed = raw + 1.0
    right = smoothed.clone()
    right[special] = 0.0
    unsmoothed = raw.clone()
    unsmoothed[special] = 0.0
    return {"right": loss(right), "specials kept": loss(smoothed), "no smoothing": loss(unsmoothed)}


def check_unigram_loss(answer, *, counts, labels, special_ids: Sequence[int]) -> CheckResult:
    """The unigram floor: mean cross-entropy (nats) of masked tokens predicted from frequencies.

    A model that ignores the context predicts every masked token with its frequency in the
    training text: ``p(t) = (count(t) + 1) / sum(count + 1)`` over the non-special ids (add-one
    smoothing, so a token never seen in training keeps a finite loss; special ids get no mass:
    they are never a label). The loss is ``-mean(log p(label))`` over the masked positions,
    what ``experiments.baselines.unigram_baseline`` computes.

    Args:
        answer: The loss in nats (within 0.01).
        counts: ``[V]`` how often each id occurs in the training text (special ids included).
        labels: ``[n]`` the original ids at the masked evaluation positions.
        special_ids: Ids with no probability ([PAD], [CLS], [SEP], [MASK]).
    """
    counts_t = _int_tensor(counts, "counts", "check_unigram_loss")
    labels_t = _int_tensor(labels, "labels", "check_unigram_loss")
    special = [int(i) for i in special_ids]
    vocab = len(counts_t)
    if int(counts_t.min()) < 0:
        raise ValueError("check_unigram_loss(counts=...) must be counts >= 0.")
    for name, ids in (("labels", labels_t.tolist()), ("special_ids", special)):
        if any(not 0 <= i < vocab for i in ids):
            raise ValueError(f"check_unigram_loss({name}=...) must be ids in [0, len(counts)={vocab}).")
    if set(labels_t.tolist()) & set(special):
        raise ValueError(
            "check_unigram_loss(labels=...) holds special ids: pass the masked positions' labels."
        )
    value, feedback = _number_or_feedback(answer, "a loss in nats (a positive number)")
    if feedback is not None:
        return feedback
    losses = _unigram_losses(counts_t, labels_t, special)
    expected = losses["right"]
    if is_close(value, expected, LOSS_TOL):
        return passed(
            f"{expected:.3f} nats over {len(labels_t)} masked positions (perplexity "
            f"{math.exp(expected):.0f}: as unsure as a uniform choice among that many tokens). A model "
            "below this line has learnt something from the context; above it, it has not yet learnt "
            "what word frequencies alone give."
        )
    if math.isinf(value) or (
        math.isfinite(losses["no smoothing"]) and is_close(value, losses["no smoothing"], 1e-3)
    ):
        return not_yet(
            "Without smoothing."
            if math.isfinite(value)
            else "An infinite loss: some label has probability 0.",
            "Add 1 to every count before dividing (a token never seen in training still gets a chance).",
        )
    if is_close(value, losses["specials kept"], 1e-3):
        return not_yet(
            "Close: the special tokens still have probability mass.",
            "Set the counts of special_ids to 0 after adding 1: [PAD], [CLS], [SEP], [MASK] are "
            "never labels.",
        )
    if is_close(value, -expected, LOSS_TOL):
        return not_yet("Wrong sign: a loss is minus the mean log-probability.", "Losses here are positive.")
    if is_close(value, expected / _LOG2, LOSS_TOL):
        return not_yet("That is in bits.", "Use the natural logarithm (torch.log): the losses are in nats.")
    if is_close(value, math.exp(expected), 0.01 * math.exp(expected)):
        return not_yet("That is the perplexity, exp(loss).", "Give the loss itself, in nats.")
    if is_close(value, expected * len(labels_t), LOSS_TOL * len(labels_t)):
        return not_yet("That is the sum over the positions.", "Take the mean over the masked positions.")
    if 0.0 <= value <= 1.0:
        return not_yet(
            f"{value:g} looks like a probability or an accuracy, not a loss.",
            "The loss is -mean(log p(label)): several nats for a 4k vocabulary.",
        )
    return not_yet(
        f"{value:g} nats is not it (answers within {LOSS_TOL} pass).",
        "p = (counts + 1) / sum, specials at 0; then -log p[labels], averaged.",
    )


def _curve(values, name: str, check: str, per: str = "epoch") -> list[float]:
    if hasattr(values, "tolist"):  # a tensor or an array
        values = values.tolist()
    out = [as_number(v) for v in values] if isinstance(values, (list, tuple)) else None
    if not out or any(v is None or not math.isfinite(v) for v in out):
        raise ValueError(f"{check}({name}=...) must be a non-empty list of finite losses, one per {per}.")
    return out


def _epoch(answer, what: str) -> tuple[int | None, CheckResult | None]:
    value, feedback = _number_or_feedback(answer, what)
    if feedback is not None:
        return None, feedback
    if not math.isfinite(value) or value != int(value):
        return None, not_yet(f"Expected a whole epoch number, got {answer!r}.", "Epochs count from 1.")
    return int(value), None


def check_first_epoch_below_floor(answer, *, losses, floor: float) -> CheckResult:
    """The first epoch (from 1) whose validation loss is below the unigram floor.

    Args:
        answer: An epoch number, 1 for the first epoch.
        losses: The run's validation loss after each epoch, first epoch first.
        floor: The unigram floor (nats) on the same validation masks.
    """
    curve = _curve(losses, "losses", "check_first_epoch_below_floor")
    if isinstance(floor, bool) or as_number(floor) is None:
        raise ValueError(f"check_first_epoch_below_floor(floor=...) must be a loss in nats; got {floor!r}.")
    floor = float(floor)
    below = [e for e, loss in enumerate(curve, start=1) if loss < floor]
    if not below:
        raise ValueError(
            f"check_first_epoch_below_floor: these losses never go below floor={floor:.3f}; pass the "
            "validation curve of a run that does (and the floor of the same validation masks)."
        )
    got, feedback = _epoch(answer, "an epoch number (the first epoch is 1)")
    if feedback is not None:
        return feedback
    first = below[0]
    if got == first:
        before = ", ".join(f"{loss:.3f}" for loss in curve[: first - 1])
        earlier = f"; before it: {before}" if before else ""
        return passed(
            f"Epoch {first}: {curve[first - 1]:.3f} < {floor:.3f}{earlier}. Until then the model knew "
            "less about the held-out text than word frequencies alone."
        )
    if got == first - 1:
        return not_yet("Off by one.", "Epochs count from 1 here: the first entry of the curve is epoch 1.")
    if not 1 <= got <= len(curve):
        return not_yet(f"The run has epochs 1 to {len(curve)}.")
    if got in below:
        return not_yet(f"At epoch {got} the loss is below the floor, but an earlier epoch already was.")
    return not_yet(
        f"At epoch {got} the validation loss is {curve[got - 1]:.3f}, not below the floor {floor:.3f}.",
        "Compare each epoch's validation loss with the floor; take the first one below it.",
    )


def check_parting_epoch(
    answer, *, dupe_factor: int, epochs: int, static_curve=None, dynamic_curve=None
) -> CheckResult:
    """The first epoch (from 1) at which a static and a dynamic run of the same seed differ.

    Both draw mask ``m`` of a sequence from the same key (seed, sequence, ``m``); the static run
    uses ``m = (epoch - 1) % dupe_factor``, the dynamic run ``m = epoch - 1``. So for the first
    ``dupe_factor`` epochs they train on the very same masks (same data order, same init) and
    their curves agree; at epoch ``dupe_factor + 1`` the static run's first mask comes back.

    Args:
        answer: The predicted epoch number.
        dupe_factor: The static run's number of masks (>= 1).
        epochs: Epochs of the runs (more than ``dupe_factor``, or they never part).
        static_curve, dynamic_curve: Optionally, the two runs' per-epoch losses (same seed): the
            message then says what they show.
    """
    for name, value in (("dupe_factor", dupe_factor), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"check_parting_epoch({name}=...) must be an int >= 1; got {value!r}.")
    if epochs <= dupe_factor:
        raise ValueError(
            f"check_parting_epoch: with epochs={epochs} <= dupe_factor={dupe_factor} no static mask comes "
            "back, so the runs never part; pass runs with more epochs than dupe_factor."
        )
    curves = None
    if (static_curve is None) != (dynamic_curve is None):
        raise ValueError("check_parting_epoch: pass both static_curve and dynamic_curve, or neither.")
    if static_curve is not None:
        curves = [
            _curve(c, n, "check_parting_epoch")
            for c, n in ((static_curve, "static_curve"), (dynamic_curve, "dynamic_curve"))
        ]
    got, feedback = _epoch(answer, "an epoch number (the first epoch is 1)")
    if feedback is not None:
        return feedback
    expected = dupe_factor + 1
    if got == expected:
        seen = ""
        if curves is not None:
            differ = [e for e, (a, b) in enumerate(zip(*curves), start=1) if a != b]
            if differ and differ[0] == expected:
                seen = (
                    f" The curves agree to the last digit through epoch {dupe_factor} and differ from epoch "
                    f"{expected} on ({curves[0][expected - 1]:.3f} static, "
                    f"{curves[1][expected - 1]:.3f} dynamic)."
                )
            else:
                first = f"epoch {differ[0]}" if differ else "nowhere"
                seen = f" (These curves, though, first differ at {first}: are they the same seed?)"
        return passed(
            f"Epochs 1-{dupe_factor} use masks 0-{dupe_factor - 1} in both runs; at epoch {expected} the "
            f"static run sees mask 0 again, the dynamic run a new mask {dupe_factor}.{seen}"
        )
    if got == dupe_factor:
        return not_yet(
            f"Epoch {dupe_factor} is the last one on which both runs still see the same masks.",
            "Which epoch is the first to differ? (Epochs count from 1.)",
        )
    if got == 1:
        return not_yet(
            "Not from the start.",
            "Same seed: mask m of a sequence is the same draw in both runs. Which m does each use "
            "at epoch 1, 2, ...?",
        )
    if got == 2 * dupe_factor + 1:
        return not_yet(
            f"At epoch {got} the static masks come back a second time; they already came back once."
        )
    return not_yet(
        f"Not epoch {got}.",
        f"Static epoch e uses mask (e - 1) % {dupe_factor}, dynamic mask e - 1: where do they first differ?",
    )


def check_memorization_gap(answer, *, trained_loss: float, fresh_loss: float) -> CheckResult:
    """The memorization gap: loss on fresh masks minus loss on the masks just trained with (nats).

    Args:
        answer: The gap in nats (within 0.005).
        trained_loss: Loss on training sequences under the masks of the epoch just trained.
        fresh_loss: Loss on the same sequences under masks never used in training.
    """
    for name, value in (("trained_loss", trained_loss), ("fresh_loss", fresh_loss)):
        number = None if isinstance(value, bool) else as_number(value)
        if number is None or not math.isfinite(number):
            raise ValueError(
                f"check_memorization_gap({name}=...) must be a finite loss in nats; got {value!r}."
            )
    trained, fresh = float(trained_loss), float(fresh_loss)
    value, feedback = _number_or_feedback(answer, "a gap in nats (fresh minus trained)")
    if feedback is not None:
        return feedback
    expected = fresh - trained
    tol = 0.005
    if is_close(value, expected, tol):
        meaning = (
            "the model does better on masks it has been trained on than on new masks of the same text: "
            "it has partly memorised the masks"
            if expected > 0.05
            else "masks it was trained on are no easier than new ones: no memorised masks"
        )
        return passed(f"{fresh:.3f} - {trained:.3f} = {expected:+.3f} nats: {meaning}.")
    if expected != 0 and is_close(value, -expected, tol):
        return not_yet("Wrong sign.", "The gap is fresh-mask loss minus trained-mask loss.")
    if is_close(value, fresh / trained, tol) or is_close(value, fresh / trained - 1, tol):
        return not_yet("That is a ratio.", "The gap is a difference of two losses, in nats.")
    if is_close(value, fresh, tol) or is_close(value, trained, tol):
        return not_yet("That is one of the two losses.", "Subtract: fresh-mask loss minus trained-mask loss.")
    return not_yet(
        f"{value:g} is not it (answers within {tol} pass).", "fresh_mask_loss - trained_mask_loss."
    )


def check_share_memorized(answer, *, trained, fresh) -> CheckResult:
    """The share of training rows with a lower loss under the mask trained on than under a fresh one.

    Args:
        answer: A share in [0, 1] (within 0.005).
        trained: ``[n]`` each row's loss (nats) under a mask the model trained on.
        fresh: ``[n]`` the same rows' losses under a mask no run used.
    """
    rows = [_curve(v, n, "check_share_memorized", "row") for v, n in ((trained, "trained"), (fresh, "fresh"))]
    if len(rows[0]) != len(rows[1]):
        raise ValueError(
            f"check_share_memorized: trained ({len(rows[0])}) and fresh ({len(rows[1])}) must hold "
            "one loss per row each, for the same rows."
        )
    value, feedback = _number_or_feedback(answer, "a share between 0 and 1")
    if feedback is not None:
        return feedback
    n = len(rows[0])
    gaps = sorted(f - t for t, f in zip(*rows))
    lower = sum(g > 0 for g in gaps)
    expected, tol = lower / n, 0.005
    if is_close(value, expected, tol):
        return passed(
            f"{lower} of {n} rows ({expected:.1%}) have the lower loss under the trained mask. With no "
            "memory of the masks, which mask a row gets would not matter: about half the rows would."
        )
    if 1.0 < value <= 100.0 and is_close(value / 100.0, expected, tol):
        return not_yet("That looks like a percentage.", "Give a share between 0 and 1 (e.g. 0.5, not 50).")
    if is_close(value, 1.0 - expected, tol) or is_close(value, sum(g < 0 for g in gaps) / n, tol):
        return not_yet(
            "Reversed: that is the share of rows that do better under the *fresh* mask.",
            "Count the rows whose trained-mask loss is below their fresh-mask loss.",
        )
    if value > 1 and value == lower:
        return not_yet("That is the number of rows.", f"Divide by the number of rows ({n}).")
    if is_close(value, gaps[n // 2] if n % 2 else (gaps[n // 2 - 1] + gaps[n // 2]) / 2, 1e-3):
        return not_yet("That is the median gap in nats.", "The question asks for a share of rows.")
    return not_yet(
        f"{value:g} is not it (answers within {tol} pass).",
        "Row by row: is the trained-mask loss below the fresh-mask loss? The share of rows where it is.",
    )
