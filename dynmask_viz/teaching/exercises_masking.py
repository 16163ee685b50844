"""Checks for the exercises of chapter 02 (static vs dynamic masking).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer.
"""

from __future__ import annotations

import math

from ..masking import MaskingConfig, theoretical_ever_masked
from .checks import CheckResult, as_int_set, as_number, is_close, is_missing, no_answer, not_yet, passed

__all__ = [
    "check_bert_config",
    "check_repeating_epochs",
    "check_share_never_masked",
    "check_times_each_mask_seen",
]


def check_share_never_masked(
    answer, *, p: float, epochs: int, dupe_factor: int | None = None, tol: float = 5e-4
) -> CheckResult:
    """Expected share of tokens *never* selected over ``epochs`` epochs.

    Args:
        answer: The student's share, a number in [0, 1], to the precision ``tol`` says (the
            default: 3 decimals, 0.444 for 0.4437...); every message states that precision.
        p: Masking probability.
        epochs: Number of epochs.
        dupe_factor: Distinct static masks; ``None`` for dynamic masking.
        tol: Accepted absolute error, > 0.
    """
    if is_missing(answer):
        return no_answer("a number between 0 and 1")
    value = as_number(answer)
    if value is None:
        return not_yet(f"Expected a number between 0 and 1, got {answer!r}.")
    expected = 1.0 - theoretical_ever_masked(p, epochs, dupe_factor)
    chances = epochs if dupe_factor is None else min(epochs, dupe_factor)
    precision = _precision(tol)
    if is_close(value, expected, tol):
        return passed(
            f"(1 - {p:g})^{chances} = {expected:.4f}: that share of tokens is never a prediction target."
        )
    if is_close(value, expected, 20 * tol):  # the right idea, rounded too early
        return not_yet(
            f"Close, but {value:g} is not precise enough: give the share {precision}.",
            "Compute it in Python rather than rounding by hand.",
        )
    if 1.0 < value <= 100.0 and is_close(value / 100.0, expected, tol):
        return not_yet("That looks like a percentage.", "Give a share between 0 and 1 (e.g. 0.2, not 20).")
    if is_close(value, 1.0 - expected, tol):
        return not_yet(
            "That is the share masked *at least once*.", "The question asks for the share *never* masked."
        )
    if dupe_factor is not None and is_close(value, (1.0 - p) ** epochs, tol):
        return not_yet(
            "You gave every epoch a fresh chance.",
            f"Static masking cycles only {dupe_factor} distinct masks: a token has "
            f"min(epochs, dupe_factor) = {chances} independent chances, not {epochs}.",
        )
    return not_yet(
        f"{value:g} is not it (a right answer is {precision}).",
        "One mask misses a token with probability 1 - p; independent masks multiply.",
    )


def _precision(tol: float) -> str:
    """``tol`` in words: ``"to 3 decimals (within 0.0005)"`` for 5e-4."""
    decimals = -math.log10(2 * tol) if tol > 0 else math.inf
    if math.isfinite(decimals) and abs(decimals - round(decimals)) < 1e-9 and decimals >= 1:
        return f"to {round(decimals)} decimals (within {tol:g})"
    return f"within {tol:g} of the exact value"


def check_times_each_mask_seen(answer, *, epochs: int = 40, dupe_factor: int = 10) -> CheckResult:
    """How many times each static mask is seen over ``epochs`` epochs (BERT: 40 / 10 = 4)."""
    if is_missing(answer):
        return no_answer("a whole number")
    value = as_number(answer)
    expected = epochs / dupe_factor
    if value is None:
        return not_yet(f"Expected a number, got {answer!r}.")
    if is_close(value, expected, 1e-9):
        return passed(f"{epochs} epochs / {dupe_factor} masks = {expected:g} times each.")
    if is_close(value, dupe_factor, 1e-9):
        return not_yet("That is the number of distinct masks.", "How often does each of them come back?")
    return not_yet(
        f"{value:g} is not it.",
        f"The {dupe_factor} masks take turns, one per epoch: count the epochs per mask.",
    )


