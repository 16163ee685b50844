"""Shared look of the masking figures: the corruption palette, token labels, fonts.

Colours are Okabe-Ito (safe for colour-blind readers): unchanged (light grey), replaced by
``[MASK]`` (blue), replaced by a random token (orange), kept but still predicted (reddish
purple).
"""

from __future__ import annotations

import functools
import io

import numpy as np
from matplotlib import rcParams
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..masking import KEPT, MASKED, RANDOM, UNCHANGED

CORRUPTION_COLORS = {UNCHANGED: "#ececec", MASKED: "#0072B2", RANDOM: "#E69F00", KEPT: "#CC79A7"}
CORRUPTION_LABELS = {UNCHANGED: "unchanged", MASKED: "[MASK]", RANDOM: "random token",
                     KEPT: "kept (still predicted)"}  # fmt: skip
TEXT_COLORS = {UNCHANGED: "#6e6e6e", MASKED: "white", RANDOM: "black", KEPT: "black"}
NOT_SEEN = 4  # grid code of epochs after the one shown (widgets): drawn blank
# Overlay colour per code: unchanged cells are transparent (the faint original token shows).
OVERLAY_RGBA = np.array([(0, 0, 0, 0)] + [to_rgba(CORRUPTION_COLORS[c]) for c in (MASKED, RANDOM, KEPT)]
                         + [to_rgba("white")])  # fmt: skip
SCHEME_COLORS = {"static": "#D55E00", "dynamic": "#0072B2"}


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
    return [Patch(facecolor=CORRUPTION_COLORS[c], edgecolor="#9a9a9a", label=CORRUPTION_LABELS[c])
            for c in (UNCHANGED, MASKED, RANDOM, KEPT)]  # fmt: skip


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
