"""The Hugging Face layer: how the package applies masks to, and reads from, transformers models.

* Loading: :func:`load_model`, :func:`load_tokenizer` (offline default, safetensors only),
  :func:`load_chinese_tokenizer` (bert-base-chinese's vocabulary, offline).
* Masks for a model: :func:`to_hf_mask`, :func:`check_attention_mask` (refuses silent traps).
* Attention extraction: :func:`extract_attention` -> :class:`AttentionResult` (eager; cached
  by value, returning copies; refuses texts the model cannot take, or truncates them with a
  :class:`TruncationWarning`; left padding handled).
* Masks each layer computes from its own scores, to train with: :func:`install_layer_mask` with
  a :class:`LayerMask` (:class:`TopKKeys`, :class:`ProbabilityThreshold`, :class:`RandomKeyDrop`,
  :class:`TokenKeep`, the learned :class:`DynamicMaskAttention`); :class:`LayerMaskRecording`.
* Reading back the 4-D mask a model builds from a 2-D one: :func:`model_attention_mask`.
* Masked-LMs that fill in ``[MASK]``: :func:`load_mlm` (``"static"`` / ``"dynamic"``, the two
  models the project pretrains and commits, offline; Hub names where cached).
* A causal LM step by step: :func:`load_causal_lm` (the committed small GPT-2 offline),
  :func:`next_token_view` (labels shifted by one), :func:`generate_with_cache` (a
  ``DynamicCache``, the mask row and attention of each generated token), :func:`verify_generation`.
* Training: :class:`MaskingEpochCallback` (sets an ``MLMCollator``'s epoch in the Trainer).


Boolean convention: True = *the query may attend to the key*. Additive masks hold 0 (attend)
or ``torch.finfo(dtype).min`` (blocked) and are added to the scaled scores.

What transformers 5.23 does with ``attention_mask`` (verified on ``BertModel``):

* **2-D** ``[batch, key]`` is *always* a padding mask: cast to bool (nonzero = real token),
  its last dim taken as the key length, row ``b`` applied to every query of example ``b``.
  It is never a (query, key) pattern: an ``(L, L)`` pattern with batch 1 silently uses row 0
  for every query, extra rows are silently ignored, a wrong width fails with "The size of
  tensor a (8) must match the size of tensor b (5)". An all-ones mask is skipped entirely.
* **3-D** fails inside mask creation (``expand(...)`` error).
* **4-D** is passed to the attention layers *as is* (the model adds no padding or causal mask
  of its own), broadcast against the ``[B, H, Q, K]`` scores. Under **eager** it is *added* to
  the scores, whatever its dtype: a bool or 0/1 mask adds +1 to allowed and +0 to blocked
  keys, so nothing is masked (blocked keys only lose a factor e). Under **sdpa** it goes to
  ``F.scaled_dot_product_attention``: bool means True = may attend, float is added, an int
  mask raises. ``sdpa`` returns ``attentions=()`` with ``output_attentions=True``.
* **Fully masked rows**: eager + ``finfo.min`` gives uniform weights (mean of the values) in
  float32; sdpa + bool (or ``-inf``) gives a zero output; eager + ``-inf`` gives NaN. In
  float16 ``finfo.min`` plus a score below -16 overflows to ``-inf``, so a fully masked row
  is NaN there too: ``to_hf_mask`` leaves no such row (every policy keeps a finite key).
"""

from .cache import CACHE
from .check import MaskReport, check_attention_mask, validate_attention_mask
from .encoding import TruncationWarning
from .extraction import AttentionResult, ensure_eager, extract_attention
from .generation import GenerationStep, GenerationTrace, generate_with_cache, verify_generation
from .layer_attention import (
    LAYER_MASK_ATTENTION,
    LayerMaskRecording,
    install_layer_mask,
    layer_mask_of,
    set_layer_mask,
)
from .layer_masks import (
    DynamicMaskAttention,
    FullAttention,
    LayerMask,
    ProbabilityThreshold,
    RandomKeyDrop,
    TokenKeep,
    TopKKeys,
)
from .loading import (
    CAUSAL_LM_DIR,
    ModelUnavailableError,
    load_causal_lm,
    load_chinese_tokenizer,
    load_model,
    load_tokenizer,
    quiet_progress_bars,
)
from .mask_capture import allowed_from_additive, captured_attention_masks, model_attention_mask
from .masks import (
    SUPPORTED_IMPLEMENTATIONS,
    EmptyRowWarning,
    attn_implementation,
    is_causal_model,
    to_hf_mask,
)
from .mlm_loading import MLM_DIRS, load_mlm
from .next_token import NextTokenView, next_token_view

__all__ = [
    "CACHE",
    "CAUSAL_LM_DIR",
    "GenerationStep",
    "GenerationTrace",
    "NextTokenView",
    "generate_with_cache",
    "next_token_view",
    "verify_generation",
    "LAYER_MASK_ATTENTION",
    "DynamicMaskAttention",
    "FullAttention",
    "LayerMask",
    "LayerMaskRecording",
    "ProbabilityThreshold",
    "RandomKeyDrop",
    "TokenKeep",
    "TopKKeys",
    "install_layer_mask",
    "layer_mask_of",
    "set_layer_mask",
    "SUPPORTED_IMPLEMENTATIONS",
    "AttentionResult",
    "EmptyRowWarning",
    "MaskReport",
    "MaskingEpochCallback",
    "ModelUnavailableError",
    "TruncationWarning",
    "attn_implementation",
    "check_attention_mask",
    "ensure_eager",
    "extract_attention",
    "is_causal_model",
    "allowed_from_additive",
    "captured_attention_masks",
    "model_attention_mask",
    "load_causal_lm",
    "load_mlm",
    "MLM_DIRS",
    "load_chinese_tokenizer",
    "load_model",
    "load_tokenizer",
    "quiet_progress_bars",
    "to_hf_mask",
    "validate_attention_mask",
]


def __getattr__(name: str):
    # MaskingEpochCallback subclasses transformers.TrainerCallback, and importing that loads the
    # Trainer's dependencies (accelerate...): only code that uses the callback pays for it.
    if name == "MaskingEpochCallback":
        from .callback import MaskingEpochCallback

        return MaskingEpochCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
