"""Tests for dynmask_viz.assets.corpus and .wikitext: wikitext cleaning, the real enwiki dump,
splits, sentences, and the Rotten Tomatoes snippets. The real-data tests use the assets in the user cache."""

from __future__ import annotations

import bz2
import json
import random

import pytest

from dynmask_viz.assets import corpus
from dynmask_viz.assets import store as assets
from dynmask_viz.assets.corpus import (
    LabeledSnippet,
    WikiArticle,
    iter_sentences,
    load_rotten_tomatoes,
    load_wiki_articles,
    split_articles,
)
from dynmask_viz.assets.wikitext import clean_wikitext

# Long paragraphs are split over several string literals; "\n" marks the real line ends.
WIKITEXT = (
    "{{Infobox philosopher\n| name = Ada Example\n| image = Ada.jpg\n}}\n"
    "'''Ada Example''' (born {{birth date|1900|1|2}}) was a [[Logic|logician]] and "
    "[[mathematics|mathematician]] who studied [[masked language model]]s."
    '<ref name="a">{{cite book |title=Hidden Source Title |year=1999}}</ref> '
    "She lived in an area of {{convert|12|km2}} near the sea."
    '<ref name="a"/>{{citation needed|date=May 2020}}\n'
    "\n"
    "[[File:Ada portrait.jpg|thumb|left|Portrait caption words here]]\n"
    "== Early life ==\n"
    "Her early work on '''attention''' was ''widely'' read across [[Europe]]."
    "<!-- hidden editor comment --> [[Image:Map.png|thumb|Inline caption of a map]] "
    "It still is.\n"
    '{| class="wikitable"\n! Year !! Prize\n|-\n| 1931 || Golden Table Medal\n|}\n'
    "She spoke {{lang|fr|la langue française}} fluently at home with her family.\n"
    "\n"
    "== See also ==\n"
    "* [[Seealso Target Article]], a related article with a long description\n"
    "\n"
    "== References ==\n"
    "{{Reflist}}\n"
    "\n"
    "[[Category:Example logicians]]\n"
    "[[de:Ada Example]]\n"
)


def test_clean_wikitext_keeps_prose_drops_markup():
    text = clean_wikitext(WIKITEXT)
    # Prose and link texts survive, with the link target hidden behind a label dropped.
    assert text.startswith(
        "Ada Example (born) was a logician and mathematician who studied masked language models."
    )
    assert "Her early work on attention was widely read across Europe. It still is." in text
    assert "near the sea." in text
    assert "12 km2" in text  # {{convert}} rendered, not dropped
    assert "She spoke la langue française fluently" in text  # {{lang}} rendered
    for gone in (
        "Infobox",
        "Hidden Source Title",
        "citation needed",
        "Portrait caption",
        "Early life",
        "Golden Table Medal",
        "Seealso",
        "related article",
        "Category",
        "Inline caption",
        "thumb",
        "Example logicians",
        "de:",
        "hidden editor comment",
        "Reflist",
        "Logic|",
        "'''",
        "[[",
        "]]",
        "{{",
        "}}",
        "<ref",
        "|",
    ):
        assert gone not in text, gone
    paragraphs = text.split("\n\n")
    assert len(paragraphs) == 3
    assert all(p == p.strip() and "\n" not in p and "  " not in p for p in paragraphs)


def test_clean_wikitext_small_cases():
    assert clean_wikitext("A [[b|c]] d e f.") == "A c d e f."
    assert clean_wikitext("Too short.") == ""  # < 4 words: list item / caption residue
    assert clean_wikitext("One two three four.<ref>Cited</ref> Five six seven.") == (
        "One two three four. Five six seven."
    )
    assert clean_wikitext("Line one is here.<br>Line two is here.") == ("Line one is here. Line two is here.")


# ------------------------------------------------------------------------ tiny XML dump

NS = "http://www.mediawiki.org/xml/export-0.11/"


def _page(title: str, ns: int, text: str, redirect: str | None = None) -> str:
    red = f'<redirect title="{redirect}" />' if redirect else ""
    revision = f'<revision><id>2</id><text xml:space="preserve">{text}</text></revision>'
    return f"<page><title>{title}</title><ns>{ns}</ns><id>1</id>{red}{revision}</page>"


def _write_dump(path, pages) -> None:
    xml = f'<mediawiki xmlns="{NS}" version="0.11" xml:lang="en">' + "".join(pages) + "</mediawiki>"
    path.write_bytes(bz2.compress(xml.encode("utf-8")))


BODY = "The '''quick''' brown fox jumps over the [[lazy dog]] again and again."


