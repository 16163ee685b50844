"""Rewrite ``dynmask_viz.SURFACE`` (the notebooks' import surface) from the layers' ``__all__``.

Run ``python -m tools.surface`` after changing a layer's public names; ``tests/test_layers.py``
fails while the two disagree. The layers listed, and their order, are kept as they are.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

INIT = Path(__file__).resolve().parents[1] / "dynmask_viz" / "__init__.py"
_BLOCK = re.compile(r"(SURFACE: dict\[str, tuple\[str, \.\.\.\]\] = \{\n)(.*?)(\n\}\n)", re.S)


def render(layers: list[str]) -> str:
    """The body of the SURFACE dict, one name per line (as ``ruff format`` writes it)."""
    lines = []
    for layer in layers:
        names = sorted(importlib.import_module(f"dynmask_viz.{layer}").__all__)
        lines.append(f'    "{layer}": (')
        lines += [f'        "{name}",' for name in names]
        lines.append("    ),")
    return "\n".join(lines)


def main() -> int:
    text = INIT.read_text(encoding="utf-8")
    match = _BLOCK.search(text)
    if match is None:
        print(f"no SURFACE block found in {INIT}", file=sys.stderr)
        return 1
    layers = re.findall(r'^    "(\w+)": \(', match.group(2), re.M)
    new = text[: match.start(2)] + render(layers) + text[match.end(2) :]
    if new != text:
        INIT.write_text(new, encoding="utf-8")
        print(f"updated {INIT}")
    else:
        print("SURFACE is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
