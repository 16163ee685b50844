"""Real English text for the notebooks: Wikipedia articles and Rotten Tomatoes snippets.

Both come from the verified offline assets (:mod:`dynmask_viz.assets`):

* :func:`load_wiki_articles`: the main-namespace articles of a shortened English Wikipedia
  dump (CC BY-SA), wikitext cleaned to plain paragraphs. Parsing takes seconds, so the result
  is cached as JSON next to the assets.
* :func:`load_rotten_tomatoes`: critic snippets labelled fresh (1) or rotten (0).
"""

from __future__ import annotations

import bz2
import csv
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import store
from .wikitext import clean_wikitext

__all__ = [
    "WikiArticle",
    "LabeledSnippet",
    "load_wiki_articles",
    "split_articles",
    "iter_sentences",
    "load_rotten_tomatoes",
]

# Bump when the cleaning changes: the cached JSON is keyed by the source file only.
_CACHE_VERSION = "enwiki_clean_v1"


# Sections that are lists of links or citations, not prose.
@dataclass(frozen=True)
class WikiArticle:
    """A cleaned Wikipedia article: plain-text paragraphs separated by blank lines."""

    title: str
    text: str


@dataclass(frozen=True)
class LabeledSnippet:
    """A labelled text: ``label`` 1 = positive (Rotten Tomatoes: fresh), 0 = negative (rotten).

    ``movie`` is the Rotten Tomatoes film, ``""`` for other sources (the Chinese reviews).
    """

    text: str
    label: int
    movie: str = ""


def _iter_pages(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (title, wikitext) of the non-redirect main-namespace pages of an XML dump."""
    ns = ""
    with bz2.open(path, "rb") as f:
        for event, elem in ET.iterparse(f, events=("start", "end")):
            if event == "start":
                if not ns and elem.tag.startswith("{"):
                    ns = elem.tag[: elem.tag.index("}") + 1]  # export schema version varies
                continue
            if elem.tag != ns + "page":
                continue
            title = elem.findtext(ns + "title") or ""
            text = elem.findtext(f"{ns}revision/{ns}text") or ""
            if elem.findtext(ns + "ns") == "0" and elem.find(ns + "redirect") is None:
                yield title, text
            elem.clear()  # keep memory flat on big dumps


def load_wiki_articles(
    path: str | os.PathLike | None = None, *, min_chars: int = 500, use_cache: bool = True
) -> list[WikiArticle]:
    """Load the cleaned main-namespace articles of a bz2 MediaWiki XML dump.

    Args:
        path: The dump; default the ``enwiki`` asset (fetched on first use).
        min_chars: Drop articles whose cleaned text is shorter (stubs, disambiguations).
        use_cache: Read/write the cleaned articles as JSON under
            ``cache_dir()/corpus``, keyed by the dump's sha256, so a new dump re-parses.

    Returns:
        Articles in dump order.
    """
    path = Path(path) if path is not None else store.enwiki_dump_path()
    cache = store.cache_dir() / "corpus" / f"{_CACHE_VERSION}.json"
    key = store.sha256_file(path)[:16]
    if use_cache and cache.is_file():
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("source_sha256") == key:
                cached = [WikiArticle(**d) for d in data["articles"]]
                return [a for a in cached if len(a.text) >= min_chars]
        except (ValueError, KeyError, TypeError):
            pass  # corrupt or old cache: parse again
    parsed = [WikiArticle(title, clean_wikitext(text)) for title, text in _iter_pages(path)]
    if use_cache:
        payload = {"source_sha256": key, "articles": [asdict(a) for a in parsed]}
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # write-then-rename: never half a file
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError:  # a read-only cache only costs speed
            tmp.unlink(missing_ok=True)
    return [a for a in parsed if len(a.text) >= min_chars]


def split_articles(
    articles: Sequence[WikiArticle], *, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[WikiArticle], list[WikiArticle]]:
    """Split by article, so no text of a validation article is seen in training.

    Args:
        articles: The articles to split.
        validation_fraction: Share of articles in the validation split (at least one
            article when the fraction is positive and there are two or more articles).
        seed: Seed of a private ``random.Random``; the global RNG is untouched.

    Returns:
        ``(train, validation)``, each in the original article order.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    n_val = round(len(articles) * validation_fraction)
    if validation_fraction > 0 and len(articles) >= 2:
        n_val = max(n_val, 1)
    val_idx = set(random.Random(seed).sample(range(len(articles)), n_val))
    train = [a for i, a in enumerate(articles) if i not in val_idx]
    return train, [a for i, a in enumerate(articles) if i in val_idx]


# A sentence ends at . ! or ? (optionally followed by a quote or bracket) before whitespace
# and an upper-case letter, digit or quote. Crude, but good enough for demo sentences.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|vs|etc|e\.g|i\.e|c|ca|No)\.$")


def iter_sentences(
    articles: Iterable[WikiArticle | str], *, min_words: int = 5, max_words: int = 60
) -> Iterator[str]:
    """Yield the sentences of the articles whose word count is within bounds.

    Args:
        articles: Articles or plain strings.
        min_words: Shortest sentence yielded (in whitespace-separated words).
        max_words: Longest sentence yielded.
    """
    for article in articles:
        text = article.text if isinstance(article, WikiArticle) else article
        for paragraph in text.split("\n\n"):
            pending = ""
            for piece in _SENTENCE_END.split(paragraph.strip()):
                sentence = f"{pending} {piece}".strip() if pending else piece.strip()
                if _ABBREV.search(sentence):  # "Dr." or an initial: not a sentence end
                    pending = sentence
                    continue
                pending = ""
                if min_words <= len(sentence.split()) <= max_words:
                    yield sentence
            if pending and min_words <= len(pending.split()) <= max_words:
                yield pending


def load_rotten_tomatoes(path: str | os.PathLike | None = None) -> list[LabeledSnippet]:
    """Load the Rotten Tomatoes critic snippets (12,808: 7,403 fresh, 5,405 rotten).

    The CSV (columns ``category, text, movie_name, has_plot_and_reviews``) also holds plot
    summaries (``category == "plot"``); those are skipped.

    Args:
        path: The bz2 CSV; default the ``rotten_tomatoes`` asset (fetched on first use).

    Returns:
        Snippets in file order; ``label`` 1 = fresh, 0 = rotten.
    """
    path = Path(path) if path is not None else store.rotten_tomatoes_path()
    labels = {"fresh": 1, "rotten": 0}
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        return [
            LabeledSnippet(row["text"].strip(), labels[row["category"]], row["movie_name"])
            for row in csv.DictReader(f)
            if row["category"] in labels
        ]
