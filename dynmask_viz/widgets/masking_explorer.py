"""``MaskingExplorer``: static vs dynamic MLM masking of one sentence, with sliders.

The figure is rendered to PNG bytes shown in an ``ipywidgets.Image``: that renders the same
in JupyterLab, VS Code and exported notebooks, never blocks the kernel, and tests can read the
bytes. Speed (< 100 ms per change): the tokenization is cached per text, the masks of all
epochs come from one vectorized call per scheme, and the figure is built once per layout and
repainted in place (cell colours and texts) afterwards, with its layout frozen.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.

Why this module is over ~300 lines: one class whose controls, text cache, layout cache and
pixel-level repainting depend on each other. The masks come from :mod:`dynmask_viz.analysis`
and the drawing from :mod:`dynmask_viz.plots` (the grid painter); what is left is the widget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import ipywidgets as widgets
import torch

from ..analysis import EncodedText, EpochGrid, encode_texts, static_and_dynamic_grids
from ..masking import MaskingConfig, MaskingVocab
from ..plots.masking import build_grid_figure
from ._base import Explorer
from ._render import BlitRenderer

__all__ = ["ExplorerState", "MaskingExplorer", "DEFAULT_TEXT"]

# First sentence of the Wikipedia asset: real text, with word pieces (ana ##rch ##ism).
DEFAULT_TEXT = (
    "Anarchism is a political philosophy that advocates self-governed societies based on "
    "voluntary institutions."
)
MODES = ("both", "static", "dynamic")


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer shows (a snapshot; grids hold all ``epochs`` rows).

    Attributes:
        text: The sentence.
        tokens: Its ``L`` tokens (special tokens dropped).
        config: The :class:`MaskingConfig` (probability, unit; 80/10/10).
        seed: Masking seed.
        epoch: Last epoch shown (rows ``0..epoch``).
        epochs: Rows of each grid.
        dupe_factor: Distinct static masks.
        mode: ``"both"``, ``"static"`` or ``"dynamic"``.
        static: :class:`EpochGrid` of static masking (``[epochs, L]`` tensors).
        dynamic: :class:`EpochGrid` of dynamic masking.
    """

    text: str
    tokens: list[str]
    config: MaskingConfig
    seed: int
    epoch: int
    epochs: int
    dupe_factor: int
    mode: str
    static: EpochGrid
    dynamic: EpochGrid

    @property
    def static_masked(self) -> torch.Tensor:
        """``[epoch + 1, L]`` bool, True = selected, static masking, epochs shown so far."""
        return self.static.masked[: self.epoch + 1]

    @property
    def dynamic_masked(self) -> torch.Tensor:
        """``[epoch + 1, L]`` bool, True = selected, dynamic masking, epochs shown so far."""
        return self.dynamic.masked[: self.epoch + 1]

    def exposure(self) -> dict:
        """Per scheme, up to ``epoch``: masks drawn, distinct corrupted inputs, share ever masked.

        Two masks that both select nothing give the same input, so ``distinct_inputs`` can be
        below ``masks_drawn`` on short sentences with a small ``p``.
        """
        return {
            kind: {
                "masks_drawn": grid.masks_drawn(self.epoch),
                "distinct_inputs": grid.distinct_inputs(self.epoch),
                "ever_masked": round(grid.ever_masked_share(self.epoch), 4),
            }
            for kind, grid in (("static", self.static), ("dynamic", self.dynamic))
        }


