"""Command line: ``python -m dynmask_viz.assets fetch [NAME ...] | list | verify``."""

from __future__ import annotations

import argparse
import sys

from .registry import ASSETS
from .store import (
    AssetIntegrityError,
    AssetUnavailableError,
    asset_dir,
    fetch_asset,
    is_cached,
    verify_asset,
)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m dynmask_viz.assets", description="Offline model and data assets."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser(
        "fetch", help="download and unpack assets; re-hash cached copies and replace damaged ones"
    ).add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(ASSETS)}")
    sub.add_parser("list", help="show assets and whether they are cached")
    sub.add_parser("verify", help="re-hash every cached file")
    args = parser.parse_args(argv)
    failed = False
    if args.cmd == "fetch":
        if unknown := [n for n in args.names if n not in ASSETS]:
            parser.error(f"unknown asset(s) {unknown}; known: {', '.join(ASSETS)}")
        for name in args.names or ASSETS:
            try:
                # verify: this is the repair command that damage messages name.
                print(f"{name}: {fetch_asset(name, verify=True)}")
            except (AssetUnavailableError, AssetIntegrityError) as exc:
                print(f"{name}: FAILED\n{exc}", file=sys.stderr)
                failed = True
    elif args.cmd == "list":
        for name, spec in ASSETS.items():
            state = "cached" if is_cached(name) else "missing"
            print(f"{name:16} {state:8} {asset_dir(name)}\n{'':16} {spec.description}")
    else:
        for name in ASSETS:
            problems = verify_asset(name)
            failed |= bool(problems)
            print(f"{name}: " + ("OK" if not problems else "FAILED\n  " + "\n  ".join(problems)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
