"""The one look of the package (plots/_style.py): one mask colour map everywhere, quiet fonts."""

from __future__ import annotations

import io
import logging

import matplotlib
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from dynmask_viz.plots import _style


def test_mask_colour_maps_are_the_palettes_colours():
    blocked, allowed = to_rgba(_style.MASK_COLORS["blocked"]), to_rgba(_style.MASK_COLORS["allowed"])
    for cmap in (_style.MASK_CMAP, _style.MASK_SHARE_CMAP):
        np.testing.assert_allclose(cmap(0.0), blocked)
        np.testing.assert_allclose(cmap(1.0), allowed)


def test_every_mask_painter_uses_the_one_colour_map():
    """Figures (01, 03), the mask-effect painter and the layer-keep figure draw a mask with
    the objects of _style, so "may attend" has one colour in every chapter and explorer."""
    from dynmask_viz.attention_masks import causal
    from dynmask_viz.plots import plot_mask, plot_mask_catalogue
    from dynmask_viz.plots.mask_effect import MaskEffectPainter

    mask = causal().dense(1, 1, 4)[0, 0]
    assert plot_mask(mask).axes[0].get_images()[0].cmap is _style.MASK_CMAP
    assert plot_mask_catalogue({"causal": causal()}, 4).axes[0].get_images()[0].cmap is _style.MASK_CMAP
    painter = MaskEffectPainter(["a", "b", "c"])
    assert painter.images[0].cmap is _style.MASK_SHARE_CMAP


@pytest.fixture
def regular_only_cjk_family(monkeypatch):
    """A CJK fallback family installed in one weight only (like a system Noto Sans CJK with its
    Regular file alone): DejaVu Sans's regular file listed under a CJK_FONTS name.

    The font manager's list, matplotlib's font caches and the style's own caches are restored
    afterwards.
    """
    manager = font_manager.fontManager
    family = "WenQuanYi Micro Hei"
    if any(f.name == family for f in manager.ttflist):
        pytest.skip(f"{family} is really installed here")
    dejavu = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    regular = font_manager.FontEntry(fname=dejavu, name=family, weight=400)
    monkeypatch.setattr(manager, "ttflist", [*manager.ttflist, regular])
    monkeypatch.setitem(matplotlib.rcParams, "font.family", matplotlib.rcParams["font.family"])
    monkeypatch.setitem(matplotlib.rcParams, "font.sans-serif", matplotlib.rcParams["font.sans-serif"])

    def clear_caches():
        manager._findfont_cached.cache_clear()
        _style._installed_font_families.cache_clear()
        _style._font_coverage.cache_clear()

    clear_caches()
    yield family
    monkeypatch.undo()  # the real font list back before the caches are rebuilt from it
    clear_caches()


def test_bold_text_with_a_regular_only_cjk_fallback_does_not_warn(regular_only_cjk_family, caplog):
    """matplotlib asks every family of the fallback chain for bold: a CJK family without a bold
    face logged "findfont: Failed to find font weight bold for ..." on each bold label."""
    _style.apply_style()
    assert regular_only_cjk_family in matplotlib.rcParams["font.family"]
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title("mask 注意力", fontweight="bold")
    ax.text(0.5, 0.5, "sat", fontweight="bold")
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        fig.savefig(io.BytesIO(), format="png")
    assert not [r for r in caplog.records if "findfont" in r.getMessage()]


def test_bold_faces_are_added_only_where_missing(regular_only_cjk_family):
    family = regular_only_cjk_family
    assert _style.add_bold_faces(["DejaVu Sans"]) == []  # it ships its bold face
    assert _style.add_bold_faces([family]) == [family]
    assert _style.add_bold_faces([family]) == []  # once
    found = font_manager.findfont(font_manager.FontProperties(family=family, weight="bold"))
    assert found == font_manager.findfont(font_manager.FontProperties(family=family))
