"""The package's import rules, checked on the source (no import is executed).

Each top-level module or subpackage of ``dynmask_viz`` is a layer; a layer imports only from
the layers listed for it in :data:`ALLOWED` (all of them below it), and a few pairs are
narrowed to names in :data:`ONLY_NAMES` (plots and widgets draw data, they compute no masks
and train nothing). Every import counts, also those inside functions. Run it with
``python -m tools.import_layers`` (``make lint`` does); it prints each violation and exits 1.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "dynmask_viz"
CORE = {"_hashing", "_device", "_threads", "masking", "attention_masks", "formulas"}
# Layer -> the layers it may import from (its own layer is always allowed).
ALLOWED: dict[str, set[str]] = {
    "_hashing": set(),
    "_device": set(),
    "_threads": set(),
    "masking": {"_hashing", "_threads"},
    "attention_masks": {"_hashing"},
    "formulas": {"attention_masks"},
    "assets": set(),
    "hf": CORE | {"assets"},
    "analysis": CORE | {"assets", "hf"},
    "experiments": CORE | {"assets", "hf"},
    "causal_lm": CORE | {"assets", "hf", "experiments"},
    "mask_finetuning": CORE | {"assets", "hf", "experiments"},
    "plots": {"masking", "attention_masks", "assets", "analysis", "experiments"},
    "widgets": {"masking", "assets", "hf", "analysis", "plots"},
    "teaching": CORE | {"assets", "hf", "analysis", "plots", "widgets"},
    "__init__": set(),  # the facade resolves names lazily, by string
    "__main__": set(),
}
# (importer layer, imported module) -> the only names it may take from there. A whole-module
# import (``from .. import masking``) of a narrowed module is a violation.
_CONSTANTS = {"UNCHANGED", "MASKED", "RANDOM", "KEPT", "IGNORE_INDEX", "CORRUPTION_NAMES"}
ONLY_NAMES: dict[tuple[str, str], set[str]] = {
    # Types, constants and counts of given results; nothing that draws a mask.
    ("plots", "masking"): _CONSTANTS
    | {"MaskedBatch", "CorruptionBreakdown", "corruption_breakdown", "times_masked_pmf"},
    ("plots", "attention_masks"): {"MaskRule", "is_blocked", "BLOCKED_BELOW"},
    ("plots", "experiments"): {"ROBERTA_TABLE1"},
    ("plots", "analysis"): {
        "EpochGrid",
        "LayerMaskView",
        "grid_from_results",
        "attention_view",
        "mask_view",
    },
    ("plots", "assets"): {"cjk_font_path", "is_cached"},
    # Configuration only: widgets get their masks from analysis and hf.
    ("widgets", "masking"): {"MaskingConfig", "MaskingVocab"},
}
# Third-party packages a layer must not import: the core and the assets stay free of
# transformers models; nothing installed imports test-only dependencies.
_TEST_ONLY = {"nbformat", "nbclient", "pytest", "hypothesis", "playwright"}
FORBIDDEN_EXTERNAL: dict[str, set[str]] = {layer: {"transformers"} for layer in (*CORE, "assets")}
# ... except these names, containers with no model code: MLMCollator returns a BatchEncoding,
# as the Hugging Face collator it replaces does (imported inside the call, never at import).
EXTERNAL_EXCEPTIONS: dict[tuple[str, str], set[str]] = {("masking", "transformers"): {"BatchEncoding"}}


@dataclass(frozen=True)
class Violation:
    """One import that breaks a rule."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(tree: ast.AST, module: str, is_package: bool):
    """Yield ``(line, target module, names or None)`` for every import of the package."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if target == PACKAGE or (node.module is None and node.level):
                for name in names:  # ``from .. import masking``: each name is a module
                    yield node.lineno, f"{target}.{name}", None
            else:
                yield node.lineno, target, names


def check(root: str | Path) -> list[Violation]:
    """Every violation of the rules in the package folder ``root`` (e.g. ``dynmask_viz/``)."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = _module_name(path, root)
        layer = _layer(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target, names in _imports(tree, module, is_package):
            top = target.split(".")[0]
            if top != PACKAGE:
                excepted = EXTERNAL_EXCEPTIONS.get((layer, top), set())
                if names and set(names) <= excepted:
                    continue
                if top in FORBIDDEN_EXTERNAL.get(layer, set()) | _TEST_ONLY:
                    found.append(Violation(path, line, f"layer {layer!r} must not import {top!r}"))
                continue
            imported = _layer(target)
            if imported == layer:
                continue
            if layer not in ALLOWED:
                found.append(Violation(path, line, f"{module} is in no known layer: add it to ALLOWED"))
            elif imported not in ALLOWED[layer]:
                allowed = ", ".join(sorted(ALLOWED[layer])) or "nothing"
                found.append(
                    Violation(path, line, f"layer {layer!r} imports {target!r} (allowed: {allowed})")
                )
            elif (layer, imported) in ONLY_NAMES:
                only = ONLY_NAMES[layer, imported]
                extra = ["the whole module"] if names is None else sorted(set(names) - only)
                if extra:
                    found.append(
                        Violation(
                            path,
                            line,
                            f"layer {layer!r} takes {extra} from {imported!r}; only {sorted(only)}",
                        )
                    )
    return found


def main(argv: list[str] | None = None) -> int:
    """Check ``dynmask_viz/`` (or the folder given) and print the violations."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1] / PACKAGE
    violations = check(root)
    for violation in violations:
        print(violation)
    print(f"import layers: {len(violations)} violation(s) in {root}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
