"""bertviz's scripts without a CDN: require.js, d3 and jQuery vendored from npm.

bertviz 1.4.1 loads require.js, d3 5.7.0 and jQuery from cdnjs; offline its views show
"require is not defined". This module vendors those three scripts from the npm registry
(pinned versions, sha512 integrity checked) into ``notebooks/_static/vendor/`` (git-ignored),
which JupyterLab serves under ``/files/...``::

    python -m dynmask_viz.assets.bertviz_js install [--dest DIR] [--from TARBALL_DIR]

(``make assets`` runs it; it is a no-op when the files are already there and intact). The views
that use them are :func:`dynmask_viz.widgets.head_view` and :func:`dynmask_viz.widgets.model_view`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIX_HINT", "VENDOR_FILES", "default_vendor_dir", "install", "is_installed", "vendor_dir"]

FIX_HINT = "run `make assets` or `python -m dynmask_viz.assets.bertviz_js install`"


@dataclass(frozen=True)
class VendorFile:
    """One vendored script: where it comes from on npm and what it must hash to."""

    name: str  # file name in the vendor dir
    spec: str  # npm package@version
    member: str  # path inside the npm tarball
    integrity: str  # npm's sha512 integrity of the tarball (checked against the registry once)
    sha256: str  # sha256 of the extracted file


VENDOR_FILES = (
    VendorFile(
        "require.js",
        "requirejs@2.3.6",
        "package/require.js",
        "sha512-ipEzlWQe6RK3jkzikgCupiTbTvm4S0/CAU5GlgptkN5SO6F3u0UD0K18wy6ErDqiCyP4J4YYe1HuAShvsxePLg==",
        "9485f0917f97fcf4f63a5ea365200ffd57f123f451382a2f9a1ad2e2fd51ac9b",
    ),
    VendorFile(
        "d3.min.js",
        "d3@5.7.0",
        "package/dist/d3.min.js",
        "sha512-8KEIfx+dFm8PlbJN9PI0suazrZ41QcaAufsKE9PRcqYPWLngHIyWJZX96n6IQKePGgeSu0l7rtlueSSNq8Zc3g==",
        "bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609",
    ),
    VendorFile(
        "jquery.min.js",
        "jquery@2.2.4",
        "package/dist/jquery.min.js",
        "sha512-lBHj60ezci2u1v2FqnZIraShGgEXq35qCzMv4lITyHGppTnA13rwR0MgwyNJh9TnDs3aXUvd1xjAotfraMHX/Q==",
        "05b85d96f41fff14d8f608dad03ab71e2c1017c2da0914d7c59291bad7a54f8e",
    ),
)


def default_vendor_dir() -> Path:
    """``notebooks/_static/vendor`` of the source checkout this package lives in."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "_static" / "vendor"


def is_installed(folder: str | os.PathLike | None = None, *, check_hashes: bool = False) -> bool:
    """True when every vendored file is in ``folder`` (and, optionally, hashes right)."""
    folder = Path(folder) if folder is not None else default_vendor_dir()
    for vf in VENDOR_FILES:
        path = folder / vf.name
        if not path.is_file() or path.stat().st_size == 0:
            return False
        if check_hashes and hashlib.sha256(path.read_bytes()).hexdigest() != vf.sha256:
            return False
    return True


def vendor_dir() -> Path | None:
    """The vendor folder the views use, or None when there is none.

    Tried in order: ``$DYNMASK_VIZ_VENDOR_DIR``, ``./_static/vendor`` (the notebook's folder is
    the kernel's working directory) and :func:`default_vendor_dir`.
    """
    env = os.environ.get("DYNMASK_VIZ_VENDOR_DIR")
    candidates = [Path(env)] if env else [Path.cwd() / "_static" / "vendor", default_vendor_dir()]
    return next((c for c in candidates if is_installed(c)), None)


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _npm_pack(workdir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm was not found: install Node.js/npm (e.g. `apt-get install npm`).")
    specs = [vf.spec for vf in VENDOR_FILES]
    proc = subprocess.run(
        [npm, "pack", *specs, "--silent"], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`npm pack {' '.join(specs)}` failed (exit {proc.returncode}); is the "
            f"npm registry reachable?\n{proc.stderr.strip()[-2000:]}"
        )


def install(
    dest: str | os.PathLike | None = None,
    *,
    tarballs: str | os.PathLike | None = None,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Vendor require.js, d3 and jQuery into ``dest`` (default :func:`default_vendor_dir`).

    Args:
        dest: Target folder; created if needed.
        tarballs: Folder that already holds the npm tarballs (``d3-5.7.0.tgz``...); default:
            fetch them with ``npm pack`` into a temporary folder.
        force: Re-fetch even if ``dest`` already holds intact files.
        quiet: Print nothing.

    Returns:
        The vendor folder.

    Raises:
        RuntimeError: npm is missing or failed, or a tarball fails its sha512 integrity check.
    """
    dest = Path(dest) if dest is not None else default_vendor_dir()
    if not force and is_installed(dest, check_hashes=True):
        if not quiet:
            print(f"bertviz offline scripts already in {dest}")
        return dest
    with tempfile.TemporaryDirectory(prefix="dynmask-npm-") as tmp:
        source = Path(tarballs) if tarballs is not None else Path(tmp)
        if tarballs is None:
            _npm_pack(source)
        dest.mkdir(parents=True, exist_ok=True)
        for vf in VENDOR_FILES:
            name, version = vf.spec.rsplit("@", 1)
            tgz = source / f"{name}-{version}.tgz"
            if not tgz.is_file():
                raise RuntimeError(f"{tgz} is missing; {FIX_HINT} (with network access to npm).")
            got = _integrity(tgz)
            if got != vf.integrity:
                raise RuntimeError(
                    f"{tgz.name} failed its integrity check: expected {vf.integrity}, "
                    f"got {got}. Delete it and {FIX_HINT}."
                )
            with tarfile.open(tgz, "r:gz") as tar:
                data = tar.extractfile(tar.getmember(vf.member)).read()
            if hashlib.sha256(data).hexdigest() != vf.sha256:
                raise RuntimeError(f"{vf.member} in {tgz.name} has an unexpected sha256.")
            partial = dest / (vf.name + ".partial")
            partial.write_bytes(data)
            partial.replace(dest / vf.name)  # atomic: never a half-written script
    if not quiet:
        print(f"bertviz offline scripts installed in {dest}: " + ", ".join(vf.name for vf in VENDOR_FILES))
    return dest


def main(argv: list[str] | None = None) -> int:
    """CLI: ``install [--dest DIR] [--from DIR] [--force]`` | ``verify [--dest DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m dynmask_viz.assets.bertviz_js", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["install", "verify"])
    parser.add_argument("--dest", default=None, help="vendor folder (default: notebooks/_static/vendor)")
    parser.add_argument("--from", dest="tarballs", default=None, help="folder with the npm tarballs")
    parser.add_argument("--force", action="store_true", help="re-fetch even if intact")
    args = parser.parse_args(argv)
    dest = Path(args.dest) if args.dest else default_vendor_dir()
    try:
        if args.command == "install":
            install(dest, tarballs=args.tarballs, force=args.force)
            return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok = is_installed(dest, check_hashes=True)
    print(f"{dest}: {'ok' if ok else 'missing or modified: ' + FIX_HINT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
