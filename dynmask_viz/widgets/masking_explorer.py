"""``MaskingExplorer``: static vs dynamic MLM masking of one sentence, with sliders.

The figure is rendered to PNG bytes shown in an ``ipywidgets.Image``: that renders the same
in JupyterLab, VS Code and exported notebooks, never blocks the kernel, and tests can read the
bytes. Speed (< 100 ms per change): the tokenization is cached per text, the masks of all
epochs come from one vectorized call per scheme, and the figure is built once per layout and
repainted in place (cell colours and texts) afterwards, with its layout frozen.

Boolean convention: ``masked`` is True where a token is *selected for MLM prediction*.
"""

from __future__ import annotations

import time

import ipywidgets as widgets

from ..analysis import EncodedText, EpochGrid, encode_texts, static_and_dynamic_grids
from ..masking import MaskingConfig, MaskingVocab
from ..plots.masking import build_grid_figure
from ._base import Explorer, check_int
from ._render import BlitRenderer
from .states import ExplorerState

__all__ = ["ExplorerState", "MaskingExplorer", "DEFAULT_TEXT"]

# First sentence of the Wikipedia asset: real text, with word pieces (ana ##rch ##ism).
DEFAULT_TEXT = (
    "Anarchism is a political philosophy that advocates self-governed societies based on "
    "voluntary institutions."
)
MODES = ("both", "static", "dynamic")


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
        seed: Masking seed, an int in ``[0, 2**31 - 1]``.
        epochs: Number of epochs (rows, labelled 1..``epochs``), 1..40.
        dupe_factor: Initial number of static masks (1..10); BERT used 10 over 40 epochs.
        mlm_probability: Initial selection probability (0.05..0.5).
        unit: Initial unit, ``"token"``, ``"word"`` or ``"span"``.
        mode: ``"both"``, ``"static"`` or ``"dynamic"``.
        dpi: Resolution of the rendered PNG, an int >= 1.
        max_length: Longer sentences are truncated to this many tokens (an int >= 3: two
            special tokens and one word).

    Raises:
        ValueError: On a value out of range; the message names it and gives the valid values
            (the same check as :meth:`set`).

    Attributes:
        controls: Name -> widget: ``text``, ``epoch``, ``probability``, ``unit``,
            ``dupe_factor``, ``mode``, ``seed``.
        widget: The top-level ``VBox`` to display.
        image: The ``ipywidgets.Image`` holding the PNG of :attr:`figure`.
        summary: ``ipywidgets.HTML`` with the exposure counts.
        epoch_label: ``ipywidgets.Label`` beside the epoch slider: the last epoch shown, counted
            from 1 as in the figure (the slider's value is the 0-based index).
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
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 40:
            raise ValueError(f"epochs must be an int in [1, 40]; got {epochs!r}.")
        check_int("dpi", dpi, 1)
        check_int("max_length", max_length, 3)
        if text is not None and not isinstance(text, str):
            raise ValueError(f"text must be a str or None (the default sentence); got {text!r}.")
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
            # The value is the code's 0-based epoch index (set(epoch=0) shows the first epoch);
            # readers count epochs from 1, so the readout is the label beside it.
            "epoch": widgets.IntSlider(
                value=epochs - 1,
                min=0,
                max=epochs - 1,
                description="show epochs 1 to",
                readout=False,
                style=style,
            ),
            "probability": widgets.FloatSlider(
                value=0.15,
                min=0.05,
                max=0.5,
                step=0.05,
                readout_format=".2f",
                description="mask probability p",
                style=style,
            ),
            "unit": widgets.Dropdown(options=["token", "word", "span"], value="token", description="unit"),
            "dupe_factor": widgets.IntSlider(
                value=4, min=1, max=10, description="dupe_factor (static)", style=style
            ),
            "mode": widgets.ToggleButtons(options=list(MODES), value="both", description="show", style=style),
            "seed": widgets.BoundedIntText(
                value=0, min=0, max=2**31 - 1, description="seed", layout=widgets.Layout(width="160px")
            ),
        }
        # The given values go through the same check as set(): a slider would silently clamp them.
        self._set_controls(
            {
                "probability": mlm_probability,
                "unit": unit,
                "dupe_factor": dupe_factor,
                "mode": mode,
                "seed": seed,
            },
            labels={"probability": "mlm_probability"},
        )
        if tokenizer is None:  # loaded once every argument is known to be valid
            from ..hf import load_tokenizer

            tokenizer = load_tokenizer()
        self.tokenizer = tokenizer
        self.vocab = MaskingVocab.from_tokenizer(tokenizer)  # once: it reads the whole vocabulary
        self.image = widgets.Image(format="png")
        self.summary = widgets.HTML()
        self.epoch_label = widgets.Label()
        self._messages = self.summary
        c = self.controls
        self.widget = widgets.VBox(
            [
                c["text"],
                widgets.HBox([c["epoch"], self.epoch_label, c["probability"], c["unit"]]),
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

        Example: ``explorer.set(probability=0.3, unit="word", epoch=5)``. Valid values:
        ``text`` a str, ``epoch`` an int in ``[0, epochs - 1]`` (the 0-based index of the last
        epoch shown: ``epoch=3`` shows epochs 1 to 4), ``probability`` in
        ``[0.05, 0.5]``, ``unit`` ``"token"``/``"word"``/``"span"``, ``dupe_factor`` an int in
        ``[1, 10]``, ``mode`` ``"both"``/``"static"``/``"dynamic"``, ``seed`` an int in
        ``[0, 2**31 - 1]``: the same as the constructor's.

        Raises:
            ValueError: On a name that is not a control, or a value out of its range (nothing
                is clamped; the message gives the valid range and nothing is changed).
        """
        text = values.get("text")
        if isinstance(text, str):  # a text with nothing to mask is refused before anything changes
            self._encode(text.strip() or DEFAULT_TEXT)
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
        # Slider steps come back as 0.15000000000000002: that float noise is rounded away, but a
        # value set on purpose between the steps (0.0546875) is kept exactly as given.
        p = float(c["probability"])
        p = round(p, 4) if abs(round(p, 4) - p) < 1e-9 else p
        config = MaskingConfig(mlm_probability=p, unit=c["unit"])
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
                raise ValueError(
                    f"text must hold at least one token that can be masked; {text!r} has none. "
                    "Type some words."
                )
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
        self.epoch_label.value = f"{s.epoch + 1} (of {s.epochs})"

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
            f"unit={s.config.unit}, epochs 1 to {s.epoch + 1}"
            "<table style='margin-top:4px'><tr><th></th><th>different masks drawn</th>"
            "<th>different inputs seen</th><th>tokens masked at least once</th></tr>"
            f"{rows}</table></div>"
        )