class MaskingExplorer(Explorer):
    """Static vs dynamic masking of one sentence over epochs, side by side.

    Example:
        >>> explorer = MaskingExplorer(seed=0, epochs=10)  # doctest: +SKIP
        >>> explorer                 # displays the controls and the figure in a notebook
        >>> explorer.set(dupe_factor=3, unit="word")
        >>> explorer.state.static.masked.shape   # torch.Size([10, L])

    Args:
        text: The sentence (default: the first sentence of the Wikipedia asset).
        tokenizer: Hugging Face tokenizer with a mask token (default ``hf.load_tokenizer()``).
        seed: Masking seed.
        epochs: Number of epochs (rows), 1..40.
        dupe_factor: Initial number of static masks (1..10); BERT used 10 over 40 epochs.
        mlm_probability: Initial selection probability (0.05..0.5).
        unit: Initial unit, ``"token"``, ``"word"`` or ``"span"``.
        mode: ``"both"``, ``"static"`` or ``"dynamic"``.
        dpi: Resolution of the rendered PNG.
        max_length: Longer sentences are truncated to this many tokens.

    Attributes:
        controls: Name -> widget: ``text``, ``epoch``, ``probability``, ``unit``,
            ``dupe_factor``, ``mode``, ``seed``.
        widget: The top-level ``VBox`` to display.
        image: The ``ipywidgets.Image`` holding the PNG of :attr:`figure`.
        summary: ``ipywidgets.HTML`` with the exposure counts.
        last_update_s: Seconds the last :meth:`update` took.
    """

    def __init__(
        self,
        text: str | None = None,
        tokenizer=None,
        *,
        seed: int = 0,
        epochs: int = 10,
        dupe_factor: int = 4,
        mlm_probability: float = 0.15,
        unit: str = "token",
        mode: str = "both",
        dpi: int = 80,
        max_length: int = 64,
    ) -> None:
        if not isinstance(epochs, int) or not 1 <= epochs <= 40:
            raise ValueError(f"epochs must be an int in [1, 40]; got {epochs!r}.")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
        # Sliders would silently clamp out-of-range values: refuse them instead.
        if not isinstance(dupe_factor, int) or not 1 <= dupe_factor <= 10:
            raise ValueError(f"dupe_factor must be an int in [1, 10]; got {dupe_factor!r}.")
        if not 0.05 <= mlm_probability <= 0.5:
            raise ValueError(f"mlm_probability must be in [0.05, 0.5]; got {mlm_probability!r}.")
        MaskingConfig(unit=unit)  # validates the unit with the engine's own message
        if tokenizer is None:
            from ..hf import load_tokenizer

            tokenizer = load_tokenizer()
        self.tokenizer = tokenizer
        self.vocab = MaskingVocab.from_tokenizer(tokenizer)  # once: it reads the whole vocabulary
        self.epochs, self.dpi, self.max_length = epochs, dpi, max_length
        self._encoded: dict[str, EncodedText] = {}
        # (mode, text) -> (figure, painters, renderer, cells, cell edges): switching back is instant.
        self._layouts: dict = {}
        self._figure = self._renderer = None
        self._painters: list = []
        self._cells: dict = {}
        self._hold = False
        self._state: ExplorerState | None = None
        self.last_update_s = 0.0
        style = {"description_width": "initial"}
        self.controls = {
            "text": widgets.Text(
                value=text or DEFAULT_TEXT,
                description="sentence",
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width="95%"),
            ),
            "epoch": widgets.IntSlider(
                value=epochs - 1, min=0, max=epochs - 1, description="show epochs 0..", style=style
            ),
            "probability": widgets.FloatSlider(
                value=mlm_probability,
                min=0.05,
                max=0.5,
                step=0.05,
                readout_format=".2f",
                description="mask probability p",
                style=style,
            ),
            "unit": widgets.Dropdown(options=["token", "word", "span"], value=unit, description="unit"),
            "dupe_factor": widgets.IntSlider(
                value=dupe_factor, min=1, max=10, description="dupe_factor (static)", style=style
            ),
            "mode": widgets.ToggleButtons(options=list(MODES), value=mode, description="show", style=style),
            "seed": widgets.BoundedIntText(
                value=seed, min=0, max=2**31 - 1, description="seed", layout=widgets.Layout(width="160px")
            ),
        }
        self.image = widgets.Image(format="png")
        self.summary = widgets.HTML()
        self._messages = self.summary
        c = self.controls
        self.widget = widgets.VBox(
            [
                c["text"],
                widgets.HBox([c["epoch"], c["probability"], c["unit"]]),
                widgets.HBox([c["dupe_factor"], c["mode"], c["seed"]]),
                self.summary,
                self.image,
            ]
        )
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    # --- public API ---------------------------------------------------------------------

    def set(self, **values) -> ExplorerState:
        """Set several controls at once, then re-render once.

        Example: ``explorer.set(probability=0.3, unit="word", epoch=5)``.

        Raises:
            ValueError: On a name that is not a control.
        """
        self._hold = True
        try:
            self._set_controls(values)
        finally:
            self._hold = False
        self.update()
        return self._state

    def update(self) -> ExplorerState:
        """Recompute the masks from the controls and re-render the figure and the summary."""
        start = time.perf_counter()
        c = {name: w.value for name, w in self.controls.items()}
        text = c["text"].strip() or DEFAULT_TEXT
        encoded = self._encode(text)
        config = MaskingConfig(mlm_probability=round(float(c["probability"]), 4), unit=c["unit"])
        static, dynamic = static_and_dynamic_grids(
            encoded,
            self.tokenizer,
            config,
            epochs=self.epochs,
            dupe_factor=int(c["dupe_factor"]),
            seed=int(c["seed"]),
            vocab=self.vocab,
        )
        state = ExplorerState(
            text,
            static.tokens,
            config,
            int(c["seed"]),
            int(c["epoch"]),
            self.epochs,
            int(c["dupe_factor"]),
            c["mode"],
            static,
            dynamic,
        )
        self._render(state)
        self._state = state  # only once it is shown: state and figure always agree
        self.last_update_s = time.perf_counter() - start
        return self._state

    # --- internals ----------------------------------------------------------------------

    def _encode(self, text: str) -> EncodedText:
        if text not in self._encoded:
            encoded = encode_texts(text, self.tokenizer, max_length=self.max_length)
            if not encoded.maskable(self.vocab).any():
                raise ValueError("The sentence has no tokens that can be masked; type some words.")
            if len(self._encoded) > 32:  # a small cache: typing many sentences must not grow forever
                self._encoded.clear()
            self._encoded[text] = encoded
        return self._encoded[text]

    def _render(self, s: ExplorerState) -> None:
        grids = {"static": [s.static], "dynamic": [s.dynamic], "both": [s.static, s.dynamic]}[s.mode]
        titles = [self._title(g) for g in grids]
        key = (s.mode, s.text)
        if key not in self._layouts:  # new layout: new figure, whose fixed layer is cached once
            if len(self._layouts) >= 6:
                self._layouts.pop(next(iter(self._layouts)))  # forget the oldest
            figure, painters = build_grid_figure(grids, titles, upto=s.epoch, layout="rows")
            # Cell colours are written straight into the pixels (fill_cells), not drawn as images.
            dynamic = lambda: [a for p in painters for a in p.dynamic_artists(overlay=False)]
            renderer = BlitRenderer(figure, dynamic, painted=[p.overlay for p in painters], dpi=self.dpi)
            edges = [p.cell_edges(renderer.height) for p in painters]
            cells = {
                id(t): (p, r, c) for p in painters for r, row in enumerate(p.texts) for c, t in enumerate(row)
            }
            self._layouts[key] = (figure, painters, renderer, cells, edges)
        self._figure, self._painters, self._renderer, self._cells, edges = self._layouts[key]
        for painter, grid, title in zip(self._painters, grids, titles):
            painter.paint(grid, s.epoch, title=title)

        def fill(pixels):
            for painter, painter_edges in zip(self._painters, edges):
                painter.fill_cells(pixels, painter_edges)

        self.image.value = self._renderer.png(self._under, prepaint=fill)
        self.summary.value = self._summary_html(s)

    def _under(self, text) -> object:
        """What lies under a text: its cell's code (cell texts) or the white figure."""
        cell = self._cells.get(id(text))
        if cell is None:
            return "figure"
        painter, r, c = cell
        return int(painter.codes[r, c])

    @staticmethod
    def _title(grid: EpochGrid) -> str:
        if grid.kind == "static":
            return f"static, dupe_factor={grid.dupe_factor}: the same {grid.dupe_factor} mask(s) cycle"
        return "dynamic: a fresh mask every epoch"

    def _summary_html(self, s: ExplorerState) -> str:
        seen = s.epoch + 1
        exp = s.exposure()
        rows = "".join(
            f"<tr><td><b>{kind}</b></td><td>{e['masks_drawn']} of {seen}</td><td>{e['distinct_inputs']}</td>"
            f"<td>{e['ever_masked']:.0%}</td></tr>"
            for kind, e in exp.items()
        )
        truncated = " (truncated)" if len(s.tokens) + 2 >= self.max_length else ""
        return (
            f"<div style='font-size:90%'>{len(s.tokens)} tokens{truncated}, "
            f"p={s.config.mlm_probability:.2f}, "
            f"unit={s.config.unit}, epochs 0..{s.epoch}"
            "<table style='margin-top:4px'><tr><th></th><th>different masks drawn</th>"
            "<th>different inputs seen</th><th>tokens masked at least once</th></tr>"
            f"{rows}</table></div>"
        )
