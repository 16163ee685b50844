"""dynmask-viz: see, measure and use masking in Transformers.

Two meanings of "masking", taught side by side:

* MLM input masking, static vs dynamic (RoBERTa section 4.1): :mod:`dynmask_viz.masking`.
* Attention masks (which key each query may attend to): :mod:`dynmask_viz.attention_masks`.

Boolean mask convention used everywhere in this package: ``True`` means *may attend*
(attention masks) or *is selected for MLM prediction* (MLM masks). Additive masks use
``torch.finfo(dtype).min`` for blocked positions.

Layers, lowest first (a module imports only from layers below it; ``tests/test_layers.py``
enforces it): ``_hashing``/``_device`` -> ``masking``, ``attention_masks`` -> ``formulas`` ->
``assets`` -> ``hf`` -> ``analysis`` -> ``experiments`` -> ``plots`` -> ``widgets`` ->
``teaching``. See the README's Layout section.

The notebooks' import surface: every public name of the layers below is also reachable here,
``from dynmask_viz import setup_notebook, load_model, extract_attention, plot_mask_effect``,
imported on first use (``import dynmask_viz`` itself loads nothing heavy). Each name has one
home, its layer; :data:`SURFACE` says which.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Layer -> the public names it exports (its ``__all__``; tests/test_layers.py keeps them equal).
SURFACE: dict[str, tuple[str, ...]] = {
    "teaching": (
        "CheckResult",
        "NotebookContext",
        "check_bert_config",
        "check_blocked_weight_factor",
        "check_empty_row_weights",
        "check_keys_per_row",
        "check_model_mask",
        "check_previous_and_self_mask",
        "check_repeating_epochs",
        "check_share_never_masked",
        "check_times_each_mask_seen",
        "fast_from_env",
        "setup_notebook",
    ),
    "hf": (
        "AttentionResult",
        "CACHE",
        "EmptyRowWarning",
        "MaskReport",
        "MaskingEpochCallback",
        "ModelUnavailableError",
        "SUPPORTED_IMPLEMENTATIONS",
        "attn_implementation",
        "check_attention_mask",
        "ensure_eager",
        "extract_attention",
        "is_causal_model",
        "load_model",
        "load_tokenizer",
        "to_hf_mask",
        "validate_attention_mask",
    ),
    "analysis": (
        "AppliedRule",
        "CollatedEpochs",
        "EncodedText",
        "EpochGrid",
        "PARAMS",
        "RULES",
        "attention_view",
        "build_rule",
        "collate_epochs",
        "encode_texts",
        "epoch_grid_data",
        "grid_from_results",
        "mask_view",
        "masks_in_batches",
        "sentences_with_word_pieces",
        "static_and_dynamic_grids",
        "token_strings",
    ),
    "plots": (
        "CORRUPTION_COLORS",
        "MASK_COLORS",
        "SCHEME_COLORS",
        "apply_style",
        "font_families",
        "plot_attention",
        "plot_attention_steps",
        "plot_corruption_breakdown",
        "plot_downstream",
        "plot_epoch_grid",
        "plot_epoch_grids",
        "plot_exposure",
        "plot_exposure_histogram",
        "plot_layer_similarity",
        "plot_learning_curves",
        "plot_mask",
        "plot_mask_catalogue",
        "plot_mask_effect",
        "plot_memorization_gap",
        "plot_selection_counts",
        "plot_static_vs_dynamic",
        "register_cjk_font",
    ),
    "widgets": (
        "AttentionExplorer",
        "AttentionState",
        "MaskingExplorer",
        "head_view",
        "model_view",
    ),
    "masking": (
        "CORRUPTION_NAMES",
        "CorruptionBreakdown",
        "DynamicMasking",
        "ExposureStats",
        "IGNORE_INDEX",
        "KEPT",
        "MASKED",
        "MASKING_PRESETS",
        "MLMCollator",
        "MaskedBatch",
        "MaskingConfig",
        "MaskingVocab",
        "RANDOM",
        "StaticMasking",
        "UNCHANGED",
        "candidate_mask",
        "corruption_breakdown",
        "corruption_from_labels",
        "exposure",
        "make_masking",
        "mask_batch",
        "normalize_word_ids",
        "selection_counts",
        "span_ids_from_words",
        "theoretical_ever_masked",
        "times_masked_pmf",
        "word_ids_from_offsets",
        "word_ids_from_vocab",
    ),
    "attention_masks": (
        "BLOCKED_BELOW",
        "EMPTY_ROW_POLICIES",
        "ENGLISH_STOPWORDS",
        "MaskError",
        "MaskRule",
        "and_rules",
        "causal",
        "coordinate_hash",
        "document",
        "drop_stopwords",
        "drop_tokens",
        "empty_rows",
        "fix_empty_rows",
        "full",
        "global_tokens",
        "is_blocked",
        "keep_tokens",
        "not_rule",
        "or_rules",
        "padding",
        "prefix_lm",
        "random_drop",
        "score_threshold",
        "sliding_window",
        "stopword_keep_mask",
        "to_additive",
        "topk_keys",
    ),
    "formulas": (
        "AttentionSteps",
        "attention_from_hidden",
        "attention_steps",
        "demo_minus_inf_row",
    ),
    "assets": (
        "ASSETS",
        "AssetIntegrityError",
        "AssetSpec",
        "AssetUnavailableError",
        "LabeledSnippet",
        "WikiArticle",
        "asset_dir",
        "asset_path",
        "cache_dir",
        "cjk_font_path",
        "clean_wikitext",
        "default_model_dir",
        "enwiki_dump_path",
        "fetch_asset",
        "is_cached",
        "iter_sentences",
        "lee_corpus_path",
        "load_rotten_tomatoes",
        "load_wiki_articles",
        "rotten_tomatoes_path",
        "sha256_file",
        "split_articles",
        "verify_asset",
    ),
}
_HOME = {name: layer for layer, names in SURFACE.items() for name in names}


def __getattr__(name: str):
    layer = _HOME.get(name)
    if layer is None:
        raise AttributeError(f"module 'dynmask_viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{layer}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
