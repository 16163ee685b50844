"""``check_attention_mask``: what a mask will do to a model, worked out before the forward pass.

Boolean convention: True = may attend. The rules here encode transformers 5.23's behaviour
(see the package docstring); each problem found is a silent trap or a certain failure, and
:meth:`MaskReport.raise_for_traps` refuses them with a :class:`MaskError` naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..attention_masks import BLOCKED_BELOW, MaskError, empty_rows
from .masks import (
    FIX_4D,
    SUPPORTED_IMPLEMENTATIONS,
    attn_implementation,
    is_causal_model,
)

FIX_PADDING = "For padding only, pass the tokenizer's [batch, seq_len] mask (1 = real token)."
_EMPTY_ROW_EFFECT = {
    "eager": "eager + finfo.min gives them uniform weights (the mean of all values), no NaN",
    "sdpa": "sdpa gives them a zero output with a bool mask, uniform weights with finfo.min",
}


@dataclass
class MaskReport:
    """What an ``attention_mask`` will do to a model, worked out before the forward pass.

    Attributes:
        attn_implementation, model_dtype: Of the model.
        input_shape: ``(batch, seq_len)`` of ``input_ids``.
        mask_shape, mask_dtype: Of the mask (None when there is no mask).
        interpretation: How transformers reads a mask of this shape.
        semantics: What its dtype/values mean under this attention implementation.
        blocked_pairs, total_pairs: Effectively blocked ``(b, h, q, k)`` pairs (h only when
            the mask differs per head), of all pairs; None if it cannot be worked out.
        empty_rows: Queries left with no key (see :func:`empty_rows`).
        problems: Silent traps and certain failures; :meth:`raise_for_traps` refuses them.
        fixes: How to fix the problems.
        notes: Other facts worth knowing.
    """

    attn_implementation: str
    model_dtype: torch.dtype
    input_shape: tuple
    mask_shape: tuple | None
    mask_dtype: torch.dtype | None
    interpretation: str = ""
    semantics: str = ""
    blocked_pairs: int | None = None
    total_pairs: int | None = None
    empty_rows: int | None = None
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no trap was found."""
        return not self.problems

    def explain(self) -> str:
        """Plain-text explanation, one fact per line."""
        lines = [
            f"attn_implementation={self.attn_implementation!r}, model dtype {self.model_dtype}, "
            f"input_ids {self.input_shape} (batch, seq_len)",
            f"mask: shape {self.mask_shape}, dtype {self.mask_dtype}",
            f"shape: {self.interpretation}",
            f"values: {self.semantics}",
        ]
        if self.blocked_pairs is not None:
            lines.append(
                f"blocked pairs: {self.blocked_pairs} of {self.total_pairs}; "
                f"queries with no key (empty rows): {self.empty_rows}"
            )
        lines += [f"PROBLEM: {p}" for p in self.problems] + [f"FIX: {f}" for f in self.fixes]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def raise_for_traps(self) -> MaskReport:
        """Raise :class:`MaskError` (problems and fixes in the message) or return ``self``."""
        if self.problems:
            raise MaskError("\n".join(["attention_mask problem(s):", *self.problems, *self.fixes]))
        return self


