"""Convert masks to what a Hugging Face model needs: ``to_hf_mask``.

True = may attend; additive masks use ``torch.finfo(dtype).min``. See the package docstring.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref

import torch

from ..attention_masks import (
    EMPTY_ROW_POLICIES,
    MaskError,
    MaskRule,
    empty_rows,
    fix_empty_rows,
    to_additive,
)

SUPPORTED_IMPLEMENTATIONS = ("eager", "sdpa")
FIX_4D = (
    "Build a 4-D mask with dynmask_viz.hf.to_hf_mask(rule_or_bool_mask, model, "
    "input_ids=input_ids, attention_mask=padding_mask): it returns [B, 1, Q, K] in the form "
    "this attention implementation needs (additive finfo.min for eager, bool for sdpa)."
)


_CAUSAL_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class EmptyRowWarning(UserWarning):
    """Some queries could attend to nothing; the ``on_empty_row`` policy was applied."""


def attn_implementation(model) -> str:
    """The model's attention implementation, e.g. ``"eager"`` or ``"sdpa"``.

    Raises:
        TypeError: ``model`` is not a transformers model (no ``config._attn_implementation``).
    """
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if not isinstance(impl, str):
        raise TypeError(
            "model must be a transformers model (with config._attn_implementation), e.g. "
            f"dynmask_viz.hf.load_model(); got {type(model).__name__}."
        )
    return impl


def is_causal_model(model) -> bool:
    """Whether ``model`` applies a causal mask itself (GPT-2, Llama, BERT as a decoder...).

    A 4-D mask replaces the model's own causal mask entirely, so ``to_hf_mask`` must add it.
    """
    attn_implementation(model)  # a clear TypeError for anything that is not a model
    if getattr(model.config, "is_decoder", False):
        return True
    # Walking every module costs ~1 ms, on every extract_attention call: remembered per model
    # (modules do not change their causality; the config flag above is read every time).
    try:
        return _CAUSAL_MODULES[model]
    except (KeyError, TypeError):
        causal = any(getattr(m, "is_causal", False) is True for m in model.modules())
        with contextlib.suppress(TypeError):  # an object that takes no weak reference
            _CAUSAL_MODULES[model] = causal
        return causal


def _inputs(input_ids, attention_mask) -> tuple[int, int, torch.Tensor | None]:
    ref, name = (input_ids, "input_ids") if input_ids is not None else (attention_mask, "attention_mask")
    if ref is None:
        raise MaskError("pass input_ids [batch, seq_len] and/or a 2-D padding attention_mask.")
    if not isinstance(ref, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [batch, seq_len]; got {_describe(ref)}.")
    if ref.ndim != 2 or ref.is_floating_point() or ref.is_complex():
        raise MaskError(
            f"{name} must be an integer (or bool) tensor [batch, seq_len]; got "
            f"{_describe(ref)}. For one sequence use {name}[None]."
        )
    batch, length = ref.shape
    if batch == 0 or length == 0:
        raise MaskError(f"{name} must hold at least one token of one example; got shape {(batch, length)}.")
    if attention_mask is None:
        return batch, length, None
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be None or a torch.Tensor; got {_describe(attention_mask)}.")
    if tuple(attention_mask.shape) != (batch, length):
        raise MaskError(
            f"attention_mask must be the (batch, key) padding mask {(batch, length)} of "
            f"input_ids (1 = real token); got {_describe(attention_mask)}. Pass a (query, "
            "key) pattern as the first argument of to_hf_mask instead."
        )
    if attention_mask.dtype != torch.bool and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise MaskError(
            "attention_mask must hold only 0/1 or True/False (1 = real token); got other values "
            "(an additive mask?). Pass the tokenizer's padding mask."
        )
    return batch, length, attention_mask.to(torch.bool)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _dense(mask: torch.Tensor, batch: int, heads: int, length: int) -> torch.Tensor:
    """``mask`` as bool ``[1|B, 1|H, L, L]``; every problem it has is reported at once."""
    shaped = mask[None, None] if mask.ndim == 2 else mask
    problems = []  # the most fundamental first: a mask of the wrong size is wrong whatever its dtype
    if shaped.ndim != 4:
        problems.append(
            f"mask must be [Q, K] or [1|B, 1|H, Q, K]; got shape {tuple(mask.shape)}."
            + (" For [B, Q, K] pass mask[:, None]." if mask.ndim == 3 else "")
        )
    else:
        b, h, q, k = shaped.shape
        if (q, k) != (length, length):
            problems.append(
                f"mask covers {q} queries x {k} keys but the input has {length} tokens: build "
                f"it for all {length} tokens (special tokens included), e.g. from a MaskRule."
            )
        if b not in (1, batch) or h not in (1, heads):
            problems.append(
                f"mask [{b}, {h}, {q}, {k}] cannot broadcast over batch={batch} and "
                f"heads={heads}: its first dim must be {' or '.join(map(str, sorted({1, batch})))}, "
                f"its second {' or '.join(map(str, sorted({1, heads})))}."
            )
    if mask.dtype != torch.bool:
        problems.append(
            f"mask must be a MaskRule or a bool mask (True = may attend); got {mask.dtype}. "
            "For a 0/1 mask pass mask.bool(); check a ready additive mask with "
            "check_attention_mask(model, input_ids, mask) and give it to the model as is."
        )
    if problems:
        raise MaskError(
            " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1)) if len(problems) > 1 else problems[0]
        )
    return shaped


def _uniform_fill(dtype: torch.dtype) -> torch.Tensor:
    """The additive value of the keys an ``on_empty_row="uniform"`` row spreads over.

    ``0.75 * finfo.min``: blocked by every test (``<= BLOCKED_BELOW``), so the row still counts
    as empty, and large enough that adding a score leaves the same number for every key (the
    score is absorbed by rounding), hence equal softmax weights. Unlike ``finfo.min`` itself
    it cannot overflow to ``-inf`` in float16 (``finfo.min + s`` does for a score
    ``s < -16``, and a row of ``-inf`` is NaN). In float16 the rounding step there is 32, so
    scores within +-16 are absorbed exactly; larger scores leave the weights only near uniform
    (``extract_attention`` warns when that happens).
    """
    return torch.tensor(0.75 * torch.finfo(dtype).min, dtype=dtype)


def to_hf_mask(
    mask: MaskRule | torch.Tensor,
    model,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    *,
    on_empty_row: str = "keep_self",
    causal: bool | None = None,
) -> torch.Tensor:
    """The 4-D mask that makes ``model`` attend exactly where ``mask`` is True.

    Combined with the *structural* mask: padding (a key that is padding is never attended)
    and, when the model is causal, causality (a 4-D mask replaces the model's own); expanded
    over the batch, in the model's dtype and device.

    Decoders and rules that look ahead: with ``causal=None`` a causal model gets its causal
    mask added, *unless* the rule lets queries see later keys on purpose
    (:attr:`~dynmask_viz.attention_masks.MaskRule.looks_ahead`: ``prefix_lm``,
    ``sliding_window(causal=False)``, ``global_tokens``, or any ``&``/``|`` containing one).
    Such a rule is applied as :meth:`~dynmask_viz.attention_masks.MaskRule.for_decoder` gives
    it: only its look-ahead parts see later keys, so ``to_hf_mask(prefix_lm(4), gpt2, ids)`` is
    the prefix-LM mask, not plain causal, while ``document(ids) | prefix_lm(2)`` keeps each
    document causal. ``full()``, a bool tensor and data rules add nothing ahead: a decoder
    stays causal under them. ``causal=True`` or ``False`` decides explicitly.

    Empty rows, queries the combined mask leaves with no key, follow ``on_empty_row``:

    * ``"keep_self"`` (default): the query attends to itself only; an
      :class:`EmptyRowWarning` counts such rows.
    * ``"uniform"``: the query spreads its weight *equally over the keys the structural
      mask allows* (its example's real tokens; with causality only those up to itself),
      never onto padding (nor, with causality, future tokens), so the result does not depend
      on the batch's padding. Applied silently.
    * ``"raise"``: :class:`MaskError` naming the first empty rows.

    A padding query whose row is empty (the first slots of a left-padded decoder row, or a
    padding slot outside a sliding window) attends to itself whatever the policy, silently:
    its output is never read, but it must stay finite (a row with no key is NaN in float16),
    and it is not a problem of the mask, so it is neither warned about nor refused.

    Left padding: a rule that reads absolute positions (``prefix_lm``, ``global_tokens`` by
    position) is evaluated at each text's own positions, so a left-padded text gets the mask
    it gets alone (see :meth:`MaskRule.dense`'s ``starts``). A bool tensor mask, and rules
    built from per-token data, are read by slot (the padded batch's coordinates).

    Args:
        mask: A :class:`MaskRule` or a bool mask (True = may attend) ``[Q, K]`` or
            ``[1|B, 1|H, Q, K]``; size-1 dims broadcast.
        model: A transformers model whose ``config._attn_implementation`` is eager or sdpa.
        input_ids: ``[B, L]``, gives the batch size and length.
        attention_mask: Optional ``[B, L]`` padding mask, 1/True = real token.
        on_empty_row: ``"keep_self"``, ``"uniform"`` or ``"raise"`` (see above).
        causal: Also apply a causal mask. ``None`` (default): when the model is causal and
            ``mask`` is not a rule that looks ahead (see above).

    Returns:
        ``[B, 1|H, L, L]``: additive float in the model's dtype for eager (0 = attend,
        ``finfo.min`` = blocked, ``0.75 * finfo.min`` on the keys of a ``"uniform"`` row);
        bool (True = may attend) for sdpa, additive too when ``"uniform"`` rows exist.

    Raises:
        MaskError: An unsupported implementation, a mask that does not fit the input, or
            empty rows under ``"raise"``.
        TypeError: ``mask`` or ``model`` of the wrong type.
    """
    impl = attn_implementation(model)
    if impl not in SUPPORTED_IMPLEMENTATIONS:
        raise MaskError(
            f"to_hf_mask supports attn_implementation {SUPPORTED_IMPLEMENTATIONS}; the model "
            f"uses {impl!r}. Load it with attn_implementation='eager' (needed for attentions)."
        )
    if not isinstance(on_empty_row, str) or on_empty_row not in EMPTY_ROW_POLICIES:
        raise MaskError(f"on_empty_row must be one of {EMPTY_ROW_POLICIES}; got {on_empty_row!r}.")
    if causal is not None and not isinstance(causal, bool):
        raise TypeError(f"causal must be None (the model decides), True or False; got {causal!r}.")
    if not isinstance(mask, (MaskRule, torch.Tensor)):
        raise TypeError(
            f"mask must be a MaskRule or a bool tensor (True = may attend); got {type(mask).__name__}."
        )
    batch, length, pad = _inputs(input_ids, attention_mask)
    heads, device = model.config.num_attention_heads, model.device
    if causal is None and isinstance(mask, MaskRule) and mask.looks_ahead and is_causal_model(model):
        mask, causal = mask.for_decoder(), False  # causality is inside the decoder view
    if isinstance(mask, MaskRule):
        # The slot of each example's first real token: non-zero only under left padding.
        starts = None if pad is None else (pad.to(torch.long).cumsum(-1) == 0).sum(-1)
        allowed = mask.dense(
            batch, heads if mask.per_head else 1, length, length, device=device, starts=starts
        )
    else:
        allowed = _dense(mask, batch, heads, length).to(device)
    structural = torch.ones(batch, 1, length, length, dtype=torch.bool, device=device)
    if pad is not None:
        structural &= pad.to(device)[:, None, None, :]
    if causal is None:
        causal = is_causal_model(model)
    if causal:
        structural &= torch.ones(length, length, dtype=torch.bool, device=device).tril()
    # Queries with no structural key (padding before any real token) attend to themselves.
    orphans = ~structural.any(-1, keepdim=True) & torch.eye(length, dtype=torch.bool, device=device)
    structural |= orphans
    allowed = ((allowed & structural) | orphans).expand(batch, -1, -1, -1)
    if pad is not None:  # padding queries with no key attend to themselves, silently
        padding_query = ~pad.to(device)[:, None, :, None]
        allowed = allowed | (
            padding_query
            & ~allowed.any(-1, keepdim=True)
            & torch.eye(length, dtype=torch.bool, device=device)
        )
    empty = empty_rows(allowed)
    if on_empty_row != "uniform":  # "uniform" rows stay empty here; their keys are set below
        allowed, empty = fix_empty_rows(allowed, on_empty_row)
    if on_empty_row == "keep_self" and bool(empty.any()):
        warnings.warn(
            f"{int(empty.sum())} query row(s) could attend to nothing; they now attend to "
            "themselves (on_empty_row='keep_self').",
            EmptyRowWarning,
            stacklevel=2,
        )
    uniform = on_empty_row == "uniform" and bool(empty.any())
    if impl == "sdpa" and not uniform:
        return allowed
    additive = to_additive(allowed, model.dtype)
    if uniform:
        spread = empty[..., None] & structural  # [B, 1|H, L, L]: the structural keys of empty rows
        additive = additive.masked_fill(spread, _uniform_fill(model.dtype))
    return additive
