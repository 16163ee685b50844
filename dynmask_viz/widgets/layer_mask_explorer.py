"""``LayerMaskExplorer``: which keys a layer mask keeps in every layer of a classifier, review by review.

Controls: the review, the rule, the layer (``-1`` = every layer side by side) and the head
(``-1`` = the share of heads keeping each pair). The figure is
:func:`dynmask_viz.plots.plot_layer_keep` of a :class:`~dynmask_viz.analysis.LayerMaskView`,
shown as PNG in an ``ipywidgets.Image``; a text line gives the prediction with full attention
and with the mask. Views are kept per (review, rule): moving the layer or head sliders never
runs the model.

Boolean convention: a keep mask is True where the query *may attend* to the key.
"""

from __future__ import annotations

import html
import io
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets

from ..analysis import LayerMaskView, layer_mask_view
from ..hf import LayerMask
from ..plots import plot_layer_keep
from ._base import Explorer, check_int

__all__ = ["LayerMaskExplorer", "LayerMaskState"]

_VIEWS_KEPT = 32  # (review, rule) views cached: a few MB each at most
_PREVIEW = 60  # characters of a review shown in the dropdown


@dataclass(frozen=True, eq=False)
class LayerMaskState:
    """What the explorer shows (a snapshot).

    Attributes:
        review: Index of the review in ``texts``.
        rule: Name of the rule (a key of the explorer's ``rules``).
        layer: The layer shown, or None for every layer.
        head: The head shown, or None for the share of heads keeping each pair.
        view: The :class:`~dynmask_viz.analysis.LayerMaskView` drawn (``keep`` is True where
            the query may attend to the key).
        prediction, prediction_full: Labels predicted with the mask and with full attention.
        kept_share: Share of the attention pairs kept, all layers and heads.
    """

    review: int
    rule: str
    layer: int | None
    head: int | None
    view: LayerMaskView
    prediction: str
    prediction_full: str
    kept_share: float