def check_repeating_epochs(answer, *, dupe_factor: int, epochs: int, epoch: int) -> CheckResult:
    """Which epochs see exactly the same static mask as ``epoch``.

    Epochs are counted from 1, as the chapters' figures and text count them: epoch ``n`` uses
    mask ``(n - 1) % dupe_factor`` (the code's 0-based ``epoch % dupe_factor``).

    Args:
        answer: Collection of epoch numbers (``1..epochs``), ``epoch`` itself included.
        dupe_factor: Distinct static masks.
        epochs: Number of epochs (``1..epochs``).
        epoch: The reference epoch, in ``1..epochs``.
    """
    if is_missing(answer):
        return no_answer(f"a list of epoch numbers, e.g. [{epoch}, ...]")
    got = as_int_set(answer)
    if got is None:
        return not_yet(f"Expected a list of whole epoch numbers, got {answer!r}.")
    mask = (epoch - 1) % dupe_factor
    expected = {e for e in range(1, epochs + 1) if (e - 1) % dupe_factor == mask}
    if got == expected:
        return passed(
            f"Epochs {sorted(expected)} all use mask {mask} ((epoch - 1) % {dupe_factor}, masks numbered "
            "from 0 as in the figures)."
        )
    if {e + 1 for e in got} == expected:
        return not_yet(
            "Off by one.", f"Epochs count from 1 here, as in the figures: the first is 1, the last {epochs}."
        )
    if got == expected - {epoch}:
        return not_yet("Almost.", f"Include epoch {epoch} itself.")
    extra, missing = sorted(got - expected), sorted(expected - got)
    detail = "; ".join(
        part
        for part in (f"not these: {extra}" if extra else "", f"missing: {missing}" if missing else "")
        if part
    )
    return not_yet(f"Not quite ({detail}).", f"Epoch n uses mask (n - 1) % {dupe_factor}.")


def check_bert_config(config) -> CheckResult:
    """A ``MaskingConfig`` reproducing BERT's original masking (128-token phase).

    BERT's ``create_pretraining_data.py``: ``masked_lm_prob=0.15``, an exact number of
    predictions per sequence (``round(0.15 * n)``, at least 1), at most
    ``max_predictions_per_seq=20``, single word pieces (whole-word masking came later), 80/10/10.
    """
    if is_missing(config):
        return no_answer("MaskingConfig(...)")
    if not isinstance(config, MaskingConfig):
        return not_yet(
            f"Expected a MaskingConfig, got {type(config).__name__}.",
            "Build one: MaskingConfig(mlm_probability=..., count=..., ...).",
        )
    problems = []
    if not is_close(config.mlm_probability, 0.15, 1e-9):
        problems.append(f"mlm_probability={config.mlm_probability:g} (BERT: 0.15)")
    if config.count != "exact":
        problems.append(f"count={config.count!r}: BERT picks an exact number of tokens per sequence")
    if config.max_predictions != 20:
        problems.append(
            f"max_predictions={config.max_predictions!r}: BERT capped at 20 in the 128-token phase"
        )
    if config.unit != "token":
        problems.append(f"unit={config.unit!r}: the original BERT masked single word pieces")
    if not (
        is_close(config.mask_replace_prob, 0.8, 1e-9) and is_close(config.random_replace_prob, 0.1, 1e-9)
    ):
        problems.append(
            f"{config.mask_replace_prob:g}/{config.random_replace_prob:g}/{config.keep_prob:g} "
            "instead of 80/10/10"
        )
    if problems:
        return not_yet(
            "Differences from BERT: " + "; ".join(problems) + ".",
            "MaskingConfig.from_preset('bert') is the answer key, if you are stuck.",
        )
    return passed("This is BERT's scheme: exact counts, capped at 20, 80/10/10 on single word pieces.")
