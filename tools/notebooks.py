"""Developer tooling for the notebooks (``make clean-notebooks``, ``make check-notebooks``, tests).

Usage::

    python -m tools.notebooks strip-notebooks [NOTEBOOK ...]
    python -m tools.notebooks check-notebooks [NOTEBOOK ...]

Without arguments both act on ``notebooks/*.ipynb`` under the current directory.
``strip-notebooks`` removes outputs and execution counts in place (files that are already clean
are not rewritten); ``check-notebooks`` exits 1 and lists the notebooks that still have any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

__all__ = ["dirty_cells", "strip_notebook", "main"]


def dirty_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Return indices of code cells that carry outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def strip_notebook(path: Path) -> bool:
    """Strip outputs and execution counts from one notebook in place.

    Args:
        path: The ``.ipynb`` file.

    Returns:
        True if the file was changed (and rewritten).
    """
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not dirty_cells(nb) and not any("execution" in c.metadata for c in code):
        return False
    for cell in code:
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # JupyterLab's per-cell timing, if recorded
    nbformat.write(nb, path)
    return True


def _paths(args: list[str]) -> list[Path]:
    return [Path(a) for a in args] if args else sorted(Path("notebooks").glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks")
    parser.add_argument("command", choices=["strip-notebooks", "check-notebooks"])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = _paths(args.notebooks)
    if args.command == "strip-notebooks":
        changed = [p for p in paths if strip_notebook(p)]
        for p in changed:
            print(f"stripped {p}")
        print(f"{len(changed)} of {len(paths)} notebook(s) stripped")
        return 0
    dirty = {}
    for p in paths:
        cells = dirty_cells(nbformat.read(p, as_version=nbformat.NO_CONVERT))
        if cells:
            dirty[p] = cells
    for p, cells in dirty.items():
        print(f"{p}: outputs/execution counts in code cell(s) {cells}", file=sys.stderr)
    if dirty:
        print("run `make clean-notebooks` to strip them", file=sys.stderr)
        return 1
    print(f"{len(paths)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
