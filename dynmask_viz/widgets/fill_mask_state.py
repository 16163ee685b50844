"""What :class:`~dynmask_viz.widgets.FillMaskExplorer` shows: its state, its summary line, and
the models it compares (resolved from models, ``(model, tokenizer)`` pairs or names).

Why the summary line leads with the loss: when a model memorizes the blanks of a mask it
trained on, it mostly lifts the hard, unlikely true tokens (from 0.001 to 0.003, say). A mean of
probabilities, dominated by the easy tokens, hardly moves; the mean of ``-log p`` (the loss,
nats) and its ``exp(-loss)``, the geometric-mean probability, do. On the committed models the
mean probability of the right tokens is the same under a trained and a fresh mask while the
static model's loss is clearly lower under the trained one (chapter 02, section 9).

Boolean convention: ``masked`` is True where a token is *selected for prediction*.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..analysis import FillMaskView

__all__ = ["FillMaskState", "resolve_models", "summary_html"]


@dataclass(frozen=True, eq=False)
class FillMaskState:
    """What the explorer shows (a snapshot).

    Attributes:
        mode: ``"click"``, ``"draw"`` or ``"training"``.
        view: The :class:`~dynmask_viz.analysis.FillMaskView` (the whole sequence).
        shown: ``(start, stop)`` token positions shown (training rows: a window).
        text: The sentence (``click``/``draw``), else None.
        sequence: The training row (``training``), else None.
        mask_epoch: The mask index drawn (``draw``/``training``), else None.
        seen: Model kind -> times that run trained on this mask of this row (``training``).
        truncated: Tokens cut from a typed sentence longer than ``max_length``.
        feed: ``"training"`` (the 80/10/10 input of that mask) or ``"mask"`` (every blank as
            ``[MASK]``) in the training mode, else None (every blank as ``[MASK]``).
    """

    mode: str
    view: FillMaskView
    shown: tuple[int, int]
    text: str | None
    sequence: int | None
    mask_epoch: int | None
    seen: dict
    truncated: int
    feed: str | None = None

    @property
    def masked_positions(self) -> list[int]:
        """The masked positions (indices into ``view.tokens``), ascending."""
        return self.view.positions.tolist()

    def mean_true_probability(self, name: str) -> float:
        """Mean probability model ``name`` gives the true token, over every masked position."""
        return self.view.mean_true_probability(name)

    def mean_loss(self, name: str) -> float:
        """Model ``name``'s mean ``-log p(true token)`` over every masked position (nats)."""
        return self.view.mean_loss(name)

    def geometric_mean_probability(self, name: str) -> float:
        """``exp(-mean_loss(name))``: the geometric-mean probability of the true tokens."""
        return self.view.model(name).geometric_mean_probability()


def resolve_models(models, tokenizer):
    """``{name: model}`` and the tokenizer, from models, (model, tokenizer) pairs or names."""
    if isinstance(models, str) or not isinstance(models, (Mapping, Sequence)) or not models:
        raise ValueError(
            "models must be a non-empty dict name -> model or (model, tokenizer), or a list of "
            "names for hf.load_mlm, e.g. ('static', 'dynamic')."
        )
    if not isinstance(models, Mapping):
        models = {name: name for name in models}
    resolved, tokenizers = {}, [] if tokenizer is None else [tokenizer]
    for name, value in models.items():
        if not isinstance(name, str):
            raise ValueError(f"models' names must be str; got {name!r}.")
        if isinstance(value, str):
            from ..hf import load_mlm

            value = load_mlm(value)
        if isinstance(value, tuple):
            value, tok = value
            tokenizers.append(tok)
        resolved[name] = value
    if not tokenizers:
        raise ValueError("tokenizer is required when models holds models only (not (model, tokenizer)).")
    first = tokenizers[0].get_vocab()
    if any(t.get_vocab() != first for t in tokenizers[1:]):
        raise ValueError("The models' tokenizers differ: the explorer compares models over one vocabulary.")
    return resolved, tokenizers[0]


def summary_html(s: FillMaskState, inside: int, controls: dict, max_length: int) -> str:
    """The explorer's summary line (HTML): what is masked and fed, and per model its mean loss on
    the true tokens (nats), the geometric-mean and the mean probability, and its top-1 hits."""
    m = len(s.masked_positions)
    if m == 0:
        return "No token masked: click a token to mask it."
    parts = []
    if s.mode == "training":
        mask = controls["mask"].value
        what = "a fresh mask (no run trained on it)" if mask == "fresh" else f"mask index {s.mask_epoch}"
        parts.append(
            f"training sequence {s.sequence}, {what}: the static run trained on it "
            f"{s.seen['static']} time(s), the dynamic run {s.seen['dynamic']} time(s); "
            f"{m} masked, {inside} in the window shown (tokens {s.shown[0]}-{s.shown[1] - 1})"
        )
        if s.feed == "training":
            held = s.view.fed_as()
            parts.append(
                f"fed as in training: {held.count('[MASK]')} [MASK], {held.count('random')} random, "
                f"{held.count('kept')} kept"
            )
        else:
            parts.append("every blank fed as [MASK]")
    else:
        parts.append(f"{m} token(s) masked, fed as [MASK]")
        if s.mode == "draw":
            parts.append(f"{controls['scheme'].value} masking, mask index {s.mask_epoch}")
        if s.truncated:
            parts.append(f"sentence cut to its first {max_length} tokens ({s.truncated} cut)")
    for name, preds in s.view.predictions.items():
        parts.append(
            f"<b>{html.escape(name)}</b>: loss {preds.mean_loss():.3f} nats "
            f"(geometric-mean P(true token) {preds.geometric_mean_probability():.4f}, "
            f"mean P {preds.mean_true_probability():.4f}), top-1 right {preds.top1_correct()} of {m}"
        )
    return "; ".join(parts)
