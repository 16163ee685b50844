"""The one home of the package's look: every palette, the fonts and the matplotlib style.

Colours are Okabe-Ito (safe for colour-blind readers). MLM corruption: unchanged (light
grey), replaced by ``[MASK]`` (blue), replaced by a random token (orange), kept but still
predicted (reddish purple). Static vs dynamic: vermillion vs blue. Attention masks: blue = may
attend, light grey = blocked (:data:`MASK_CMAP`, :data:`MASK_SHARE_CMAP`, in every figure and
explorer). Fonts: DejaVu Sans, then a CJK font (glyph-by-glyph fallback)
so token labels in any script render as text.
"""

from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np
from matplotlib import rcParams
from matplotlib.colors import LinearSegmentedColormap, ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..masking import KEPT, MASKED, RANDOM, UNCHANGED

CORRUPTION_COLORS = {UNCHANGED: "#ececec", MASKED: "#0072B2", RANDOM: "#E69F00", KEPT: "#CC79A7"}
CORRUPTION_LABELS = {
    UNCHANGED: "unchanged",
    MASKED: "[MASK]",
    RANDOM: "random token",
    KEPT: "kept (still predicted)",
}
TEXT_COLORS = {UNCHANGED: "#6e6e6e", MASKED: "white", RANDOM: "black", KEPT: "black"}
NOT_SEEN = 4  # grid code of epochs after the one shown (widgets): drawn blank
# Overlay colour per code: unchanged cells are transparent (the faint original token shows).
OVERLAY_RGBA = np.array(
    [(0, 0, 0, 0)] + [to_rgba(CORRUPTION_COLORS[c]) for c in (MASKED, RANDOM, KEPT)] + [to_rgba("white")]
)
# Static vs dynamic masking, in every figure (epoch grids, exposure, experiment curves).
SCHEME_COLORS = {"static": "#D55E00", "dynamic": "#0072B2"}
# Theory next to a measurement of each scheme: darker, dashed.
THEORY_COLORS = {"static": "#7a2e00", "dynamic": "black"}
# Attention masks: True = may attend (blue), False = blocked (light grey), in every figure
# and in the explorers.
MASK_COLORS = {"allowed": "#0072B2", "blocked": "#ececec"}
# The one colour map of a bool mask (0 = blocked, 1 = may attend), and of a share of heads that
# may attend (blocked to allowed, blending in between): every mask figure and explorer uses these
# two objects, so "may attend" looks the same everywhere.
MASK_CMAP = ListedColormap([MASK_COLORS["blocked"], MASK_COLORS["allowed"]], name="mask")
MASK_SHARE_CMAP = LinearSegmentedColormap.from_list(
    "mask_share", [MASK_COLORS["blocked"], MASK_COLORS["allowed"]]
)
# FlexAttention's blocks: skipped (never computed, drawn as a blocked mask cell), partial (the
# mask_mod runs inside the block) and full (computed without reading the mask).
BLOCK_COLORS = {"skipped": MASK_COLORS["blocked"], "partial": "#E69F00", "full": "#009E73"}
BLOCKED_EDGE = "#9a9a9a"  # outline of the light "blocked" patch in legends
REFERENCE_LINE = "#9a9a9a"  # a reference level (similarity 1, ...)
INK = "#222222"  # dark strokes and text on light cells
BAD_COLOR = "#bdbdbd"  # blocked (additive mask) or NaN cells in value heatmaps
# Several lines in one axes (one per mask rule): Okabe-Ito, in this order.
LINE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
# CJK-capable fonts tried first (in this order) when installed, so token strings in any script
# render; DejaVu Sans (always shipped with matplotlib) is the fallback for everything else.
CJK_FONTS = (
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
)
_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.figsize": (7.0, 4.0),
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def short_token(token: str, max_chars: int) -> str:
    """``token`` cut to ``max_chars`` characters with an ellipsis (long word pieces, URLs)."""
    return token if len(token) <= max_chars else token[: max(1, max_chars - 1)] + "\u2026"


