"""Which tokens form one word, by several rules, over the same tokens: one row per rule.

Drawn for chapter 06 (Chinese whole-word masking), where the rules disagree most: the
tokenizer's ``word_ids()`` makes every Chinese character a word, Hugging Face's offset rule
makes a sentence without spaces one word, and a segmenter (jieba) finds the real words.
The word ids come from :mod:`dynmask_viz.analysis.chinese_words` or ``encode_texts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._style import (
    CORRUPTION_COLORS,
    INK,
    LINE_COLORS,
    NotebookFigure,
    font_families,
    renderable,
    short_token,
)

__all__ = ["plot_word_groups"]

# Neighbouring words alternate between two light fills; tokens of no word are grey.
_WORD_FILLS = (to_rgba(LINE_COLORS[0], 0.22), to_rgba(LINE_COLORS[2], 0.28))
_NO_WORD = CORRUPTION_COLORS[0]


def plot_word_groups(
    tokens: Sequence[str], word_ids: Mapping[str, Sequence[int]], *, title: str | None = None
) -> Figure:
    """Tokens in a row, once per rule, boxed by word (thick lines between words).

    Args:
        tokens: ``L`` token strings (special tokens included if the word ids have them).
        word_ids: Rule name -> ``L`` word index per token (``-1`` or ``None`` on tokens of no
            word, e.g. ``[CLS]``); a word is a run of equal indices.
        title: Figure title.

    Raises:
        ValueError: No rule, or a rule whose word ids do not have one entry per token.
    """
    tokens = [str(t) for t in tokens]
    if not word_ids:
        raise ValueError("plot_word_groups needs at least one rule (name -> word ids).")
    rows = {}
    for name, ids in word_ids.items():
        ids = torch.as_tensor([-1 if w is None else int(w) for w in ids]).tolist()
        if len(ids) != len(tokens):
            raise ValueError(f"word_ids[{name!r}] has {len(ids)} entries for {len(tokens)} tokens.")
        rows[name] = ids
    n = len(tokens)
    cell = 0.36 if n <= 40 else 0.28
    fig = NotebookFigure(figsize=(n * cell + 2.6, 0.55 * len(rows) + 0.9), layout="constrained")
    ax = fig.subplots()
    family = font_families()
    size = 10 if n <= 40 else 8
    for r, ids in enumerate(rows.values()):
        parity = 0
        for i, word in enumerate(ids):
            starts = i == 0 or word != ids[i - 1] or word < 0
            if starts and i and word >= 0:
                parity ^= 1
            fill = _NO_WORD if word < 0 else _WORD_FILLS[parity]
            ax.add_patch(Rectangle((i, r + 0.1), 1, 0.8, facecolor=fill, edgecolor="none"))
            if starts:  # a word (or a token of no word) begins: a thick line on its left
                ax.plot([i, i], [r + 0.08, r + 0.92], color=INK, linewidth=1.6)
            label = short_token(renderable(tokens[i]), 6)
            ax.text(i + 0.5, r + 0.5, label, ha="center", va="center", fontsize=size, fontfamily=family)
        ax.plot([n, n], [r + 0.08, r + 0.92], color=INK, linewidth=1.6)
    ax.set_xlim(0, n)
    ax.set_ylim(len(rows), 0)
    ax.set_yticks([r + 0.5 for r in range(len(rows))], list(rows), fontfamily=family, fontsize=10)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=11, fontfamily=family)
    return fig
