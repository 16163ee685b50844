"""Attention extraction: the weights a Hugging Face model really used, under the mask you meant.

Boolean convention: True = *the query may attend to the key*.

``extract_attention`` forces eager attention (transformers 5 returns ``attentions=()`` under
SDPA without an error), builds the 4-D mask the model needs with
:func:`dynmask_viz.hf.to_hf_mask`, and caches forward passes (:mod:`.cache`: keyed by value,
returning copies) so interactive widgets can change the layer or head without running the
model again. Inputs the model cannot take (no token, more tokens than positions) are refused
before the forward pass (:mod:`.encoding`).
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field

import torch

from ..attention_masks import EMPTY_ROW_POLICIES, MaskError, MaskRule, full, is_blocked
from .cache import CACHE, fingerprint
from .encoding import as_texts, encode, has_left_padding, position_ids, position_limit
from .masks import EmptyRowWarning, attn_implementation, is_causal_model, to_hf_mask

# In float16 a "uniform" row is uniform only where the scores are absorbed by the mask value
# (see masks._uniform_fill); beyond this deviation extract_attention says so.
_UNIFORM_TOLERANCE = 1e-3


@dataclass
class AttentionResult:
    """What one forward pass attended to.

    Positions: row ``b`` of the batch holds ``L`` slots, ``n_b`` of them real tokens, at the
    start (right padding) or at the end (left padding); ``padding_mask`` says which.
    :meth:`example`, :meth:`mask_of` and :meth:`to_bertviz` pick the real positions.

    Attributes:
        tokens: Per example, the token strings without padding (``len(tokens[b]) = n_b``).
        input_ids: ``[B, L]`` token ids fed to the model.
        padding_mask: ``[B, L]`` bool, True on real tokens.
        attentions: ``[B, layers, heads, L, L]`` float32 attention weights (rows sum to 1).
        applied_mask: ``[B, 1|heads, L, L]`` bool, True = the query was allowed to attend to the
            key: the mask actually applied (your rule combined with padding, the causal mask of
            a decoder and the empty-row policy; a ``"uniform"`` row shows the keys it spreads
            over).
        model_mask: The ``attention_mask`` passed to the model (2-D padding or 4-D).
        outputs: The model's outputs (``hidden_states`` included).
        rule: Name of the mask rule, ``"padding"`` when none was given.
        truncated: Per example, how many tokens ``max_length`` cut (all 0 without it).
    """

    tokens: list[list[str]]
    input_ids: torch.Tensor
    padding_mask: torch.Tensor
    attentions: torch.Tensor
    applied_mask: torch.Tensor
    model_mask: torch.Tensor
    outputs: object = field(repr=False)
    rule: str = "padding"
    truncated: list[int] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[1]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[2]

    def _positions(self, index: int) -> tuple[int, torch.Tensor]:
        """``(index, [n] positions of the real tokens)``; ``index`` may count from the end."""
        batch = self.attentions.shape[0]
        if isinstance(index, bool) or not isinstance(index, int) or not -batch <= index < batch:
            raise IndexError(f"index must be an int in [-{batch}, {batch}) (the example); got {index!r}.")
        index %= batch
        return index, self.padding_mask[index].nonzero().squeeze(-1).to(self.attentions.device)

    def example(self, index: int = 0) -> torch.Tensor:
        """``[layers, heads, n, n]`` attention of example ``index`` between its real tokens."""
        index, pos = self._positions(index)
        return self.attentions[index][:, :, pos[:, None], pos]

    def mask_of(self, index: int = 0) -> torch.Tensor:
        """``[1|heads, n, n]`` bool applied mask of example ``index``, padding removed."""
        index, pos = self._positions(index)
        return self.applied_mask[index][:, pos[:, None], pos.to(self.applied_mask.device)]

    def to_bertviz(self, index: int = 0) -> tuple[tuple[torch.Tensor, ...], list[str]]:
        """``(attention, tokens)`` in bertviz's format: one ``[1, heads, n, n]`` per layer."""
        example = self.example(index)
        return tuple(layer[None] for layer in example), self.tokens[index]


def ensure_eager(model) -> None:
    """Switch ``model`` to eager attention in place when it is not already.

    Only eager attention returns attention weights in transformers 5; SDPA returns an empty
    tuple without saying so.
    """
    if attn_implementation(model) != "eager":
        model.set_attn_implementation("eager")
    if attn_implementation(model) != "eager":
        raise MaskError(
            f"Could not switch {type(model).__name__} to eager attention; load it with "
            "attn_implementation='eager' (dynmask_viz.hf.load_model does by default)."
        )


