"""``AttentionExplorer``: what an attention mask does to a real model's attention, head by head.

Four heatmaps side by side (queries = rows, keys = columns): the mask applied (True = may
attend, blue), the attention without a mask, with it, and the difference, drawn by the same
painter as :func:`dynmask_viz.plots.plot_mask_effect` (the same mask colours, and colour bars
for the attention and difference scales). Controls: the text, the
model, layer and head (or the mean over heads), a mask rule from
:mod:`dynmask_viz.analysis.mask_rules` with its parameters, and one toggle per token to drop it
as a key. Forward passes run through :func:`dynmask_viz.hf.extract_attention` and are kept
per (model, text, rule, parameters, dropped tokens): changing only the layer or head never runs
the model. The figure (PNG in an ``ipywidgets.Image``) is built once per token list and then
repainted in place through :class:`~dynmask_viz.widgets._render.BlitRenderer`, like
:class:`~dynmask_viz.widgets.MaskingExplorer`.

Why this module is over ~300 lines: it is one class whose fourteen controls, forward-pass cache
and repainting depend on each other (a control change decides what is recomputed and what is
only repainted). What can stand alone already does: the rules (:mod:`dynmask_viz.analysis`),
the views of a layer and head, the painter (:mod:`dynmask_viz.plots.mask_effect`) and the
renderer.
"""

from __future__ import annotations

import html
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import ipywidgets as widgets
import torch

from ..analysis import PARAMS, RULES, AppliedRule, attention_view, build_rule, mask_view
from ..hf import extract_attention, load_model, load_tokenizer
from ..hf.encoding import position_limit
from ..plots.mask_effect import MaskEffectPainter
from ._base import Explorer, check_control, check_int
from ._render import BlitRenderer
from .states import AttentionState

__all__ = ["AttentionExplorer", "AttentionState"]

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
_PASSES_KEPT = 16


