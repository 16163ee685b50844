"""``FillMaskExplorer``: mask tokens, see what each masked LM predicts there, side by side.

Three modes. *type & click*: type a sentence, click tokens to mask or unmask them. *draw a
mask*: the package's static or dynamic masking draws the mask of the typed sentence for an
epoch (keyed on the sentence's content, as :func:`~dynmask_viz.analysis.draw_mask` with
``example_id=None``). *training sequence*: a row the models trained on, with *a mask it
trained on* (the static run's mask of epoch ``e``: index ``e % dupe_factor``; or the dynamic
run's: index ``e``) or *a fresh mask* (``fresh_mask_epoch``, never used in training); a window
of tokens is shown, the models see the whole row.

What is fed (see :mod:`dynmask_viz.analysis.fill_mask`): in the training-sequence mode, by
default *as in training*, the 80/10/10 input the run fed with that mask (80 % ``[MASK]``, 10 %
a random token, 10 % kept: the *input held* column says which), so a model meets exactly what
it trained on; or *every blank as* ``[MASK]``. The other modes feed every blank as ``[MASK]``.
The summary line gives each model's mean loss on the true tokens (mean ``-log p``, nats), the
geometric-mean probability ``exp(-loss)`` and the arithmetic mean probability: memorization
lifts the unlikely true tokens, which the loss shows and the mean probability hides. Each
change runs each model at most once, and each distinct (sequence, mask, input) only once (a
small cache).

Boolean convention: ``masked`` is True where a token is *selected for prediction* (``[MASK]``).
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence

import ipywidgets as widgets
import torch

from ..analysis import FillMaskView, draw_mask, draw_training_input, fill_mask_view, mask_index, times_seen
from ..hf.encoding import position_limit
from ..masking import MaskingConfig, MaskingVocab
from ..plots.fill_mask import fill_mask_table_html
from ._base import Explorer, check_int
from .fill_mask_state import FillMaskState, resolve_models, summary_html

__all__ = ["FillMaskExplorer", "FillMaskState"]

DEFAULT_TEXT = "Anarchism is a political philosophy that advocates self-governed societies."
MODES = (("type & click", "click"), ("draw a mask", "draw"), ("training sequence", "training"))
FEEDS = (("as in training (80/10/10)", "training"), ("every blank as [MASK]", "mask"))
_VIEWS_KEPT = 64


class FillMaskExplorer(Explorer):
    """Top-k predictions of several masked LMs at masked positions (plain class, test-drivable).

    Example:
        >>> ex = FillMaskExplorer({"static": load_mlm("static"), "dynamic": load_mlm("dynamic")},
        ...                       training_ids=training_sequences(), **setup)  # doctest: +SKIP
        >>> ex.set(text="The cat sat on the mat.", masked=[2])
        >>> ex.set(mode="training", sequence=3, mask="fresh").mean_loss("static")

    Args:
        models: Name -> masked LM or ``(model, tokenizer)``; or names for
            :func:`~dynmask_viz.hf.load_mlm` (``("static", "dynamic")``).
        tokenizer: The tokenizer (optional when ``models`` gives pairs; all must agree).
        text: The sentence (default: a Wikipedia sentence). masked: Its positions to mask
            (indices into its tokens, ``[CLS]`` = 0).
        mode: ``"click"``, ``"draw"`` or ``"training"``.
        training_ids: ``[N, L]`` rows the models trained on (row = example id), for the
            training mode (e.g. ``fill_mask_models.training_sequences()``).
        mask_seed, dupe_factor, masking, fresh_mask_epoch, epochs: The runs' masking (e.g.
            ``fill_mask_models.training_setup("static")``): seed, static masks, the
            :class:`~dynmask_viz.masking.MaskingConfig`, the fresh mask's index and epochs.
        scheme, epoch, sequence, mask, start, feed: Initial controls (``epoch`` 0-based;
            ``mask`` ``"trained"``/``"fresh"``; ``start`` the first token of the window;
            ``feed`` ``"training"``: a training row is fed as training fed it with that mask,
            ``"mask"``: every blank as ``[MASK]``).
        window: Tokens of a training row shown at once. top_k: Predictions per model.
        max_length: Typed sentences are cut to this many tokens (specials included), with a
            message; at most the models' position limit.
        threads: torch threads while the models run (restored after); None keeps torch's
            setting. One by default: next to a busy process two threads made each update
            ~20x slower (see :func:`~dynmask_viz.analysis.fill_mask_view`).

    Attributes:
        controls: ``mode``, ``text``, ``scheme``, ``epoch``, ``sequence``, ``mask``, ``start``,
            ``feed``.
        token_buttons: The token toggle buttons (clicking one = :meth:`toggle`).
        table: ``ipywidgets.HTML`` with :func:`~dynmask_viz.plots.fill_mask.fill_mask_table_html`.
        status: The summary line and errors. forward_calls: Model forwards run so far.
    """

    def __init__(
        self,
        models,
        tokenizer=None,
        *,
        text: str | None = None,
        masked: Sequence[int] = (),
        mode: str = "click",
        training_ids: torch.Tensor | None = None,
        mask_seed: int = 0,
        dupe_factor: int = 10,
        masking: MaskingConfig | None = None,
        fresh_mask_epoch: int = 10_000,
        epochs: int = 40,
        scheme: str = "static",
        epoch: int = 0,
        sequence: int = 0,
        mask: str = "trained",
        start: int = 0,
        feed: str = "training",
        window: int = 24,
        top_k: int = 5,
        max_length: int = 64,
        threads: int | None = 1,
    ) -> None:
        for name, value, low in (
            ("dupe_factor", dupe_factor, 1),
            ("epochs", epochs, 1),
            ("window", window, 4),
        ):
            check_int(name, value, low)
        check_int("top_k", top_k, 1)
        if threads is not None:
            check_int("threads", threads, 1, "or None (keep torch's setting)")
        check_int("fresh_mask_epoch", fresh_mask_epoch, max(epochs, dupe_factor), "(an index no epoch used)")
        check_int("mask_seed", mask_seed, 0)
        masking = MaskingConfig() if masking is None else masking
        if not isinstance(masking, MaskingConfig):
            raise ValueError(f"masking must be a MaskingConfig; got {type(masking).__name__}.")
        if training_ids is not None:
            training_ids = torch.as_tensor(training_ids)
            if training_ids.dim() != 2 or training_ids.shape[0] == 0 or training_ids.is_floating_point():
                raise ValueError(
                    f"training_ids must be an int tensor [N, L], N >= 1; got {tuple(training_ids.shape)}."
                )
        self.models, self.tokenizer = resolve_models(models, tokenizer)
        limits = [position_limit(m, self.tokenizer) for m in self.models.values()]
        limit = min((x for x in limits if x[0] is not None), default=(None, ""))
        check_int("max_length", max_length, 3)
        if limit[0] is not None and max_length > limit[0]:
            raise ValueError(f"max_length must be at most {limit[0]} ({limit[1]}); got {max_length}.")
        self.vocab = MaskingVocab.from_tokenizer(self.tokenizer)
        self.threads = threads
        self.training_ids, self.masking, self.mask_seed = training_ids, masking, mask_seed
        self.dupe_factor, self.fresh_mask_epoch, self.epochs = dupe_factor, fresh_mask_epoch, epochs
        self.window, self.top_k, self.max_length = window, top_k, max_length
        self._views: OrderedDict = OrderedDict()
        self._encoded: dict = {}
        self.forward_calls, self._state, self._figure, self._syncing = 0, None, None, False
        rows, length = (1, 1) if training_ids is None else training_ids.shape
        style = {"description_width": "initial"}
        self.controls = {
            "mode": widgets.ToggleButtons(
                options=list(MODES), value="click", description="mode", style=style
            ),
            "text": widgets.Text(
                value=DEFAULT_TEXT,
                description="sentence",
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width="95%"),
            ),
            "scheme": widgets.ToggleButtons(
                options=["static", "dynamic"], description="masking", style=style
            ),
            # 0-based like the code; readers count epochs from 1: the label beside it says which.
            "epoch": widgets.IntSlider(
                value=0, min=0, max=epochs - 1, description="epoch", readout=False, style=style
            ),
            "sequence": widgets.BoundedIntText(
                value=0, min=0, max=rows - 1, description="training sequence", style=style
            ),
            "mask": widgets.ToggleButtons(
                options=[("a mask it trained on", "trained"), ("a fresh mask", "fresh")], style=style
            ),
            "start": widgets.IntSlider(
                value=0, min=0, max=max(0, length - window), description="window starts at token", style=style
            ),
            "feed": widgets.ToggleButtons(options=list(FEEDS), description="feed the blanks", style=style),
        }
        self.epoch_label, self.status, self.table = widgets.Label(), widgets.HTML(), widgets.HTML()
        self._messages = self.status
        self.token_buttons: list[widgets.ToggleButton] = []
        self._button_positions: list[int] = []
        self.tokens_box = widgets.Box(layout=widgets.Layout(flex_flow="row wrap"))
        self.tokens_box.add_class("dynmask-fm-tokens")  # tests and styles find the token buttons
        c = self.controls
        self._rows = {
            "text": widgets.HBox([c["text"]], layout=widgets.Layout(width="100%")),
            "draw": widgets.HBox([c["scheme"], c["epoch"], self.epoch_label]),
            "training": widgets.HBox([c["sequence"], c["mask"], c["start"]]),
            "feed": widgets.HBox([c["feed"]]),
        }
        self.widget = widgets.VBox(
            [c["mode"], *self._rows.values(), self.tokens_box, self.status, self.table],
            layout=widgets.Layout(width="100%"),
        )
        self.widget.add_class("dynmask-fill-mask-explorer")
        self._clicked: set[int] = set()
        self._set_controls(
            {
                "mode": mode,
                "scheme": scheme,
                "epoch": epoch,
                "sequence": sequence,
                "mask": mask,
                "start": start,
                "feed": feed,
            }
        )
        if mode == "training" and training_ids is None:
            raise ValueError("mode='training' needs training_ids (the [N, L] rows the models trained on).")
        self.set(text=DEFAULT_TEXT if text is None else text, masked=masked)
        for control in self.controls.values():
            control.observe(self._on_control, names="value")

    # --- public API -----------------------------------------------------------------------

    def set(self, **values) -> FillMaskState:
        """Set controls at once, then update once.

        Valid values: ``mode`` ``"click"``/``"draw"``/``"training"``; ``text`` a non-empty
        str; ``masked`` the positions to mask in click mode (indices into the sentence's
        tokens; replaces the clicked set; a new ``text`` clears it); ``scheme``
        ``"static"``/``"dynamic"``; ``epoch`` in ``[0, epochs - 1]`` (0-based); ``sequence``
        a training row; ``mask`` ``"trained"``/``"fresh"``; ``start`` the window's first
        token; ``feed`` ``"training"``/``"mask"`` (training mode). Nothing is clamped.

        Raises:
            ValueError: An unknown control, a value out of range, an empty text, a masked
                position out of range or on a special token (nothing is changed).
        """
        checked = self._check_controls(values, ("masked",))
        if checked.get("mode", self.controls["mode"].value) == "training" and self.training_ids is None:
            raise ValueError("mode='training' needs training_ids: pass them to the constructor.")
        clicked = self._clicked
        if "text" in checked or "masked" in values:
            ids = self._encode(checked.get("text", self.controls["text"].value))[0]
            clicked = set() if "text" in checked else clicked
        if "masked" in values:
            clicked = self._check_positions(values["masked"], ids)
        self._hold = True
        try:
            for name, value in checked.items():
                self.controls[name].value = value
            self._clicked = clicked
        finally:
            self._hold = False
        return self.update()

    def toggle(self, position: int) -> FillMaskState:
        """Mask or unmask one token of the sentence (what clicking its button does)."""
        if self.controls["mode"].value != "click":
            raise ValueError("toggle works in mode 'click' (type & click); set(mode='click') first.")
        return self.set(masked=sorted(self._clicked ^ {position}))

    def update(self) -> FillMaskState:
        """Draw or read the mask, run the models (once per new input), redraw buttons and table."""
        c = {name: w.value for name, w in self.controls.items()}
        mode, text, seq, mask_epoch, seen, truncated = c["mode"], None, None, None, {}, 0
        fed, feed = None, None
        if mode == "training":
            seq, ids = c["sequence"], self.training_ids[c["sequence"]].to(torch.int64)
            kind = c["scheme"] if c["mask"] == "trained" else "fresh"
            mask_epoch = mask_index(
                kind, c["epoch"], dupe_factor=self.dupe_factor, fresh_mask_epoch=self.fresh_mask_epoch
            )
            masked, training_input = draw_training_input(
                ids, self.vocab, self.masking, seed=self.mask_seed, mask_epoch=mask_epoch, example_id=seq
            )
            feed = c["feed"]
            fed = training_input if feed == "training" else None
            seen = {
                k: times_seen(mask_epoch, k, epochs=self.epochs, dupe_factor=self.dupe_factor)
                for k in ("static", "dynamic")
            }
            shown = (c["start"], min(len(ids), c["start"] + self.window))
        else:
            text = c["text"]
            ids, word_ids, truncated = self._encode(text)
            if mode == "draw":
                mask_epoch = mask_index(
                    c["scheme"],
                    c["epoch"],
                    dupe_factor=self.dupe_factor,
                    fresh_mask_epoch=self.fresh_mask_epoch,
                )
                masked = draw_mask(
                    ids,
                    self.vocab,
                    self.masking,
                    seed=self.mask_seed,
                    mask_epoch=mask_epoch,
                    word_ids=word_ids,
                )
            else:
                masked = torch.zeros(len(ids), dtype=torch.bool)
                masked[sorted(self._clicked)] = True
            shown = (0, len(ids))
        view = self._view(ids, masked, fed)
        state = FillMaskState(mode, view, shown, text, seq, mask_epoch, seen, truncated, feed)
        self._render(state)
        self._state = state
        return state

    # --- internals ------------------------------------------------------------------------

    def _encode(self, text):
        """``(ids [L], word_ids [L], tokens cut)`` of a typed sentence (cached)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty sentence; type some words.")
        if text not in self._encoded:
            full = self.tokenizer(text, truncation=False, verbose=False)
            cut = max(0, len(full["input_ids"]) - self.max_length)
            enc = self.tokenizer(text, truncation=True, max_length=self.max_length)
            ids = torch.tensor(enc["input_ids"], dtype=torch.int64)
            words = torch.tensor([-1 if w is None else w for w in enc.word_ids()], dtype=torch.int64)
            if not (~self.vocab.is_special(ids[None])[0]).any():
                raise ValueError(f"text {text!r} holds no token that can be masked; type some words.")
            if len(self._encoded) > 32:
                self._encoded.clear()
            self._encoded[text] = (ids, words, cut)
        return self._encoded[text]

    def _check_positions(self, positions, ids) -> set[int]:
        if isinstance(positions, (str, bytes)) or not isinstance(positions, (Sequence, set, frozenset)):
            raise ValueError(f"masked must be a list of token positions; got {positions!r}.")
        special = self.vocab.is_special(ids[None])[0]
        out = set()
        for p in positions:
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(ids):
                raise ValueError(f"masked positions must be ints in [0, {len(ids) - 1}]; got {p!r}.")
            if special[p]:
                token = self.tokenizer.convert_ids_to_tokens(int(ids[p]))
                raise ValueError(f"masked position {p} is the special token {token}: mask real tokens only.")
            out.add(p)
        return out

    def _view(self, ids, masked, fed) -> FillMaskView:
        """The view of ``ids`` with ``masked`` fed as ``fed`` (None: as ``[MASK]``), cached."""
        key = (tuple(ids.tolist()), tuple(masked.nonzero().flatten().tolist()))
        key += (None if fed is None else tuple(fed.tolist()),)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        view = fill_mask_view(
            self.models, self.tokenizer, ids, masked, k=self.top_k, fed_ids=fed, threads=self.threads
        )
        self.forward_calls += len(self.models) if masked.any() else 0
        self._views[key] = view
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)
        return view

    def _on_control(self, change) -> None:
        if self._syncing or self._hold:
            return
        if change["owner"] is self.controls["text"]:
            self._clicked = set()  # positions of the old sentence mean nothing in the new one
        self._on_change(change)

    def _on_button(self, change) -> None:
        if self._syncing or self._hold:
            return
        position = self._button_positions[self.token_buttons.index(change["owner"])]
        try:
            self.toggle(position)
        except Exception as exc:  # a callback must not die silently
            self._messages.value = f"<b style='color:#b00'>Could not update:</b> {html.escape(str(exc))}"

    def _render(self, s: FillMaskState) -> None:
        view, (lo, hi) = s.view, s.shown
        self._syncing = True
        try:
            while len(self.token_buttons) < hi - lo:
                button = widgets.ToggleButton(layout=widgets.Layout(width="auto", margin="1px"))
                button.observe(self._on_button, names="value")
                self.token_buttons.append(button)
            special = self.vocab.is_special(view.input_ids[None])[0]
            self._button_positions = list(range(lo, hi))
            for j, button in enumerate(self.token_buttons):
                if j >= hi - lo:
                    button.layout.display = "none"
                    continue
                p = lo + j
                button.description, button.tooltip = view.tokens[p], f"position {p}"
                button.value = bool(view.masked[p])
                button.disabled = s.mode != "click" or bool(special[p])
                button.button_style = "warning" if view.masked[p] else ""
                button.layout.display = None
            self.tokens_box.children = self.token_buttons[: max(hi - lo, 0)]
            for name, row in self._rows.items():
                on = {
                    "text": s.mode != "training",
                    "draw": s.mode != "click",
                    "training": s.mode == "training",
                    "feed": s.mode == "training",
                }
                row.layout.display = None if on[name] else "none"
        finally:
            self._syncing = False
        self.epoch_label.value = f"epoch {self.controls['epoch'].value + 1} (of {self.epochs})"
        inside = [p for p in s.masked_positions if lo <= p < hi]
        self.table.value = fill_mask_table_html(view, inside)
        self.status.value = f"<small>{summary_html(s, len(inside), self.controls, self.max_length)}</small>"