@pytest.fixture
def tiny_dump(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "tiny.xml.bz2"
    _write_dump(
        path,
        [
            _page("Fox", 0, BODY),
            _page("Foxes", 0, "#REDIRECT [[Fox]]", redirect="Fox"),
            _page("Talk:Fox", 1, "Discussion of the fox article goes on here for a while."),
            _page("Stub", 0, "Tiny stub article text here."),
        ],
    )
    return path


def test_dump_parsing_namespace_redirects_min_chars(tiny_dump):
    arts = load_wiki_articles(tiny_dump, min_chars=0, use_cache=False)
    assert arts == [
        WikiArticle("Fox", "The quick brown fox jumps over the lazy dog again and again."),
        WikiArticle("Stub", "Tiny stub article text here."),
    ]
    assert [a.title for a in load_wiki_articles(tiny_dump, min_chars=40, use_cache=False)] == ["Fox"]


def test_dump_cache_is_used_and_invalidated(tiny_dump, monkeypatch):
    cache_file = assets.cache_dir() / "corpus" / "enwiki_clean_v1.json"
    first = load_wiki_articles(tiny_dump, min_chars=0)
    assert json.loads(cache_file.read_text())["source_sha256"] == (assets.sha256_file(tiny_dump)[:16])

    def must_not_parse(text):
        raise AssertionError("cache should have been used")

    monkeypatch.setattr(corpus, "clean_wikitext", must_not_parse)
    assert load_wiki_articles(tiny_dump, min_chars=0) == first
    assert load_wiki_articles(tiny_dump, min_chars=40) == first[:1]  # filter applies to cache
    monkeypatch.undo()  # the dump changes: the cache key no longer matches

    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(cache_file.parents[1]))
    _write_dump(tiny_dump, [_page("Wolf", 0, BODY.replace("fox", "wolf"))])
    assert [a.title for a in load_wiki_articles(tiny_dump, min_chars=0)] == ["Wolf"]
    cache_file.write_text("{not json")  # a corrupt cache is re-parsed, not fatal
    assert [a.title for a in load_wiki_articles(tiny_dump, min_chars=0)] == ["Wolf"]


# ---------------------------------------------------------------------- real enwiki dump


@pytest.fixture(scope="module")
def articles():
    # Parse afresh: a cached JSON from an older cleaner would hide regressions (~2 s).
    return load_wiki_articles(use_cache=False)


def test_cached_articles_match_a_fresh_parse(articles):
    cached = load_wiki_articles()  # written on first use, read afterwards
    assert load_wiki_articles() == cached
    assert cached == articles, (
        "the cached cleaned corpus differs from a fresh parse: if the cleaner changed, bump "
        "corpus._CACHE_VERSION"
    )


def test_real_dump_articles(articles):
    titles = [a.title for a in articles]
    assert len(articles) >= 100
    assert sum(len(a.text.split()) for a in articles) > 300_000
    assert "Anarchism" in titles and "Autism" in titles
    assert len(set(titles)) == len(titles)
    assert "AccessibleComputing" not in titles  # a redirect page in the dump
    assert all(len(a.text) >= 500 for a in articles)
    for a in articles:
        for residue in ("[[", "]]", "{{", "}}", "<ref", "</ref", "Category:", "thumb|", "{|"):
            assert residue not in a.text, (a.title, residue)
    anarchism = articles[titles.index("Anarchism")].text
    assert anarchism.startswith("Anarchism is a political philosophy")


def test_split_by_article(articles):
    state = random.getstate()
    train, val = split_articles(articles, validation_fraction=0.1, seed=0)
    assert random.getstate() == state  # private RNG only
    assert len(val) == round(0.1 * len(articles)) and len(train) + len(val) == len(articles)
    assert not {a.title for a in train} & {a.title for a in val}
    assert {a.title for a in train} | {a.title for a in val} == {a.title for a in articles}
    assert split_articles(articles, seed=0) == (train, val)
    assert split_articles(articles, seed=1)[1] != val
    order = {a.title: i for i, a in enumerate(articles)}
    assert [order[a.title] for a in val] == sorted(order[a.title] for a in val)


def test_split_edge_cases():
    arts = [WikiArticle(str(i), "x") for i in range(3)]
    assert len(split_articles(arts, validation_fraction=0.1)[1]) == 1  # never empty
    assert split_articles(arts, validation_fraction=0.0) == (arts, [])
    with pytest.raises(ValueError):
        split_articles(arts, validation_fraction=1.0)


def test_iter_sentences_real(articles):
    sentences = list(iter_sentences(articles, min_words=5, max_words=60))
    assert len(sentences) > 10_000
    assert all(5 <= len(s.split()) <= 60 for s in sentences)
    assert all(s == s.strip() and "\n" not in s for s in sentences)
    assert sum(s[-1] in ".!?\"')" for s in sentences) > 0.9 * len(sentences)
    short = list(iter_sentences(articles[:5], min_words=3, max_words=8))
    assert short and all(3 <= len(s.split()) <= 8 for s in short)


def test_iter_sentences_splitting():
    text = (
        "Dr. Smith met J. R. Doe at noon today. Was it raining that day in town? "
        'Yes, it was raining! Then "Everyone left the old town square." (The end came soon.)'
        "\n\nA new paragraph starts right here."
    )
    assert list(iter_sentences([text], min_words=1, max_words=60)) == [
        "Dr. Smith met J. R. Doe at noon today.",
        "Was it raining that day in town?",
        "Yes, it was raining!",
        'Then "Everyone left the old town square."',
        "(The end came soon.)",
        "A new paragraph starts right here.",
    ]
    assert list(iter_sentences([text], min_words=6, max_words=7)) == [
        "Was it raining that day in town?",
        'Then "Everyone left the old town square."',
        "A new paragraph starts right here.",
    ]


# ------------------------------------------------------------------------ rotten tomatoes


def test_rotten_tomatoes():
    snippets = load_rotten_tomatoes()
    assert len(snippets) == 12_808
    labels = [s.label for s in snippets]
    assert set(labels) == {0, 1}
    assert labels.count(1) == 7_403 and labels.count(0) == 5_405
    assert all(isinstance(s, LabeledSnippet) and s.text and s.movie for s in snippets)
    assert snippets[0] == LabeledSnippet("A three-hour cinema master class.", 1, "a_grin_without_a_cat")
