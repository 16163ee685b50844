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

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, Tag, Template, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

from . import store

__all__ = ["WikiArticle", "LabeledSnippet", "clean_wikitext", "load_wiki_articles",
           "split_articles", "iter_sentences", "load_rotten_tomatoes"]  # fmt: skip

# Bump when the cleaning changes: the cached JSON is keyed by the source file only.
_CACHE_VERSION = "enwiki_clean_v1"

# Sections that are lists of links or citations, not prose.
_DROP_SECTIONS = {
    "see also", "references", "external links", "further reading", "notes", "bibliography",
    "sources", "citations", "footnotes", "notes and references", "works cited", "gallery",
}  # fmt: skip
# Tags whose content is not running text (citations, tables, maths, galleries...).
_DROP_TAGS = {"ref", "references", "table", "gallery", "math", "timeline", "imagemap", "score",
              "syntaxhighlight", "source", "pre", "code", "chem", "hiero"}  # fmt: skip
_INLINE_TAGS = {"ref", "math", "code", "chem", "hiero", "score"}
# Links rendered as images, categories or interlanguage links rather than text.
_DROP_LINK = re.compile(r"^\s*:?\s*(file|image|media|category|[a-z]{2,3}(-[a-z]+)?)\s*:", re.I)
# Lines that are markup the parser could not resolve (malformed tables, nested links).
_JUNK_LINE = re.compile(
    r"^\s*(thumb\||left\||right\||upright|category:|file:|image:|\{\||\|\}|\|-|!)"
    r"|\[\[|\]\]|\{\{|\}\}|\|\||\b(style|align|valign|bgcolor|colspan|rowspan|class|width)\s*=",
    re.I,
)
# Refs and comments are cut with a regex before parsing: malformed ones (common in real
# dumps) otherwise survive the parser as plain text.
_REF_OR_COMMENT = re.compile(r"<ref[^>/]*/>|<ref[^>/]*>.*?</ref\s*>|<!--.*?-->", re.S | re.I)
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]*\b[^<>]*>", re.I)
# Templates whose output is running text: {{convert|5|km}} -> "5 km", {{lang|fr|mot}} -> "mot".
_TEXT_TEMPLATES = {"convert": slice(0, 2), "cvt": slice(0, 2), "lang": slice(1, 2),
                   "nowrap": slice(0, 1), "nobr": slice(0, 1), "small": slice(0, 1),
                   "sic": slice(0, 1), "math": slice(0, 1), "mvar": slice(0, 1)}  # fmt: skip


@dataclass(frozen=True)
class WikiArticle:
    """A cleaned Wikipedia article: plain-text paragraphs separated by blank lines."""

    title: str
    text: str


@dataclass(frozen=True)
class LabeledSnippet:
    """A Rotten Tomatoes critic snippet; ``label`` is 1 for fresh, 0 for rotten."""

    text: str
    label: int
    movie: str = ""


def clean_wikitext(wikitext: str) -> str:
    """Turn MediaWiki markup into plain prose paragraphs.

    Templates, references, tables, headings, file/category/interlanguage links and the
    link-list sections at the end of an article are dropped; link texts are kept.

    Args:
        wikitext: Raw MediaWiki source of one page.

    Returns:
        Paragraphs separated by one blank line, whitespace collapsed.
    """
    code = mwparserfromhell.parse(_REF_OR_COMMENT.sub("", wikitext))
    _prune(code)
    paragraphs = []
    for line in code.strip_code(normalize=True, collapse=True).splitlines():
        if _JUNK_LINE.search(line):
            continue
        line = _tidy(line)
        # Fewer than 4 words is a leftover list item, caption or table cell, not prose.
        if len(line.split()) >= 4 and re.search(r"[A-Za-z]", line):
            paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _prune(code: Wikicode) -> None:
    """Drop non-prose nodes of ``code`` in place and render the text templates.

    One pass over the node lists, because ``Wikicode.remove`` searches the whole tree on
    every call: that made cleaning quadratic (about 9 s instead of 2 for the enwiki asset).
    """
    kept, skip_level = [], None
    for node in code.nodes:
        if isinstance(node, Heading):
            if skip_level is not None and node.level > skip_level:
                continue  # a subsection of a dropped section
            title = node.title.strip_code().strip().lower()
            skip_level = node.level if title in _DROP_SECTIONS else None
            kept.append(Text("\n"))  # headings themselves are not prose
            continue
        if skip_level is not None:
            continue
        if isinstance(node, Template):
            name = str(node.name).strip().lower()
            keep = slice(0, 1) if name.startswith("lang-") else _TEXT_TEMPLATES.get(name)
            args = [p.value for p in node.params if not p.showkey][keep] if keep else []
            for i, value in enumerate(args):
                _prune(value)
                kept.extend(([Text(" ")] if i else []) + list(value.nodes))
            continue
        if isinstance(node, Tag):
            tag = str(node.tag).strip().lower()
            if tag == "br":  # strip_code would glue the words on both sides together
                kept.append(Text(" "))
                continue
            if tag in _DROP_TAGS:
                if tag not in _INLINE_TAGS:  # a table or gallery ends a paragraph
                    kept.append(Text("\n"))
                continue
            children = node.contents
        elif isinstance(node, Wikilink):
            if _DROP_LINK.match(str(node.title)):
                kept.append(Text(" "))  # dumps often glue "end.[[File:x]]Next" together
                continue
            children = node.text
        else:
            children = node.title if isinstance(node, ExternalLink) else None
        if children is not None:
            _prune(children)
        kept.append(node)
    code.nodes = kept


def _tidy(line: str) -> str:
    """Repair the punctuation left behind where templates and refs were removed."""
    line = _HTML_TAG.sub("", line.replace("\xa0", " "))
    line = re.sub(r"\(\s*[,;:]?\s*\)", "", line)  # "( )" / "(; )" after a removed template
    line = re.sub(r"\(\s*[,;:]\s*", "(", line)
    line = re.sub(r"\s+([,.;:!?)])", r"\1", line)
    line = re.sub(r"([,;:])(?=[,;:.])", "", line)
    return re.sub(r"\s{2,}", " ", line).strip(" *#:;|")


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
