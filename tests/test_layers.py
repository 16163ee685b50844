"""The package's shape: imports only go down the layers, and the notebooks' import surface."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import dynmask_viz
from tools.import_layers import ALLOWED, check

PACKAGE_DIR = Path(dynmask_viz.__file__).parent


def test_the_package_follows_its_import_rules():
    violations = check(PACKAGE_DIR)
    assert not violations, "imports that break the layer rules:\n" + "\n".join(map(str, violations))


def test_every_layer_of_the_package_has_rules():
    layers = {p.stem if p.is_file() else p.name for p in PACKAGE_DIR.iterdir() if p.name != "__pycache__"}
    assert layers <= set(ALLOWED), f"layers without rules: {sorted(layers - set(ALLOWED))}"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "dynmask_viz"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # an upward import from the core
        (
            {"masking/__init__.py": "", "masking/core.py": "from ..plots import apply_style\n"},
            "imports 'dynmask_viz.plots'",
        ),
        # the same as an absolute import, inside a function
        (
            {"attention_masks/rule.py": "def f():\n    import dynmask_viz.widgets\n"},
            "imports 'dynmask_viz.widgets'",
        ),
        # a figure that computes masks
        ({"plots/grid.py": "from ..masking import mask_batch\n"}, "takes ['mask_batch'] from 'masking'"),
        # a widget reaching into the rule catalogue as a whole module
        ({"widgets/x.py": "from .. import attention_masks as am\n"}, "imports 'dynmask_viz.attention_masks'"),
        # experiments importing plots
        ({"experiments/train.py": "from ..plots import plot_mask\n"}, "layer 'experiments' imports"),
        # transformers in the core, a test-only dependency anywhere
        ({"masking/vocab.py": "from transformers import AutoTokenizer\n"}, "must not import 'transformers'"),
        ({"teaching/nb.py": "import nbformat\n"}, "must not import 'nbformat'"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path, files, expected):
    violations = check(_package(tmp_path, files))
    assert len(violations) == 1 and expected in str(violations[0]), violations


def test_allowed_imports_pass(tmp_path):
    files = {
        "hf/masks.py": "from ..attention_masks import to_additive\nfrom .check import x\n",
        "plots/grid.py": "from ..masking import MASKED, MaskedBatch\nfrom ..analysis import EpochGrid\n",
        "widgets/x.py": "from ..analysis import build_rule\nfrom ..hf import extract_attention\n",
    }
    assert check(_package(tmp_path, files)) == []


def test_the_cli_exits_nonzero_on_a_violation(tmp_path):
    root = _package(tmp_path, {"formulas.py": "from .hf import to_hf_mask\n"})
    proc = subprocess.run(
        [sys.executable, "-m", "tools.import_layers", str(root)],
        capture_output=True,
        text=True,
        cwd=PACKAGE_DIR.parent,
        timeout=60,
    )
    assert proc.returncode == 1 and "layer 'formulas' imports 'dynmask_viz.hf'" in proc.stdout


def test_the_surface_is_each_layers_public_names_once():
    homes = dynmask_viz.surface()
    every = []
    for layer in dynmask_viz.LAYERS:
        names = importlib.import_module(f"dynmask_viz.{layer}").__all__
        every += names
        assert all(homes[name] == layer for name in names), layer
    twice = sorted({n for n in every if every.count(n) > 1})
    assert not twice, f"public names exported by two layers: {twice}"
    assert sorted(homes) == sorted(every)
    for name, layer in homes.items():  # every name resolves to its home's object
        assert getattr(dynmask_viz, name) is getattr(importlib.import_module(f"dynmask_viz.{layer}"), name)


def test_the_surface_resolves_lazily():
    code = (
        "import sys, dynmask_viz\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from dynmask_viz import setup_notebook, mask_batch, plot_mask_effect\n"
        "from dynmask_viz.teaching import setup_notebook as home\n"
        "assert setup_notebook is home\n"
        "try:\n    dynmask_viz.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no attribute 'no_such_name'" in proc.stdout


def test_importing_a_layer_loads_only_what_it_needs():
    code = (
        "import sys\n"
        "from dynmask_viz.hf import extract_attention, to_hf_mask\n"
        "assert 'transformers' not in sys.modules, 'hf loads transformers only when a model is used'\n"
        "import dynmask_viz.plots, dynmask_viz.teaching\n"
        "assert 'dynmask_viz.experiments' not in sys.modules, 'figures load no training code'\n"
        "from dynmask_viz.hf import MaskingEpochCallback\n"
        "assert 'transformers' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
