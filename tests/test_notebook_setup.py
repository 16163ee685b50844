"""Tests for :func:`dynmask_viz.teaching.setup_notebook` (the first cell of every notebook)."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import random
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import dynmask_viz
from dynmask_viz.plots import font_families
from dynmask_viz.plots._style import CJK_FONTS
from dynmask_viz.teaching import NotebookContext, setup_notebook


@pytest.fixture(autouse=True)
def _restore_global_state():
    """setup_notebook mutates rcParams and global RNGs on purpose; undo that after each test."""
    rc = matplotlib.rcParams.copy()
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying back deprecated rcParams may warn
        matplotlib.rcParams.update(rc)
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(4).tolist()


def test_same_seed_same_random_numbers():
    setup_notebook(seed=123, style=False)
    first = _draws()
    setup_notebook(seed=123, style=False)
    assert _draws() == first
    setup_notebook(seed=124, style=False)
    other = _draws()
    assert all(a != b for a, b in zip(other, first, strict=True))


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", " Yes "])
def test_fast_from_env_on(monkeypatch, value):
    monkeypatch.setenv("DYNMASK_FAST", value)
    assert setup_notebook(style=False).fast is True


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off"])
def test_fast_from_env_off(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("DYNMASK_FAST", raising=False)
    else:
        monkeypatch.setenv("DYNMASK_FAST", value)
    assert setup_notebook(style=False).fast is False


def test_fast_argument_overrides_env(monkeypatch):
    monkeypatch.setenv("DYNMASK_FAST", "1")
    assert setup_notebook(fast=False, style=False).fast is False
    monkeypatch.setenv("DYNMASK_FAST", "0")
    assert setup_notebook(fast=True, style=False).fast is True


def test_returns_frozen_context_with_versions(capsys):
    ctx = setup_notebook(seed=7, fast=True, style=False)
    assert isinstance(ctx, NotebookContext)
    assert (ctx.seed, ctx.fast) == (7, True)
    assert ctx.versions["dynmask-viz"] == dynmask_viz.__version__
    assert ctx.versions["torch"] == torch.__version__
    assert set(ctx.versions) == {"dynmask-viz", "python", "torch", "transformers"}
    assert all(ctx.versions.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.fast = False  # type: ignore[misc]
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) <= 3, "banner should stay compact"
    for needle in ("dynmask-viz", "python", "torch", "transformers", "device", "FAST on", "seed 7"):
        assert needle in out


def test_device_default_and_explicit():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert setup_notebook(style=False).device == expected
    assert setup_notebook(device="cpu", style=False).device == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda_raises():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        setup_notebook(device="cuda", style=False)


def test_does_not_touch_environment(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = dict(os.environ)
    setup_notebook()
    assert dict(os.environ) == before


def test_style_applied():
    setup_notebook()
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] == 110
    assert rc["axes.titlesize"] == 12
    assert rc["font.family"][0] == "DejaVu Sans"  # CJK fonts follow as per-glyph fallback
    assert rc["font.sans-serif"][: len(rc["font.family"])] == rc["font.family"]


def test_style_false_leaves_rcparams_alone():
    before = dict(matplotlib.rcParams)
    setup_notebook(style=False)
    assert dict(matplotlib.rcParams) == before


def test_font_families_fall_back_to_installed_cjk():
    assert font_families(set()) == ["DejaVu Sans"]
    assert font_families({"DejaVu Sans", "Arial"}) == ["DejaVu Sans"]
    assert font_families({"WenQuanYi Zen Hei", "Noto Sans CJK SC"}) == [
        "DejaVu Sans",
        "Noto Sans CJK SC",
        "WenQuanYi Zen Hei",
    ]
    assert set(CJK_FONTS) >= {"Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei"}


def test_rendering_text_after_style_does_not_warn(caplog):
    """Whatever fonts are installed, the family list never names a missing one."""
    setup_notebook()
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([-1, 0, 1])
    ax.set(title="attention weights", xlabel="key", ylabel="query")
    with caplog.at_level(logging.WARNING, logger="matplotlib"), warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")
    assert not [r for r in caplog.records if "findfont" in r.getMessage()]


def test_scale():
    fast = NotebookContext(seed=0, fast=True, device="cpu", versions={})
    full = dataclasses.replace(fast, fast=False)
    assert fast.scale(2000, 20) == 20
    assert full.scale(2000, 20) == 2000
    assert full.scale(full=(8, 8), fast=(2, 2)) == (8, 8)


def test_cjk_token_labels_render_with_the_offline_font(recwarn):
    """make assets fetches the CJK font: Chinese/Japanese/Korean labels render, not as boxes."""
    import warnings

    from dynmask_viz.assets import is_cached
    from dynmask_viz.plots import plot_attention

    assert is_cached("cjk_font"), "make assets fetches the cjk_font asset"
    setup_notebook()
    assert "Noto Sans CJK TC" in matplotlib.rcParams["font.family"]
    tokens = ["[CLS]", "注意", "力", "マスク", "마스크", "mask", "[SEP]"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig = plot_attention(torch.full((7, 7), 1 / 7), tokens)
        fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == tokens  # drawn as text, not replaced by U+XXXX codes


def test_bold_cjk_labels_do_not_warn(caplog):
    """The CJK font has one weight: bold labels (selected tokens in the epoch grids) use it
    without a findfont warning per label."""
    setup_notebook()
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "北京大学", fontweight="bold")
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        fig.savefig(io.BytesIO(), format="png")
    assert not [r for r in caplog.records if "findfont" in r.getMessage()]
