"""Every ``notebooks/NN_topic.ipynb``: stored clean, starts with setup_notebook, runs headless.

The execution test runs each notebook top to bottom with nbclient in FAST mode, offline, with the
working directory set to ``notebooks/`` (as in JupyterLab). It works on an in-memory copy, so the
``.ipynb`` file on disk is never rewritten. Cells tagged ``raises-exception`` may raise.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tools.notebooks import dirty_cells

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
NAME_RE = re.compile(r"^\d{2}_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")
NOTEBOOK_TIMEOUT_S = 600  # whole notebook, all cells together
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found: expected at least one {NOTEBOOKS_DIR}/NN_topic.ipynb"


@params
def test_name_follows_convention(path):
    assert NAME_RE.match(path.name), f"{path.name}: expected NN_topic.ipynb (two digits, lower_snake_case)"


@params
def test_stored_without_outputs(path):
    dirty = dirty_cells(nbformat.read(path, as_version=nbformat.NO_CONVERT))
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; run `make clean-notebooks`"
    )


@params
def test_every_cell_has_a_unique_id(path):
    # nbformat 4.5 cell ids: JupyterLab and nbformat add missing ones on every save (a noisy diff)
    # and nbformat warns that a missing id will become a hard error.
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    ids = [cell.get("id") for cell in cells]
    missing = [i for i, cell_id in enumerate(ids) if not cell_id]
    assert not missing, f"{path.name}: cells {missing} have no id; run nbformat.validator.normalize"
    assert len(set(ids)) == len(ids), f"{path.name}: cell ids repeat"


@params
def test_first_code_cell_calls_setup_notebook(path):
    cells = _code_cells(_read(path))
    assert cells, f"{path.name} has no code cell"
    code = "\n".join(ln.split("#", 1)[0] for ln in cells[0].source.splitlines())
    assert re.search(r"\bsetup_notebook\(", code), (
        f"{path.name}: the first code cell must call setup_notebook(...), e.g.\n"
        "    from dynmask_viz.teaching.notebook import setup_notebook\n    ctx = setup_notebook()"
    )


# --- headless execution -------------------------------------------------------------------


def _kernel_manager_class():
    """AsyncKernelManager whose ``python3`` kernel is *this* interpreter (the venv's).

    A user-level kernelspec (e.g. ~/.local/share/jupyter/kernels/python3) would otherwise shadow
    the venv's and could start some other Python without our packages.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name != "python3":
                return super().get_kernel_spec(kernel_name)
            spec = get_kernel_dict()  # argv starts with sys.executable
            return KernelSpec(
                argv=spec["argv"],
                display_name=spec["display_name"],
                language=spec["language"],
                metadata=spec["metadata"],
                resource_dir=RESOURCES,
            )

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _default_ksm(self):
            return ThisPythonKernelSpecs(data_dir=self.data_dir)

    return ThisPythonKernelManager


PROBE = """\
import os, sys
assert sys.executable == {exe!r}, f"kernel runs {{sys.executable}}, expected {exe!r}"
assert os.getcwd() == {cwd!r}, os.getcwd()
assert os.environ.get("DYNMASK_FAST") == "1" and os.environ.get("HF_HUB_OFFLINE") == "1"
"""


def _describe_failure(path: Path, nb, index: int | None, exc: BaseException) -> str:
    """Failing cell (number as in JupyterLab's order of cells, 1-based) + source + traceback."""
    if index is None:
        return f"{path.name}: {type(exc).__name__}: {exc}"
    cell = nb.cells[index]
    where = "setup probe" if index == 0 else f"cell {index} of {len(nb.cells) - 1}"
    tb = "\n".join(
        ANSI_RE.sub("", "\n".join(out.get("traceback", [])))
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    )
    return (
        f"{path.name}: {where} failed ({type(exc).__name__})\n"
        f"----- cell source -----\n{cell.source}\n"
        f"----- traceback -----\n{tb or ANSI_RE.sub('', str(exc))}"
    )


@pytest.mark.notebook
@params
def test_notebook_executes(path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

    nb = _read(path)  # in-memory copy: the file on disk is never written
    cwd = str(NOTEBOOKS_DIR)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE.format(exe=sys.executable, cwd=cwd)))
    env = dict(os.environ, DYNMASK_FAST="1", HF_HUB_OFFLINE="1")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)  # let ipykernel pick the inline backend, as in JupyterLab
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S
    current: dict[str, int | None] = {"index": None}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(),
        # each cell gets what is left of the notebook's budget
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        resources={"metadata": {"path": cwd}},
        on_cell_start=on_cell_start,
        shutdown_kernel="immediate",
    )
    try:
        client.execute(cwd=cwd, env=env)
    except (CellExecutionError, CellControlSignal, DeadKernelError, TimeoutError) as exc:
        msg = _describe_failure(path, nb, current["index"], exc)
        if time.monotonic() >= deadline - 2:  # per-cell timeouts are rounded down
            msg = f"notebook exceeded its {NOTEBOOK_TIMEOUT_S} s budget\n" + msg
        pytest.fail(msg, pytrace=False)
