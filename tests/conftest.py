"""Shared pytest setup: offline Hub, FAST mode, and the fixtures of the epoch-grid tests.

Other test modules add fixtures locally (a module's own ``tokenizer`` fixture overrides the
one here); keep this file small.

``HF_HUB_OFFLINE`` is defaulted to 1 at import time (before any test module imports
``huggingface_hub``/``transformers``), so no test can reach the Hub by accident.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from dynmask_viz.analysis import encode_texts, static_and_dynamic_grids
from dynmask_viz.masking import MaskingConfig, MaskingVocab


@pytest.fixture(scope="session")
def fast() -> bool:
    """True when FAST mode is on (``DYNMASK_FAST`` is 1/true/yes; ``make test`` sets it).

    Tests use it to shrink sizes, e.g. ``n = 16 if fast else 256``.
    """
    from dynmask_viz.teaching.notebook import fast_from_env

    return fast_from_env()


# --- epoch grids: test_analysis_grids.py and test_masking_plots.py ---------------------------

SENTENCE = "A central debate concerned the relation between anarchism and syndicalism (or trade unionism)."


@pytest.fixture(scope="module")
def tokenizer():
    from dynmask_viz.hf import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="module")
def model():
    """The offline default encoder (all-MiniLM-L6-v2), eager attention."""
    from dynmask_viz.hf import load_model

    return load_model()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return MaskingVocab.from_tokenizer(tokenizer)


@pytest.fixture(scope="module")
def grids(tokenizer, vocab):
    encoded = encode_texts(SENTENCE, tokenizer)
    return static_and_dynamic_grids(
        encoded, tokenizer, MaskingConfig(mlm_probability=0.3), epochs=9, dupe_factor=3, seed=0, vocab=vocab
    )
