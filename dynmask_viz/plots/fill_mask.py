"""The fill-in-the-blank table: each model's top-k predictions at each masked position.

HTML, not a matplotlib figure: the explorer (:class:`~dynmask_viz.widgets.FillMaskExplorer`)
shows it in an ``ipywidgets.HTML``, notebooks with ``IPython.display.HTML``, and tests read its
cells. It draws a given :class:`~dynmask_viz.analysis.FillMaskView`; it runs no model.
"""

from __future__ import annotations

import html

from ._style import SCHEME_COLORS

__all__ = ["fill_mask_table_html"]

TRUE_BACKGROUND = "#d9f0d3"  # the true token in a model's list: light green
_OTHER_COLOR = "#444444"  # a model name that is neither static nor dynamic


def _cell(name: str, preds, row: int) -> str:
    items = []
    true_rank = int(preds.true_ranks[row])
    for j, (token, p) in enumerate(zip(preds.top_tokens[row], preds.top_probs[row].tolist())):
        hit = j + 1 == true_rank
        style = f"background:{TRUE_BACKGROUND};font-weight:bold;" if hit else ""
        items.append(
            f"<div class='dynmask-fm-pred' style='{style}white-space:nowrap;line-height:1.3'>"
            f"{html.escape(token)} <span style='color:#666'>{p:.3f}</span></div>"
        )
    true_p = float(preds.true_probs[row])
    items.append(
        "<div class='dynmask-fm-true' "
        "style='font-size:90%;line-height:1.3;color:#333;border-top:1px solid #ddd'>"
        f"true token: p={true_p:.3f}, rank {true_rank}</div>"
    )
    attrs = f"class='dynmask-fm-model' data-model='{html.escape(name)}' style='vertical-align:top'"
    return f"<td {attrs}>{''.join(items)}</td>"


def fill_mask_table_html(view, positions=None, names=None) -> str:
    """An HTML table: one row per masked position, one column of top-k predictions per model.

    The true token is highlighted in each list when it is in the top k; below each list, its
    probability and rank under that model. The column *input held* says what the models were
    fed at the position: ``[MASK]``, the true token itself (*kept*) or a *random* token (the
    80/10/10 input of training, see :func:`~dynmask_viz.analysis.draw_training_input`).

    Args:
        view: A :class:`~dynmask_viz.analysis.FillMaskView`.
        positions: The masked positions to show (indices into the sequence); default all.
        names: Models to show, in this order; default every model of the view.

    Returns:
        The ``<table class='dynmask-fill-mask'>`` markup (an explanatory line without rows).

    Raises:
        KeyError: An unknown model name. ValueError: A position that is not masked.
    """
    names = list(view.predictions) if names is None else list(names)
    for name in names:
        view.model(name)  # a clear KeyError for an unknown name
    masked_positions = view.positions.tolist()
    rows = {p: i for i, p in enumerate(masked_positions)}
    positions = masked_positions if positions is None else list(positions)
    missing = [p for p in positions if p not in rows]
    if missing:
        raise ValueError(f"positions {missing} are not masked in this view; masked: {masked_positions}.")
    if not positions:
        return "<div class='dynmask-fill-mask-empty'><i>No masked token here: nothing to predict.</i></div>"
    head = "".join(
        f"<th style='color:{SCHEME_COLORS.get(n, _OTHER_COLOR)}'>{html.escape(n)} model</th>" for n in names
    )
    body = []
    fed_as = view.fed_as()
    for p in positions:
        i = rows[p]
        true = html.escape(view.tokens[p])
        held = fed_as[i]
        if held == "random":  # name the token the model saw instead
            held = f"random: {view.fed_tokens[p]}"
        cells = "".join(_cell(n, view.predictions[n], i) for n in names)
        body.append(
            f"<tr data-position='{p}'><td style='vertical-align:top'>{p}</td>"
            f"<td class='dynmask-fm-truth' style='vertical-align:top'><b>{true}</b></td>"
            f"<td class='dynmask-fm-fed' style='vertical-align:top'>{html.escape(held)}</td>{cells}</tr>"
        )
    return (
        "<table class='dynmask-fill-mask' style='border-collapse:collapse;font-size:90%'>"
        f"<tr><th>position</th><th>true token</th><th>input held</th>{head}</tr>{''.join(body)}</table>"
    )