class LayerMaskExplorer(Explorer):
    """A layer mask's keys, layer by layer, on chosen reviews (plain class, test-drivable).

    Example:
        >>> model, meta = load_trained("data/results/mask_finetuning_cpu/model_full_seed0")  # doctest: +SKIP
        >>> ex = LayerMaskExplorer(model, load_tokenizer(), texts, {"topk_4": TopKKeys(4)})
        >>> ex                                  # controls, text line and keep maps in a notebook
        >>> ex.set(review=1, rule="topk_4", layer=2).kept_share

    Args:
        model: A BERT sequence classifier with a layer mask installed
            (:func:`~dynmask_viz.hf.install_layer_mask`; ``mask_finetuning.load_trained``).
        tokenizer: Its tokenizer.
        texts: The reviews to choose from (non-empty strings).
        rules: Name -> :class:`~dynmask_viz.hf.LayerMask`, e.g. ``{"topk_4": TopKKeys(4)}``.
        labels: Class names, one per output of the model.
        review, rule, layer, head: The initial controls (rule: the first one by default;
            layer/head ``-1``: every layer / the mean over heads).
        max_length: Cut reviews to this many tokens (special tokens included), e.g. the
            experiment's ``config["max_len"]``; None refuses a review longer than the model takes.
        dpi: Resolution of the PNG.

    Attributes:
        controls: Name -> widget: ``review``, ``rule``, ``layer``, ``head``.
        widget: The top-level ``VBox``; ``image``: the PNG; ``status``: the text line and errors.
        forward_calls: Views computed so far (each runs the model twice: rule, full attention).
    """

    def __init__(
        self,
        model,
        tokenizer,
        texts: Sequence[str],
        rules: Mapping[str, LayerMask],
        *,
        labels: Sequence[str] = ("negative", "positive"),
        review: int = 0,
        rule: str | None = None,
        layer: int = -1,
        head: int = -1,
        max_length: int | None = None,
        dpi: int = 80,
    ) -> None:
        if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
            raise ValueError("texts must be a non-empty list of reviews (str).")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"texts must all be non-empty str; texts{bad[:3]} are not.")
        if not isinstance(rules, Mapping) or not rules:
            raise ValueError(
                "rules must be a non-empty dict of name -> LayerMask (e.g. {'topk_4': TopKKeys(4)})."
            )
        wrong = [n for n, r in rules.items() if not isinstance(n, str) or not isinstance(r, LayerMask)]
        if wrong:
            raise ValueError(
                f"rules must map str names to dynmask_viz.hf LayerMask objects; {wrong[:3]} do not."
            )
        check_int("dpi", dpi, 1)
        config = model.config
        self.model, self.tokenizer, self.texts, self.rules = model, tokenizer, list(texts), dict(rules)
        self.labels, self.max_length, self.dpi = tuple(labels), max_length, dpi
        self._views: OrderedDict[tuple[int, str], LayerMaskView] = OrderedDict()
        self.forward_calls, self._hold, self._state, self._figure = 0, False, None, None
        short = [t if len(t) <= _PREVIEW else t[: _PREVIEW - 1] + "\u2026" for t in self.texts]
        self.controls = {
            "review": widgets.Dropdown(
                options=[(f"{i}: {t}", i) for i, t in enumerate(short)],
                value=0,
                description="review",
                layout=widgets.Layout(width="60%"),
            ),
            "rule": widgets.Dropdown(options=list(self.rules), description="rule"),
            "layer": widgets.IntSlider(
                value=-1, min=-1, max=config.num_hidden_layers - 1, description="layer (-1 = all)"
            ),
            "head": widgets.IntSlider(
                value=-1, min=-1, max=config.num_attention_heads - 1, description="head (-1 = mean)"
            ),
        }
        for control in self.controls.values():
            control.style = {"description_width": "initial"}
        self.image, self.status = widgets.Image(format="png"), widgets.HTML()
        self._messages = self.status
        c = self.controls
        self.widget = widgets.VBox(
            [c["review"], widgets.HBox([c["rule"], c["layer"], c["head"]]), self.status, self.image]
        )
        self._set_controls(
            {
                "review": review,
                "rule": next(iter(self.rules)) if rule is None else rule,
                "layer": layer,
                "head": head,
            }
        )
        self.update()  # the first view: a model without a layer mask, bad labels... raise here
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    # --- public API -----------------------------------------------------------------------

    def set(self, **values) -> LayerMaskState:
        """Set controls at once, then update once.

        Valid values: ``review`` an index of ``texts``, ``rule`` a key of ``rules``, ``layer``
        an int in ``[-1, layers - 1]`` and ``head`` in ``[-1, heads - 1]`` (``-1``: every
        layer / the mean over heads). Nothing is clamped.

        Raises:
            ValueError: An unknown control or a value out of range (the message gives the
                valid values; no control is changed).
        """
        self._hold = True
        try:
            self._set_controls(values)
        finally:
            self._hold = False
        return self.update()

    def update(self) -> LayerMaskState:
        """Compute the view (once per review and rule), redraw the figure and the text line."""
        v = {name: w.value for name, w in self.controls.items()}
        view = self._view(v["review"], v["rule"])
        layer = None if v["layer"] < 0 else v["layer"]
        head = None if v["head"] < 0 else v["head"]
        state = LayerMaskState(
            v["review"], v["rule"], layer, head, view, view.prediction, view.prediction_full, view.share_kept
        )
        figure = plot_layer_keep(view, layer=layer, head=head)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        self.image.value = buffer.getvalue()
        self._state, self._figure = state, figure  # only once shown: state and figure agree
        self.status.value = f"<small>{html.escape(self.summary_line(state))}</small>"
        return state

    def summary_line(self, state: LayerMaskState | None = None) -> str:
        """``P(positive): 0.83 with full attention -> 0.71 with topk_keys(k=4); 27 % of the
        attention pairs kept`` (the last label's probability for two labels, else the label
        predicted with full attention)."""
        s = state or self._state
        view = s.view
        shown = view.labels[-1] if len(view.labels) == 2 else view.prediction_full
        i = view.labels.index(shown)
        cut = f" (review cut to its first {self.max_length} tokens)" if view.truncated else ""
        return (
            f"P({shown}): {view.probabilities_full[i]:.2f} with full attention -> "
            f"{view.probabilities[i]:.2f} with {view.rule_name}; "
            f"{100 * s.kept_share:.0f} % of the attention pairs kept{cut}"
        )

    # --- internals ------------------------------------------------------------------------

    def _view(self, review: int, rule: str) -> LayerMaskView:
        key = (review, rule)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        view = layer_mask_view(
            self.model,
            self.tokenizer,
            self.texts[review],
            self.rules[rule],
            labels=self.labels,
            max_length=self.max_length,
        )
        self.forward_calls += 1
        self._views[key] = view
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)
        return view