@functools.lru_cache(maxsize=4)
def _font_coverage(families: tuple, sans: tuple) -> frozenset:
    """Code points the configured fonts can draw (the fallback chain of ``font.family``)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    names = [n for f in families for n in (sans if f == "sans-serif" else (f,))]
    covered: set[int] = set()
    for name in dict.fromkeys(names):
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
        except ValueError:
            continue
        covered.update(FT2Font(path).get_charmap())
    return frozenset(covered)


def renderable(token: str) -> str:
    """``token`` with characters no configured font has written as ``U+XXXX``.

    Random replacements can be any vocabulary entry (CJK, Thai, ...): without a font for
    them matplotlib draws boxes and warns on every draw.
    """
    if token.isascii():
        return token
    covered = _font_coverage(tuple(rcParams["font.family"]), tuple(rcParams["font.sans-serif"]))
    return "".join(ch if ord(ch) in covered else f"U+{ord(ch):04X}" for ch in token)


def legend_handles() -> list[Patch]:
    """One patch per corruption type, for ``fig.legend``."""
    return [
        Patch(facecolor=CORRUPTION_COLORS[c], edgecolor=BLOCKED_EDGE, label=CORRUPTION_LABELS[c])
        for c in (UNCHANGED, MASKED, RANDOM, KEPT)
    ]


def register_cjk_font() -> str | None:
    """Make the offline CJK font (asset ``cjk_font``) known to matplotlib, if it is cached.

    ``make assets`` fetches it; nothing is downloaded here. Returns its family name, or None.
    """
    from matplotlib import font_manager

    from ..assets import cjk_font_path, is_cached

    if not is_cached("cjk_font"):
        return None
    path = str(cjk_font_path())
    manager = font_manager.fontManager
    if not any(f.fname == path for f in manager.ttflist):
        manager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    add_bold_faces([name])  # the file has one weight (regular)
    return name


def add_bold_faces(families) -> list[str]:
    """List the regular face of each family that has no bold face as its bold face too.

    matplotlib asks *every* family of the ``font.family`` fallback chain for the weight of the
    text. A CJK fallback installed in one weight only (the offline asset, or a system
    ``Noto Sans CJK`` with its Regular file alone) would then log "findfont: Failed to find font
    weight bold for ..." on every bold label (the selected tokens of the epoch grids, titles),
    and draw it in the regular face anyway. Saying so once, here, draws the same glyphs without
    the warnings.

    Args:
        families: Font family names known to matplotlib's font manager.

    Returns:
        The families that got a bold alias (empty when each already had a bold face).
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    added = []
    for family in families:
        faces = [f for f in manager.ttflist if f.name == family and f.style == "normal"]
        # FontEntry weights are ints (from the file) or names ("bold"); an unknown name is regular.
        weights = [
            w if isinstance(w, (int, float)) else font_manager.weight_dict.get(str(w).lower(), 400)
            for w in (f.weight for f in faces)
        ]
        if not faces or any(w >= 600 for w in weights):
            continue  # unknown to matplotlib, or a real bold face exists
        regular = faces[min(range(len(faces)), key=lambda i: abs(weights[i] - 400))]
        manager.ttflist.append(dataclasses.replace(regular, weight=700))
        added.append(family)
    if added:
        manager._findfont_cached.cache_clear()  # as addfont does after changing the list
    return added


def font_families(available: set[str] | None = None) -> list[str]:
    """Font family list for matplotlib: DejaVu Sans, then installed CJK fonts as fallback.

    matplotlib falls back glyph by glyph along this list, so Latin text keeps DejaVu Sans and
    Chinese, Japanese or Korean characters (in token labels) come from the CJK font instead of
    being drawn as boxes. The offline CJK font (asset ``cjk_font``) is registered first.

    Args:
        available: Installed font family names; default: those matplotlib knows about.

    Returns:
        Only installed names, so matplotlib never warns about a missing family.
    """
    if available is None:
        return list(_installed_font_families())
    return ["DejaVu Sans"] + [name for name in CJK_FONTS if name in available]


@functools.lru_cache(maxsize=1)
def _installed_font_families() -> tuple[str, ...]:
    # Once per process: scanning matplotlib's font list on every label costs milliseconds.
    from matplotlib import font_manager

    register_cjk_font()
    families = font_families({f.name for f in font_manager.fontManager.ttflist})
    add_bold_faces(families[1:])  # the CJK fallbacks (DejaVu Sans ships its bold face)
    return tuple(families)


def apply_style() -> None:
    """Apply the package's clean, readable matplotlib rcParams."""
    import matplotlib

    families = font_families()
    matplotlib.rcParams.update(_STYLE)
    matplotlib.rcParams["font.family"] = families  # per-glyph fallback along this list
    rest = [f for f in matplotlib.rcParams["font.sans-serif"] if f not in families]
    matplotlib.rcParams["font.sans-serif"] = families + rest


class NotebookFigure(Figure):
    """A ``Figure`` that displays itself as PNG in Jupyter, whatever the backend setup.

    IPython shows a plain ``Figure`` as ``<Figure size ...>`` text unless pyplot was imported
    (that is what registers the inline formatter). Figures built without pyplot avoid leaking
    into pyplot's figure list and being shown twice; this method makes them show once.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        return buffer.getvalue()