def _check_2d(report: MaskReport, mask: torch.Tensor, batch: int, length: int):
    report.interpretation = (
        "2-D: read as a (batch, key) padding mask, never as a (query, key) pattern: "
        "mask[b, k] != 0 means key k of example b is a real token, for every query of b."
    )
    report.semantics = "cast to bool: nonzero = real token (may attend), 0 = padding (blocked)."
    values_ok = mask.dtype == torch.bool or bool(((mask == 0) | (mask == 1)).all())
    values_problem = (
        "2-D mask holds values other than 0/1. transformers casts it to bool, so every "
        "nonzero value (also finfo.min or -inf of an additive mask) counts as a real token "
        "and 0 as padding: an additive mask is read inverted."
    )
    if tuple(mask.shape) == (batch, length):
        if not values_ok:
            report.problems.append(values_problem)
            report.fixes += [FIX_PADDING, FIX_4D]
        elif bool(mask.bool().all()):
            report.notes.append("all ones: transformers builds no mask (same as None).")
        return mask.bool()[:, None, None, :]
    rows, cols = mask.shape
    why = [
        f"2-D attention_mask {tuple(mask.shape)} does not match input_ids {(batch, length)}: "
        "a 2-D mask is read as a (batch, key) padding mask, not as a (query, key) attention "
        "pattern" + (f" (this looks like a {rows}x{cols} pattern)." if rows == cols else ".")
    ]
    if cols != length:
        why.append(
            f"Its {cols} columns are taken as the key length but the input has {length} keys: "
            f"the forward pass fails with 'The size of tensor a ({length}) must match the size "
            f"of tensor b ({cols})' (a bidirectional model silently drops an all-ones mask "
            "instead)."
        )
    elif rows < batch:
        why.append(f"Examples {rows}..{batch - 1} have no row: mask creation raises IndexError.")
    else:
        used = "row 0 is" if batch == 1 else f"rows 0..{batch - 1} are"
        why.append(
            f"Silently, only {used} used, as the key padding of every query of its example; "
            f"rows {batch}..{rows - 1} are ignored."
        )
    # The most fundamental problem first: a mask of the wrong shape is wrong whatever it holds.
    report.problems.append(" ".join(why))
    report.fixes += [FIX_4D, FIX_PADDING]
    if not values_ok:
        report.problems.append(values_problem)
    if rows >= batch and cols == length:
        return mask[:batch].bool()[:, None, None, :]  # what the model will actually do
    return None


def _check_4d(report: MaskReport, mask, batch, heads, length, impl, model_dtype):
    b, h, q, k = mask.shape
    report.interpretation = (
        "4-D [batch, heads, query, key]: given to every attention layer as is (the model adds "
        "no padding or causal mask of its own), broadcast against the scores."
    )
    if b not in (1, batch) or h not in (1, heads) or q not in (1, length) or k != length:
        report.problems.append(
            f"4-D mask {tuple(mask.shape)} cannot broadcast to the scores [{batch}, {heads}, "
            f"{length}, {length}] (batch, heads, query, key); expected [1|{batch}, 1|{heads}, "
            f"1|{length}, {length}]. The forward pass would fail with a shape error."
        )
        report.fixes.append(FIX_4D)
        return None
    everything = torch.ones_like(mask, dtype=torch.bool)
    meant = f"{int((mask == 0).sum()) if mask.dtype != torch.bool else int((~mask).sum())}"
    if mask.dtype == torch.bool and impl == "sdpa":
        report.semantics = "bool under sdpa: True = may attend, False = blocked."
        return mask
    if mask.dtype == torch.bool or not mask.is_floating_point():
        if impl == "sdpa":
            report.semantics = f"{mask.dtype} under sdpa: rejected by torch."
            report.problems.append(
                f"{mask.dtype} 4-D mask: sdpa raises 'Expected attn_mask dtype to be bool or float'."
            )
            report.fixes.append(FIX_4D)
            return None
        report.semantics = f"{mask.dtype} under {impl}: ADDED to the scores (True/1 -> +1)."
        report.problems.append(
            f"{mask.dtype} 4-D mask under {impl} attention masks nothing: it is added to the "
            "scores, so allowed keys get +1 and blocked keys +0; the "
            f"{meant} pairs you meant to block keep their weight (only divided by e = 2.72)."
        )
        report.fixes.append(FIX_4D)
        return everything
    if bool(((mask == 0) | (mask == 1)).all()) and bool((mask == 1).any()):
        report.semantics = "0/1 float: ADDED to the scores (1 -> +1, 0 -> +0)."
        report.problems.append(
            "0/1 float 4-D mask masks nothing: it is added to the scores (eager and sdpa), so "
            f"the {meant} pairs you meant to block keep their weight (divided by e = 2.72)."
        )
        report.fixes.append(FIX_4D)
        return everything
    report.semantics = (
        f"additive float: added to the scaled scores; 0 = attend, <= {BLOCKED_BELOW:g} (finfo.min) = blocked."
    )
    if mask.dtype != model_dtype:
        report.problems.append(
            f"additive mask is {mask.dtype} but the model computes in {model_dtype}: the "
            "forward fails on mixed dtypes, and a cast turns finfo.min of a wider dtype to -inf."
        )
        report.fixes.append("Build it with to_additive(mask_bool, model.dtype) or to_hf_mask.")
    allowed = mask > BLOCKED_BELOW  # NaN compares False: never counted as allowed
    reweight = int(((mask != 0) & allowed).sum())
    if reweight:
        report.notes.append(f"{reweight} entries are neither 0 nor blocked: they re-weight keys.")
    if bool(torch.isneginf(mask).any()):
        no_key = bool(empty_rows(allowed).any())
        (report.problems if no_key and impl == "eager" else report.notes).append(
            "-inf in the mask: a row with no allowed key becomes NaN under eager"
            + (" and this mask has such rows." if no_key else "; prefer finfo(dtype).min.")
        )
        if no_key and impl == "eager":
            report.fixes.append("Use finfo(dtype).min (to_additive / to_hf_mask), not -inf.")
    return allowed


