"""Check for chapter 02's fill-in-the-blank exercise (the :class:`FillMaskExplorer` section).

Same contract as every check (:mod:`.checks`): it returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected numbers are
recomputed here from the model and the training rows, so the call shows none of them.

The exercise asks for a *loss* (mean ``-log p`` of the true tokens, nats), not a mean
probability: memorization lifts the unlikely true tokens, which moves the loss and hardly the
mean probability (see :mod:`dynmask_viz.widgets.fill_mask_state`). Each sequence is fed as in
training (the 80/10/10 input of that mask), as the explorer does by default.
Boolean convention: ``masked`` is True where a token is *selected for prediction*.
"""

from __future__ import annotations

import math

import torch

from ..analysis import draw_training_input, fill_mask_view, mask_index
from ..masking import MaskingConfig, MaskingVocab
from .checks import CheckResult, as_number, is_missing, no_answer, not_yet, passed

__all__ = ["check_trained_vs_fresh", "trained_and_fresh_loss"]

TOLERANCE = 0.0006  # the explorer prints 3 decimals: rounding moves a number by 0.0005 at most


def trained_and_fresh_loss(
    model,
    tokenizer,
    training_ids: torch.Tensor,
    *,
    sequence: int,
    epoch: int,
    mask_seed: int,
    dupe_factor: int,
    masking: MaskingConfig,
    fresh_mask_epoch: int,
    epochs: int | None = None,
) -> tuple[float, float]:
    """``model``'s loss (mean ``-log p`` of the true tokens, nats) on training row ``sequence``
    under the static run's mask of (0-based) ``epoch`` and under a fresh mask, each fed as in
    training (the 80/10/10 input of that mask).

    Arguments after ``training_ids`` as ``fill_mask_models.training_setup("static")`` returns
    them (``epochs`` is accepted and unused).
    """
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    ids = torch.as_tensor(training_ids)[sequence]
    out = []
    for kind in ("static", "fresh"):
        m = mask_index(kind, epoch, dupe_factor=dupe_factor, fresh_mask_epoch=fresh_mask_epoch)
        masked, fed = draw_training_input(
            ids, vocab, masking, seed=mask_seed, mask_epoch=m, example_id=sequence
        )
        out.append(fill_mask_view({"model": model}, tokenizer, ids, masked, fed_ids=fed).mean_loss("model"))
    return out[0], out[1]


def _pair(answer) -> tuple[float, float] | None:
    if isinstance(answer, torch.Tensor):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return None
    values = [as_number(a) for a in answer]
    return None if None in values else (values[0], values[1])


def check_trained_vs_fresh(answer, model, tokenizer, training_ids, **setup) -> CheckResult:
    """The static model's loss on one training row, fed as in training: (trained mask, fresh mask).

    Args:
        answer: ``(trained, fresh)``, two losses in nats (mean ``-log p``), 3 decimals.
        model: The static model (``load_mlm("static")[0]``).
        tokenizer: Its tokenizer.
        training_ids: ``[N, L]`` rows it trained on (``training_sequences()``).
        **setup: ``sequence``, ``epoch`` and the run's masking (``training_setup("static")``),
            as :func:`trained_and_fresh_loss` takes them.
    """
    if is_missing(answer):
        return no_answer("(trained, fresh): two losses in nats (>= 0), 3 decimals")
    pair = _pair(answer)
    if pair is None or not all(math.isfinite(v) and v >= 0 for v in pair):
        return not_yet(
            f"Expected two losses (trained, fresh), each a number >= 0 in nats; got {answer!r}.",
            "For example (5.123, 6.045): read them from the explorer's summary line ('loss ... nats').",
        )
    trained, fresh = trained_and_fresh_loss(model, tokenizer, training_ids, **setup)
    close = [abs(a - b) <= TOLERANCE for a, b in zip(pair, (trained, fresh))]
    if all(close):
        ratio, lower = math.exp(fresh - trained), "lower" if trained <= fresh else "higher"
        return passed(
            f"Under the mask it trained on, the static model's loss on the true tokens is {trained:.3f} "
            f"nats; under a fresh mask of the same sequence {fresh:.3f}: {lower} under the trained mask, "
            f"the true tokens {ratio:.2f} times as likely there (geometric mean, exp of the difference)."
        )
    if abs(pair[0] - fresh) <= TOLERANCE and abs(pair[1] - trained) <= TOLERANCE:
        return not_yet("The two numbers are swapped.", "Give (trained, fresh): the trained mask first.")
    if any(close):
        wrong = "fresh" if close[0] else "trained"
        return not_yet(
            f"The {'trained' if close[0] else 'fresh'} number is right, the {wrong} one is not.",
            "Set mask= to the other option and read the static model's loss again.",
        )
    return not_yet(
        "Neither number matches the static model's loss on the true tokens.",
        "Use the training-sequence mode with the sequence and epoch the exercise gives, fed as in "
        "training, and read the static model's loss in nats (not a probability, not the dynamic "
        "model's) for each mask.",
    )