def _check_options(mask, on_empty_row, use_cache, causal) -> None:
    if mask is not None and not isinstance(mask, (MaskRule, torch.Tensor)):
        raise TypeError(
            f"mask must be None, a MaskRule or a bool tensor (True = may attend); got {type(mask).__name__}."
        )
    if not isinstance(on_empty_row, str) or on_empty_row not in EMPTY_ROW_POLICIES:
        raise ValueError(f"on_empty_row must be one of {EMPTY_ROW_POLICIES}; got {on_empty_row!r}.")
    if not isinstance(use_cache, bool):
        raise TypeError(f"use_cache must be True or False; got {use_cache!r}.")
    if causal is not None and not isinstance(causal, bool):
        raise TypeError(f"causal must be None (the model and rule decide), True or False; got {causal!r}.")


@torch.no_grad()
def extract_attention(
    model,
    tokenizer,
    text_or_batch: str | list[str],
    mask: MaskRule | torch.Tensor | None = None,
    *,
    max_length: int | None = None,
    on_empty_row: str = "keep_self",
    use_cache: bool = True,
    causal: bool | None = None,
) -> AttentionResult:
    """Run ``model`` on text and return every layer's attention under ``mask``.

    Left padding (``tokenizer.padding_side = "left"``) is handled: positions are numbered
    from each text's first real token and the model gets its mask from ``to_hf_mask`` (so a
    padding slot never becomes a NaN row in float16). Rules that read absolute positions
    (``prefix_lm``, ``global_tokens``) are evaluated at each text's own positions, so every
    example matches its text run alone, with either padding side, for every rule except
    ``random_drop`` (keyed by slot coordinates and batch index). A bool tensor mask, and rules
    built from per-token data (``keep_tokens``, ``document``...), are read by slot, the padded
    batch's coordinates.

    A decoder keeps its causal mask under ``full()``, a bool tensor and data rules; the parts
    of a rule that look ahead on purpose (``prefix_lm``, ``sliding_window(causal=False)``,
    ``global_tokens``) see later keys, so a decoder given ``prefix_lm(4)`` attends
    bidirectionally over the prefix (see :func:`~dynmask_viz.hf.to_hf_mask`).

    Args:
        model: A transformers encoder (BERT, RoBERTa, DistilBERT, MiniLM...) or decoder
            (GPT-2, Llama...) model; switched to eager attention in place if needed.
        tokenizer: Its tokenizer.
        text_or_batch: One text or a list of texts (padded together).
        mask: None (padding, plus causal for decoders, as the model does by itself), a
            :class:`~dynmask_viz.attention_masks.MaskRule`, or a bool tensor (True = may
            attend) ``[L, L]`` or ``[1|B, 1|H, L, L]``; combined with padding and, as
            ``causal`` says, causality.
        max_length: None: a text longer than the model's positions is refused. An int:
            truncate every text to that many tokens (special tokens included), with a
            ``TruncationWarning`` and ``result.truncated`` saying what was cut.
        on_empty_row: Policy for queries left with no key: ``"keep_self"``, ``"uniform"``
            (equal weights over the keys padding and causality allow) or ``"raise"``; see
            :func:`~dynmask_viz.hf.to_hf_mask`.
        use_cache: Reuse the forward pass of identical inputs and mask (a copy is returned).
        causal: Also apply a causal mask: ``None`` (default) decides as ``to_hf_mask`` does
            (the model's causality, unless the rule looks ahead); True or False forces it.

    Returns:
        An :class:`AttentionResult`.

    Raises:
        MaskError: If the mask cannot mean what it seems to, or empty rows under "raise".
        ValueError: A text with no token or longer than the model takes, a bad
            ``max_length`` or ``on_empty_row``.
        TypeError: Arguments of the wrong type.
    """
    ensure_eager(model)
    texts = as_texts(text_or_batch)
    _check_options(mask, on_empty_row, use_cache, causal)
    limit, source = position_limit(model, tokenizer)
    encoded, truncated = encode(tokenizer, texts, max_length, limit, source)
    input_ids = encoded["input_ids"].to(model.device)
    padding = encoded["attention_mask"].to(model.device)
    left = has_left_padding(padding)
    rule_name = "padding" if mask is None else str(mask) if isinstance(mask, MaskRule) else "custom"
    if mask is None and not left and causal is None:
        model_mask = padding
        allowed = padding.bool()[:, None, None, :].expand(-1, 1, input_ids.shape[1], -1)
        if is_causal_model(model):
            allowed = allowed & torch.ones_like(allowed[0, 0]).tril()
    else:
        # Left padding without a rule too: the model's own mask would leave the first padding
        # slots of a decoder row with no key, NaN in float16; to_hf_mask keeps them finite.
        model_mask = to_hf_mask(
            full() if mask is None else mask,
            model,
            input_ids,
            padding,
            on_empty_row=on_empty_row,
            causal=causal,
        )
        if model_mask.dtype == torch.bool:
            allowed = model_mask
        else:  # finfo.min = blocked; 0 and the "uniform" rows' keys (0.75 * finfo.min) count
            allowed = model_mask > torch.finfo(model_mask.dtype).min

    key = (
        id(model),
        id(tokenizer),
        str(model.device),
        model.dtype,
        rule_name,
        on_empty_row,
        tuple(truncated),
        fingerprint(input_ids, padding, model_mask),
    )
    owners = (model, tokenizer)
    if use_cache and (cached := CACHE.get(key, owners)) is not None:
        return cached

    model.eval()  # only before a forward pass: a cache hit leaves the model as it is (and is fast)
    extra = {}
    forward_args = _forward_args(model)
    # Only models with a token-type table (BERT family) get them: GPT-2's forward accepts
    # token_type_ids too, but embeds them with its word embeddings.
    if (
        "token_type_ids" in encoded
        and getattr(model.config, "type_vocab_size", 0)
        and "token_type_ids" in forward_args
    ):
        extra["token_type_ids"] = encoded["token_type_ids"].to(model.device)
    if left and "position_ids" in forward_args:
        extra["position_ids"] = position_ids(padding)
    if "use_cache" in forward_args:
        extra["use_cache"] = False  # no key/value cache: nothing to generate, nothing to share
    outputs = model(
        input_ids=input_ids,
        attention_mask=model_mask,
        output_attentions=True,
        output_hidden_states=True,
        **extra,
    )
    if not outputs.attentions:
        raise MaskError(
            "The model returned no attention weights (attentions=()). It must run with eager "
            "attention: load it with attn_implementation='eager'."
        )
    tokens = [
        tokenizer.convert_ids_to_tokens(ids[padding[b].bool()].tolist()) for b, ids in enumerate(input_ids)
    ]
    result = AttentionResult(
        tokens=tokens,
        input_ids=input_ids,
        padding_mask=padding.bool(),
        attentions=torch.stack(outputs.attentions, dim=1).float(),
        applied_mask=allowed,
        model_mask=model_mask,
        outputs=outputs,
        rule=rule_name,
        truncated=truncated,
    )
    _check_uniform_rows(result, on_empty_row)
    if use_cache:
        CACHE.put(key, owners, result)
    return result