def check_attention_mask(model, input_ids: torch.Tensor, attention_mask) -> MaskReport:
    """Explain what ``attention_mask`` will do to ``model`` for these ``input_ids``.

    Args:
        model: A transformers model (eager or sdpa; other implementations get a note).
        input_ids: ``[B, L]`` token ids.
        attention_mask: What you intend to pass as ``model(input_ids, attention_mask=...)``.

    Returns:
        :class:`MaskReport`; call ``.explain()`` or ``.raise_for_traps()``.
    """
    impl = attn_implementation(model)
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        raise MaskError("input_ids must be [batch, seq_len]; for one sequence use input_ids[None].")
    (batch, length), heads = input_ids.shape, model.config.num_attention_heads
    mask = attention_mask
    is_tensor = isinstance(mask, torch.Tensor)
    report = MaskReport(
        impl,
        model.dtype,
        (batch, length),
        tuple(mask.shape) if is_tensor else None,
        mask.dtype if is_tensor else None,
    )
    causal = is_causal_model(model)
    if impl not in SUPPORTED_IMPLEMENTATIONS:
        report.notes.append(f"{impl!r} attention: these checks describe eager/sdpa semantics.")
    if mask is None:
        report.interpretation = "no mask: every query attends to every key"
        report.semantics = "-"
        allowed = torch.ones(1, 1, 1, length, dtype=torch.bool)
    elif not is_tensor:
        report.problems.append(f"attention_mask must be a torch.Tensor; got {type(mask).__name__}.")
        report.fixes.append(FIX_4D)
        allowed = None
    elif mask.ndim == 2:
        allowed = _check_2d(report, mask, batch, length)
    elif mask.ndim == 4:
        allowed = _check_4d(report, mask, batch, heads, length, impl, model.dtype)
        if causal:
            report.notes.append("The model is causal, but a 4-D mask replaces its causal mask.")
    else:
        report.interpretation = f"{mask.ndim}-D masks are not accepted by transformers."
        report.semantics = "-"
        report.problems.append(
            f"{mask.ndim}-D attention_mask {tuple(mask.shape)}: transformers accepts only 2-D "
            "(batch, key) padding masks or 4-D (batch, heads, query, key) masks; this fails "
            + ("with an IndexError." if mask.ndim == 1 else "inside mask creation (expand error).")
        )
        report.fixes += [FIX_4D, FIX_PADDING]
        allowed = None
    if allowed is not None:
        if causal and (mask is None or mask.ndim == 2):
            allowed = allowed & torch.ones(length, length, dtype=torch.bool).tril()
        full = torch.broadcast_to(allowed, (batch, allowed.shape[1], length, length))
        report.blocked_pairs, report.total_pairs = int((~full).sum()), full.numel()
        report.empty_rows = int(empty_rows(full).sum())
        if report.empty_rows and impl in _EMPTY_ROW_EFFECT:
            report.notes.append(
                f"{report.empty_rows} queries have no allowed key: {_EMPTY_ROW_EFFECT[impl]}."
            )
    return report


def validate_attention_mask(model, input_ids: torch.Tensor, attention_mask) -> MaskReport:
    """:func:`check_attention_mask`, then :meth:`MaskReport.raise_for_traps`.

    Raises:
        MaskError: naming each trap and its fix.
    """
    return check_attention_mask(model, input_ids, attention_mask).raise_for_traps()