class AttentionExplorer(Explorer):
    """Interactive comparison of attention without and with a mask (plain class, test-drivable).

    Example:
        >>> ex = AttentionExplorer(rule="causal")         # doctest: +SKIP
        >>> ex                                            # controls + heatmaps in a notebook
        >>> ex.set(layer=2, head=5, dropped=[3])
        >>> ex.state.with_mask.shape                      # torch.Size([L, L])

    Args:
        text: The input text (default: a short sentence).
        model: A loaded model (eager attention) or a name for ``hf.load_model`` (default: the
            offline default, all-MiniLM-L6-v2). Hub names need internet or a warm cache.
        tokenizer: Its tokenizer (loaded with the model when ``model`` is a name or None).
        rule: Initial rule, a key of :data:`RULES`.
        layer, head: Initial layer and head.
        max_length: Longer texts are truncated to this many tokens (special tokens included):
            an int from the tokenizer's special tokens plus one (3 for BERT-style ``[CLS] w
            [SEP]``) to the model's position limit (512 for the default model).
        dpi: Resolution of the rendered PNG.
        threads: torch threads during an update (restored after); None keeps torch's setting.
            One thread is the fastest for these small passes, and on a CPU shared with other
            kernels (a class on one server) several threads can be 10x slower.

    Attributes:
        controls: Name -> widget: ``text``, ``model``, ``layer``, ``head``, ``average_heads``,
            ``rule`` and the parameters ``window``, ``bidirectional``, ``prefix_length``,
            ``punctuation``, ``k``, ``p``, ``mask_seed``, ``per_head``.
        token_buttons: One ``ToggleButton`` per token, True = dropped as a key.
        widget: The top-level ``VBox``; ``image``: the PNG; ``status``: messages.
        forward_calls: Forward passes requested so far; ``last_update_s``: the last update's time.
    """

    def __init__(
        self,
        text: str | None = None,
        model=None,
        tokenizer=None,
        *,
        rule: str = "causal",
        layer: int = 0,
        head: int = 0,
        max_length: int = 64,
        dpi: int = 80,
        threads: int | None = 1,
    ) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, int):  # range: once loaded
            raise ValueError(
                f"max_length must be an int (tokens, special ones included); got {max_length!r}."
            )
        check_int("dpi", dpi, 1)
        if threads is not None:
            check_int("threads", threads, 1, "or None (keep torch's setting)")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"text must be a str or None (the default sentence); got {text!r}.")
        self.max_length, self.dpi, self.threads = max_length, dpi, threads
        self._models: dict[str, tuple] = {}
        name = "minilm" if model is None else model
        if not isinstance(name, str):  # a loaded model: registered under its folder's name
            name = Path(getattr(model.config, "_name_or_path", "") or "model").name
            if tokenizer is None:
                raise ValueError("Pass the tokenizer that goes with the model: tokenizer=...")
            self._models[name] = (model, tokenizer)
        self._passes: OrderedDict[tuple, object] = OrderedDict()
        self._empty: dict[tuple, int] = {}  # empty rows per cached masked pass
        self._applied: dict[tuple, str] = {}  # rule name per cached masked pass
        self.forward_calls, self.last_update_s, self._hold = 0, 0.0, False
        self._state, self._painter, self._renderer, self._figure_key, self.token_buttons = (
            None,
            None,
            None,
            None,
            [],
        )
        st = {"description_width": "initial"}
        c = self.controls = {
            "text": widgets.Text(
                value=text or DEFAULT_TEXT,
                description="text",
                continuous_update=False,
                layout=widgets.Layout(width="70%"),
            ),
            "model": widgets.Text(value=name, description="model", continuous_update=False),
            # Placeholder ranges until the model is known; the given values are checked below.
            "layer": widgets.IntSlider(value=0, min=0, max=0, description="layer"),
            "head": widgets.IntSlider(value=0, min=0, max=0, description="head"),
            "average_heads": widgets.Checkbox(value=False, description="average heads", indent=False),
            "rule": widgets.Dropdown(options=list(RULES), value="causal", description="mask rule"),
            "window": widgets.IntSlider(value=3, min=1, max=16, description="window"),
            "bidirectional": widgets.Checkbox(value=False, description="both sides", indent=False),
            "prefix_length": widgets.IntSlider(
                value=min(4, max_length), min=0, max=max_length, description="prefix length", style=st
            ),
            "punctuation": widgets.Checkbox(value=True, description="drop punctuation too", indent=False),
            "k": widgets.IntSlider(
                value=min(3, max_length), min=1, max=max_length, description="top-k keys", style=st
            ),
            "p": widgets.FloatSlider(value=0.3, min=0.0, max=0.9, step=0.05, description="drop p"),
            "mask_seed": widgets.BoundedIntText(
                value=0, min=0, max=2**31 - 1, description="seed", layout=widgets.Layout(width="150px")
            ),
            "per_head": widgets.Checkbox(value=True, description="per head", indent=False),
        }
        self.image, self.status = widgets.Image(format="png"), widgets.HTML()
        self._messages = self.status
        self._params = widgets.HBox([c[n] for n in PARAMS])
        self._tokens_box = widgets.Box(layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox(
            [
                widgets.HBox([c["text"], c["model"]]),
                widgets.HBox([c["layer"], c["head"], c["average_heads"], c["rule"]]),
                self._params,
                widgets.HTML("<small>click a token to drop it as a key (no query may attend to it):</small>"),
                self._tokens_box,
                self.status,
                self.image,
            ]
        )
        self._set_controls({"rule": rule})  # before loading a model: fail fast
        # Layer and head are checked against the model (the one check that set() uses too).
        model, tokenizer = self._model(name)
        self._check_max_length(name, model, tokenizer, switching=False)
        bounds = self._apply_bounds(model)
        self._set_controls({"layer": layer, "head": head}, bounds=bounds)
        for control in c.values():
            control.observe(self._on_change, names="value")
        self.update()

    # --- public API -----------------------------------------------------------------------

    def set(self, **values) -> AttentionState:
        """Set controls (and ``dropped=[indices]``) at once, then update once.

        Values are checked as the constructor checks them, never clamped: ``layer`` and
        ``head`` in the model's range (of the new model when ``model`` is given too),
        ``window`` in ``[1, 16]``, ``prefix_length`` and ``k`` up to ``max_length``, ``p`` in
        ``[0, 0.9]``, ``mask_seed`` in ``[0, 2**31 - 1]``, ``rule`` a key of :data:`RULES`,
        flags True/False, ``text`` and ``model`` str.

        Raises:
            ValueError: On an unknown control name, a value out of its range (the message
                gives the valid values; no control is changed), a token index out of range,
                or a ``model`` whose valid ``max_length`` range excludes this explorer's.
        """
        dropped = values.get("dropped")
        if dropped is not None and (
            not isinstance(dropped, (list, tuple))
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in dropped)
        ):
            raise ValueError(f"dropped must be a list of token indices (ints); got {dropped!r}.")
        model = bounds = None
        if "model" in values:  # layer and head are checked against the model switched to
            name = check_control("model", self.controls["model"], values["model"]).strip() or "minilm"
            model, tokenizer = self._model(name)
            self._check_max_length(name, model, tokenizer)
            bounds = self._bounds(model)
        checked = self._check_controls(values, extra=("dropped",), bounds=bounds)
        tokens = None
        if dropped is not None:  # indices into the tokens of the (possibly new) text and model
            name = checked.get("model", self.controls["model"].value).strip() or "minilm"
            tokenizer = self._model(name)[1]
            text = checked.get("text", self.controls["text"].value).strip() or DEFAULT_TEXT
            ids = tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]
            tokens = tokenizer.convert_ids_to_tokens(ids)
            bad = [i for i in dropped if not 0 <= i < len(tokens)]
            if bad:
                raise ValueError(
                    f"dropped must be token indices in [0, {len(tokens) - 1}]; got {bad} (out of range)."
                )
        self._hold = True
        try:  # every value is valid: now change the controls
            if model is not None:  # the new model's ranges first, so nothing is clamped
                self._apply_bounds(model)
            for control, value in checked.items():
                self.controls[control].value = value
            if tokens is not None:
                self._sync_tokens(tokens)
                for i, button in enumerate(self.token_buttons):
                    button.value = i in set(dropped)
        finally:
            self._hold = False
        return self.update()

    def update(self) -> AttentionState:
        """Recompute (forward passes only when the input or the mask changed) and re-render."""
        start, hold, threads = time.perf_counter(), self._hold, torch.get_num_threads()
        self._hold = True  # slider bounds and token buttons change below: no re-entrant updates
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            self._update()
        finally:
            self._hold = hold
            torch.set_num_threads(threads)  # the kernel's own setting, restored
        self.last_update_s = time.perf_counter() - start
        return self._state

    def _update(self) -> None:
        v = {name: w.value for name, w in self.controls.items()}
        v["model"] = v["model"].strip() or "minilm"
        model, tokenizer = self._model(v["model"])
        self._check_max_length(v["model"], model, tokenizer)  # a model typed in the text box
        self._apply_bounds(model)  # a model switched to in the text box moves the sliders into range
        v["layer"], v["head"] = self.controls["layer"].value, self.controls["head"].value
        text = v["text"].strip() or DEFAULT_TEXT
        base = self._pass((v["model"], text), model, tokenizer, text, None)
        tokens = base.tokens[0]
        self._sync_tokens(tokens)
        dropped = tuple(i for i, b in enumerate(self.token_buttons) if b.value)
        params = {p: v[p] for p in RULES[v["rule"]]}
        for name in PARAMS:
            self.controls[name].layout.display = None if name in params else "none"
        scores = base.example(0).mean(dim=(0, 1))[None, None] if v["rule"] == "topk_keys" else None
        key = (v["model"], text, v["rule"], tuple(sorted(params.items())), dropped)
        heads = base.num_heads
        if key in self._passes:
            rule_name, empty, dense = self._applied[key], self._empty[key], None
        else:  # the dense mask: built once per rule, parameters and dropped tokens
            applied = AppliedRule(build_rule(v["rule"], params, tokens, scores), len(tokens), heads, dropped)
            rule_name, empty, dense = str(applied.rule), applied.empty_rows, applied.dense
        masked = self._pass(key, model, tokenizer, text, dense)
        self._empty[key], self._applied[key] = empty, rule_name
        layer = v["layer"]
        head = None if v["average_heads"] else v["head"]
        shown = "mean" if head is None else head
        without, with_mask = attention_view(base, layer, shown), attention_view(masked, layer, shown)
        mask = mask_view(masked, shown)  # per-head masks averaged: the share of heads allowed
        self._state = AttentionState(
            text,
            v["model"],
            tokens,
            rule_name,
            params,
            dropped,
            layer,
            head,
            mask,
            without,
            with_mask,
            with_mask - without,
            empty,
            self.forward_calls,
        )
        self._render()

    # --- internals ------------------------------------------------------------------------

    def _model(self, name: str):
        if name not in self._models:
            self._models[name] = (load_model(name), load_tokenizer(name))
        return self._models[name]

    def _check_max_length(self, name: str, model, tokenizer, switching: bool = True) -> None:
        """Refuse ``self.max_length`` unless ``model`` can encode that many tokens (and one real).

        The true range of the encoding: at least the tokenizer's special tokens plus one real
        token, at most the model's position limit.
        """
        low = tokenizer.num_special_tokens_to_add(pair=False) + 1
        high, source = position_limit(model, tokenizer)
        if low <= self.max_length and (high is None or self.max_length <= high):
            return
        valid = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
        why = f"{low - 1} special tokens plus one real token" + (f", at most {source}" if source else "")
        if switching:
            raise ValueError(
                f"max_length ({self.max_length}) does not fit model {name!r}: it must be {valid} "
                f"({why}). Create a new explorer with a max_length in that range for this model."
            )
        raise ValueError(f"max_length must be {valid} for model {name!r} ({why}); got {self.max_length}.")

    @staticmethod
    def _bounds(model) -> dict:
        """The valid ``(min, max)`` of the layer and head controls for ``model``."""
        config = model.config
        return {"layer": (0, config.num_hidden_layers - 1), "head": (0, config.num_attention_heads - 1)}

    def _apply_bounds(self, model) -> dict:
        """Set the layer and head sliders' ranges to ``model``'s; returns them."""
        bounds = self._bounds(model)
        for control, (low, high) in bounds.items():
            self.controls[control].max = high  # lowering max moves a larger value down with it
            self.controls[control].min = low
        return bounds

    def _pass(self, key, model, tokenizer, text, mask):
        if key in self._passes:
            self._passes.move_to_end(key)
            return self._passes[key]
        with warnings.catch_warnings():  # empty rows are reported in the status line instead
            warnings.simplefilter("ignore")
            result = extract_attention(model, tokenizer, text, mask, max_length=self.max_length)
        self.forward_calls += 1
        self._passes[key] = result
        while len(self._passes) > _PASSES_KEPT:
            old = self._passes.popitem(last=False)[0]
            self._empty.pop(old, None)
            self._applied.pop(old, None)
        return result

    def _sync_tokens(self, tokens=None) -> None:
        if tokens is None or [b.description for b in self.token_buttons] == list(tokens):
            return
        self.token_buttons = [
            widgets.ToggleButton(
                value=False,
                description=t,
                tooltip=f"{i}: {t}",
                layout=widgets.Layout(width="auto", margin="1px"),
            )
            for i, t in enumerate(tokens)
        ]
        for button in self.token_buttons:
            button.observe(self._on_change, names="value")
        self._tokens_box.children = self.token_buttons

    @property
    def figure(self):
        """The current matplotlib ``Figure`` (e.g. ``explorer.figure.savefig("view.svg")``)."""
        return None if self._painter is None else self._painter.figure

    def _render(self) -> None:
        s = self._state
        for i, b in enumerate(self.token_buttons):
            b.button_style = "danger" if i in s.dropped else ""
        if self._figure_key != tuple(s.tokens):  # a new token list: a new figure
            side = min(max(2.6, 0.09 * len(s.tokens) + 0.9), 6.4)  # smaller than a notebook figure
            # Room for the two-line titles and the rotated token labels of a small figure.
            self._painter = MaskEffectPainter(s.tokens, cell_borders=False, side=side, room=1.2)
            self._renderer, self._figure_key = None, tuple(s.tokens)
        vmax = max(float(s.without.max()), float(s.with_mask.max()), 1e-6)
        change = float(s.difference.abs().max())
        what = f"layer {s.layer}, " + ("mean of heads" if s.head is None else f"head {s.head}")
        rule = s.rule if len(s.rule) <= 34 else s.rule[:33] + "\u2026"
        titles = (
            f"mask (blue = may attend)\n{rule}",
            f"without mask\n{what}",
            f"with mask\nmax {vmax:.2f}",
            f"with \u2212 without\nlargest change {change:.3f}",
        )
        # A floor on the difference scale: tiny changes stay faint instead of filling it.
        self._painter.paint(s.mask, s.without, s.with_mask, titles=titles, diff_floor=0.05)
        if self._renderer is None:
            # Laid out once, with two-line titles in place, then frozen. The images are painted
            # straight into the pixels (fill_cells): only the titles and the colour bars (their
            # scales follow each view) are drawn on each change.
            painter = self._painter
            self._renderer = BlitRenderer(
                painter.figure,
                lambda: painter.dynamic_artists(images=False),
                painted=painter.images,
                dpi=self.dpi,
            )
        self.image.value = self._renderer.png(prepaint=self._painter.fill_cells)
        empty = f"; {s.empty_rows} query row(s) had no key and attend to themselves" if s.empty_rows else ""
        self.status.value = (
            f"<small>{len(s.tokens)} tokens, rule <code>{html.escape(s.rule)}</code>, "
            f"{len(s.dropped)} dropped{empty}; forward passes so far: {s.forward_calls}</small>"
        )