def _check_uniform_rows(result: AttentionResult, on_empty_row: str) -> None:
    """Warn when ``"uniform"`` rows came out visibly non-uniform (float16, scores beyond +-16)."""
    mask = result.model_mask
    if on_empty_row != "uniform" or mask.ndim != 4 or not mask.is_floating_point():
        return
    rows = is_blocked(mask).all(-1)  # [B, 1|H, L]: rows with no key at 0 are the uniform ones
    if not bool(rows.any()):
        return
    keys = result.applied_mask.expand(-1, result.num_heads, -1, -1)
    expected = keys / keys.sum(-1, keepdim=True).clamp(min=1)  # equal weights over their keys
    chosen = rows.expand(-1, result.num_heads, -1)[:, None].expand_as(result.attentions[..., 0])
    gap = (result.attentions - expected[:, None])[chosen].abs().max()
    if float(gap) > _UNIFORM_TOLERANCE:
        warnings.warn(
            f"on_empty_row='uniform' rows are only near uniform (weights off by up to {float(gap):.3g}): "
            f"in {result.model_mask.dtype} the mask absorbs scores only within +-16. "
            "Run the model in float32 or bfloat16 for exactly equal weights.",
            EmptyRowWarning,
            stacklevel=3,
        )


def _forward_args(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)
