"""Shared pytest setup. Other test modules add fixtures locally; keep this file minimal.

``HF_HUB_OFFLINE`` is defaulted to 1 at import time (before any test module imports
``huggingface_hub``/``transformers``), so no test can reach the Hub by accident.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fast() -> bool:
    """True when FAST mode is on (``DYNMASK_FAST`` is 1/true/yes; ``make test`` sets it).

    Tests use it to shrink sizes, e.g. ``n = 16 if fast else 256``.
    """
    from dynmask_viz.teaching.notebook import fast_from_env

    return fast_from_env()
