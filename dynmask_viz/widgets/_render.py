"""Fast re-rendering of a matplotlib figure to PNG bytes for widgets (blitting + text stamps).

A full ``savefig`` of a figure with hundreds of texts takes ~300 ms, almost all of it
FreeType rendering glyphs. Widgets change only a few artists per interaction, so
:class:`BlitRenderer` draws the unchanging part once, caches its pixels, and per frame
restores them and draws only the *dynamic* artists. Texts among those are *stamped*: the
first time a given (text, style, background) is drawn its pixels are cached, and later
frames copy them into place (a numpy slice) instead of rendering the glyphs again.
"""

from __future__ import annotations

import io
import math

import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

_MAX_STAMPS = 4096  # a bounded cache: random replacements can bring many distinct strings


class BlitRenderer:
    """Render ``figure`` to PNG, redrawing only ``dynamic()`` artists after the first frame.

    Args:
        figure: A laid-out ``Figure``; its layout engine is frozen after the first draw, so
            repaints keep the positions.
        dynamic: Callable returning the artists that may change, in drawing order; every
            artist it may ever return must be among those it returns at construction.
        painted: Artists left out of the cached layer that :meth:`png` does not draw either,
            because its ``prepaint`` callback writes their pixels directly (e.g. cell colours).
        dpi: Resolution of the PNG.
    """

    def __init__(self, figure, dynamic, *, painted=(), dpi: int = 80) -> None:
        self.figure, self._dynamic = figure, dynamic
        figure.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(figure)
        artists = [*dynamic(), *painted]
        for artist in artists:
            artist.set_animated(True)  # left out of the full draw below
        self.canvas.draw()  # runs the layout engine once...
        figure.set_layout_engine("none")  # ...then freezes it
        self._background = self.canvas.copy_from_bbox(figure.bbox)
        for artist in artists:
            artist.set_animated(False)  # so that figure.savefig(...) still shows everything
        self._renderer = self.canvas.get_renderer()
        self._stamps: dict = {}

    @property
    def height(self) -> int:
        """Height of the canvas in pixels."""
        return self.canvas.get_width_height()[1]

    def png(self, background_of=None, prepaint=None) -> bytes:
        """Draw the current frame and return it as PNG bytes.

        Args:
            background_of: Optional callable ``Text -> hashable``: what lies under that text
                (e.g. a cell's corruption code). Texts with a key are stamped from the cache;
                texts without one (``None``) are always rendered.
            prepaint: Optional callable ``pixels -> None`` writing into the ``[H, W, 4]`` uint8
                RGBA buffer after the cached layer is restored, before the dynamic artists.
        """
        self.canvas.restore_region(self._background)
        pixels = np.asarray(self.canvas.buffer_rgba())
        if prepaint is not None:
            prepaint(pixels)
        for artist in self._dynamic():
            under = background_of(artist) if background_of and isinstance(artist, Text) else None
            if under is None or not artist.get_visible():
                self.figure.draw_artist(artist)
            else:
                self._stamp(artist, under, pixels)
        height, width = pixels.shape[:2]
        image = PIL.Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)  # speed over size
        return buffer.getvalue()

    def _stamp(self, text: Text, under, pixels: np.ndarray) -> None:
        height = pixels.shape[0]
        x, y = text.get_transform().transform(text.get_position())
        anchor = (round(height - y), round(x))  # row, column of the text's anchor in pixels
        key = (
            text.get_text(),
            text.get_color(),
            text.get_fontsize(),
            text.get_rotation(),
            text.get_fontweight(),
            text.get_ha(),
            text.get_va(),
            under,
        )
        hit = self._stamps.get(key)
        if hit is None:
            self.figure.draw_artist(text)
            box = text.get_window_extent(self._renderer)
            top, bottom = height - math.ceil(box.y1) - 1, height - math.floor(box.y0) + 1
            left, right = math.floor(box.x0) - 1, math.ceil(box.x1) + 1
            if top < 0 or left < 0 or bottom > height or right > pixels.shape[1]:
                return  # partly outside the figure: never cached, always rendered
            if len(self._stamps) >= _MAX_STAMPS:
                self._stamps.clear()
            self._stamps[key] = (pixels[top:bottom, left:right].copy(), top - anchor[0], left - anchor[1])
            return
        tile, d_row, d_col = hit
        top, left = anchor[0] + d_row, anchor[1] + d_col
        if top < 0 or left < 0 or top + tile.shape[0] > height or left + tile.shape[1] > pixels.shape[1]:
            self.figure.draw_artist(text)
            return
        pixels[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
