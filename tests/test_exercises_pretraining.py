"""Chapter 04's checks, its floor line, and its optional live run.

The checks: right answers pass, typical mistakes get their message, junk never raises. Expected
answers are computed from each check's inputs (counts, curves, losses), never typed in.

The notebook: cells that start with ``# LIVE RUN (optional)`` may be skipped; every other cell
must run without them (they import nothing and define nothing the rest reads), which the last
test checks by executing the notebook without them (FAST mode, as tests/test_notebooks.py does).
"""

from __future__ import annotations

import ast
import math
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS, assert_junk_rejected, assert_right_passes_and_placeholders_do_not
from hypothesis import given, settings
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dynmask_viz.experiments.baselines import unigram_baseline
from dynmask_viz.masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_batch
from dynmask_viz.plots.experiments import plot_learning_curves
from dynmask_viz.teaching import (
    check_first_epoch_below_floor,
    check_memorization_gap,
    check_parting_epoch,
    check_share_memorized,
    check_unigram_loss,
)

# A 12-id vocabulary: 0-3 special, 4-11 words; id 11 never occurs in training (smoothing matters).
VOCAB = MaskingVocab.build(mask_token_id=3, pad_token_id=0, special_ids=(0, 1, 2, 3), vocab_size=12)
SPECIAL = list(VOCAB.special_ids)
TRAIN = torch.tensor([[1, 4, 4, 4, 5, 6, 7, 4, 2], [1, 5, 5, 8, 9, 10, 4, 6, 2]])
COUNTS = torch.bincount(TRAIN.flatten(), minlength=VOCAB.vocab_size)
LABELS = torch.tensor([4, 5, 11, 6, 4, 9])


def _unigram(counts, labels, *, smooth=1.0, drop_special=True) -> float:
    p = counts.double() + smooth
    if drop_special:
        p[SPECIAL] = 0
    return float(-(p / p.sum())[labels].log().mean())


UNIGRAM = _unigram(COUNTS, LABELS)
CURVE = [6.9, 6.85, 6.8, 6.7, 6.8, 6.6]  # below 6.78 first at epoch 4 (above at 5, below at 6)
STATIC = [7.0, 6.8, 6.7, 6.65, 6.6, 6.5, 6.55]
DYNAMIC = STATIC[:3] + [6.66, 6.62, 6.58, 6.5]  # dupe_factor 3: identical for epochs 1-3
TRAINED_ROWS = [5.0, 4.25, 6.0, 5.5, 3.5]  # per-row losses: rows 0, 1 and 3 are lower under the trained mask
FRESH_ROWS = [5.25, 4.5, 5.75, 6.0, 3.5]  # row 4 ties: a tie is not "lower"

REFERENCE = [
    (check_unigram_loss, UNIGRAM, dict(counts=COUNTS, labels=LABELS, special_ids=SPECIAL)),
    (check_first_epoch_below_floor, 4, dict(losses=CURVE, floor=6.78)),
    (check_parting_epoch, 4, dict(dupe_factor=3, epochs=7, static_curve=STATIC, dynamic_curve=DYNAMIC)),
    (check_memorization_gap, 6.4 - 6.0, dict(trained_loss=6.0, fresh_loss=6.4)),
    (check_share_memorized, 3 / 5, dict(trained=TRAINED_ROWS, fresh=FRESH_ROWS)),
]
IDS = [r[0].__name__ for r in REFERENCE]


@pytest.mark.parametrize("check, answer, kwargs", REFERENCE, ids=IDS)
def test_reference_answers_pass_and_placeholders_do_not(check, answer, kwargs):
    assert_right_passes_and_placeholders_do_not(check, answer, kwargs)


@settings(max_examples=60, deadline=None)
@given(answer=JUNK_ANSWERS)
def test_junk_never_raises_and_never_passes(answer):
    assert_junk_rejected(REFERENCE, answer)


# --- check_unigram_loss -------------------------------------------------------------------------


def test_unigram_loss_is_what_the_experiments_baseline_computes():
    """The chapter's exercise 1: the counts and masked labels of a masked batch, scored by hand."""
    ids = torch.randint(4, 12, (6, 16), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = 1, 2
    config = MaskingConfig(mlm_probability=0.3)
    batch = mask_batch(ids, VOCAB, config, seed=5, example_ids=torch.arange(len(ids)), mask_epoch=0)
    labels = batch.labels[batch.labels != IGNORE_INDEX]
    counts = torch.bincount(TRAIN.flatten(), minlength=VOCAB.vocab_size)
    floor = unigram_baseline(TRAIN, ids, VOCAB, config, seed=5)["loss"]
    result = check_unigram_loss(floor, counts=counts, labels=labels, special_ids=SPECIAL)
    assert result, str(result)
    assert check_unigram_loss(
        torch.tensor(round(floor, 2)), counts=counts.tolist(), labels=labels, special_ids=SPECIAL
    )


def test_unigram_loss_names_each_typical_mistake():
    kw = dict(counts=COUNTS, labels=LABELS, special_ids=SPECIAL)
    assert "probability 0" in check_unigram_loss(math.inf, **kw).message  # label 11 unseen, no smoothing
    seen = torch.tensor([4, 5, 6, 4, 9])  # without the unseen id the unsmoothed loss is finite
    no_smooth = check_unigram_loss(
        _unigram(COUNTS, seen, smooth=0.0), counts=COUNTS, labels=seen, special_ids=SPECIAL
    )
    assert not no_smooth and "Add 1" in no_smooth.hint
    specials = check_unigram_loss(_unigram(COUNTS, LABELS, drop_special=False), **kw)
    assert not specials and "special" in specials.message
    assert "Wrong sign" in check_unigram_loss(-UNIGRAM, **kw).message
    assert "bits" in check_unigram_loss(UNIGRAM / math.log(2), **kw).message
    assert "perplexity" in check_unigram_loss(math.exp(UNIGRAM), **kw).message
    assert "sum" in check_unigram_loss(UNIGRAM * len(LABELS), **kw).message
    assert "accuracy" in check_unigram_loss(0.25, **kw).message
    wrong = check_unigram_loss(UNIGRAM + 0.5, **kw)
    assert not wrong and f"{UNIGRAM:.2f}" not in str(wrong)  # the answer is not given away


@pytest.mark.parametrize(
    "bad",
    [
        dict(counts=[[1, 2]], labels=LABELS, special_ids=SPECIAL),
        dict(counts=COUNTS.double(), labels=LABELS, special_ids=SPECIAL),
        dict(counts=COUNTS, labels=torch.tensor([4, 12]), special_ids=SPECIAL),
        dict(counts=COUNTS, labels=torch.tensor([1, 4]), special_ids=SPECIAL),
        dict(counts=COUNTS - 10, labels=LABELS, special_ids=SPECIAL),
    ],
)
def test_unigram_loss_rejects_bad_author_arguments(bad):
    with pytest.raises(ValueError, match="counts|labels"):
        check_unigram_loss(6.0, **bad)


# --- check_first_epoch_below_floor --------------------------------------------------------------


def test_first_epoch_below_floor_reads_the_curve():
    assert check_first_epoch_below_floor("4", losses=torch.tensor(CURVE), floor=6.78)
    assert check_first_epoch_below_floor(1, losses=CURVE, floor=7.0)  # another floor, another answer
    assert not check_first_epoch_below_floor(4, losses=CURVE, floor=7.0)
    assert "Off by one" in check_first_epoch_below_floor(3, losses=CURVE, floor=6.78).message
    assert "earlier" in check_first_epoch_below_floor(6, losses=CURVE, floor=6.78).message
    above = check_first_epoch_below_floor(5, losses=CURVE, floor=6.78)
    assert not above and "6.800, not below the floor 6.780" in above.message
    assert "epochs 1 to 6" in check_first_epoch_below_floor(9, losses=CURVE, floor=6.78).message
    assert "whole epoch" in check_first_epoch_below_floor(4.5, losses=CURVE, floor=6.78).message


def test_first_epoch_below_floor_needs_a_curve_that_gets_there():
    with pytest.raises(ValueError, match="never go below"):
        check_first_epoch_below_floor(1, losses=CURVE, floor=6.0)
    with pytest.raises(ValueError, match="losses"):
        check_first_epoch_below_floor(1, losses=[], floor=6.0)
    with pytest.raises(ValueError, match="floor"):
        check_first_epoch_below_floor(1, losses=CURVE, floor=None)


# --- check_parting_epoch ------------------------------------------------------------------------


@pytest.mark.parametrize("dupe_factor, epochs", [(5, 20), (10, 40), (1, 3)])
def test_parting_epoch_is_one_after_dupe_factor(dupe_factor, epochs):
    assert check_parting_epoch(dupe_factor + 1, dupe_factor=dupe_factor, epochs=epochs)
    others = [e for e in range(0, epochs + 2) if e != dupe_factor + 1]
    assert not any(check_parting_epoch(e, dupe_factor=dupe_factor, epochs=epochs) for e in others)


def test_parting_epoch_reports_the_curves_and_explains_mistakes():
    kw = dict(dupe_factor=3, epochs=7, static_curve=STATIC, dynamic_curve=DYNAMIC)
    result = check_parting_epoch(4, **kw)
    assert result and "differ from epoch 4" in result.message
    odd = check_parting_epoch(
        4, dupe_factor=3, epochs=7, static_curve=STATIC, dynamic_curve=DYNAMIC[:1] + [6.9] + DYNAMIC[2:]
    )
    assert odd and "first differ at epoch 2" in odd.message  # the prediction stands; the curves are odd
    assert "last one" in check_parting_epoch(3, **kw).message
    assert "Not from the start" in check_parting_epoch(1, **kw).message
    assert "second time" in check_parting_epoch(7, **kw).message
    assert "an epoch number" in check_parting_epoch("four", **kw).message


def test_parting_epoch_rejects_bad_author_arguments():
    with pytest.raises(ValueError, match="never part"):
        check_parting_epoch(6, dupe_factor=5, epochs=5)
    with pytest.raises(ValueError, match="dupe_factor"):
        check_parting_epoch(6, dupe_factor=0, epochs=5)
    with pytest.raises(ValueError, match="both"):
        check_parting_epoch(4, dupe_factor=3, epochs=7, static_curve=STATIC)


# --- check_memorization_gap ---------------------------------------------------------------------


def test_memorization_gap_explains_mistakes():
    kw = dict(trained_loss=6.0, fresh_loss=6.4)
    assert "memorised" in check_memorization_gap(0.4, **kw).message
    assert "no memorised masks" in check_memorization_gap(0.01, trained_loss=6.3, fresh_loss=6.31).message
    assert "Wrong sign" in check_memorization_gap(-0.4, **kw).message
    assert "ratio" in check_memorization_gap(6.4 / 6.0, **kw).message
    assert "one of the two losses" in check_memorization_gap(6.4, **kw).message
    with pytest.raises(ValueError, match="fresh_loss"):
        check_memorization_gap(0.4, trained_loss=6.0, fresh_loss=float("nan"))


# --- check_share_memorized ---------------------------------------------------------------------


def test_share_memorized_counts_rows_lower_under_the_trained_mask():
    kw = dict(trained=torch.tensor(TRAINED_ROWS), fresh=FRESH_ROWS)
    result = check_share_memorized("0.6", **kw)
    assert result and "3 of 5 rows" in result.message
    assert check_share_memorized(0.6, trained=FRESH_ROWS, fresh=TRAINED_ROWS).message.startswith("Reversed")
    assert check_share_memorized(0.2, trained=FRESH_ROWS, fresh=TRAINED_ROWS)  # swapped rows: row 2 only
    assert "percentage" in check_share_memorized(60, **kw).message
    assert "number of rows" in check_share_memorized(3, **kw).message
    assert "Reversed" in check_share_memorized(0.4, **kw).message  # 1 - share (the tie counted as fresh)
    assert "Reversed" in check_share_memorized(0.2, **kw).message  # rows better under the fresh mask
    assert (
        "median gap" in check_share_memorized(0.25, **kw).message
        and "median gap" in check_share_memorized(0.4, trained=[1.0, 2.0, 3.0], fresh=[1.5, 2.4, 3.0]).message
    )
    wrong = check_share_memorized(0.9, **kw)
    assert not wrong and "0.6" not in str(wrong)  # the answer is not given away


@pytest.mark.parametrize(
    "bad",
    [
        dict(trained=TRAINED_ROWS, fresh=FRESH_ROWS[:-1]),
        dict(trained=[], fresh=[]),
        dict(trained=TRAINED_ROWS, fresh=FRESH_ROWS[:-1] + [float("nan")]),
        dict(trained="5.0", fresh=FRESH_ROWS),
    ],
)
def test_share_memorized_rejects_bad_author_arguments(bad):
    with pytest.raises(ValueError, match="trained|fresh"):
        check_share_memorized(0.6, **bad)


# --- the floor in the learning curves -----------------------------------------------------------


def _runs(epochs=4):
    return [
        {
            "condition": c,
            "config": {"dupe_factor": 2},
            "epochs": [
                {"epoch": e, "train_loss": 7.0 - 0.1 * e, "val_loss": 7.1 - 0.05 * e} for e in range(epochs)
            ],
        }
        for c in ("static", "dynamic")
    ]


def _floor_lines(ax):
    return [ln for ln in ax.get_lines() if "unigram baseline" in str(ln.get_label())]


def test_learning_curves_draw_the_unigram_baseline_on_each_panel():
    fig = plot_learning_curves(_runs(), baseline={"train_loss": 6.7, "val_loss": 6.8})
    FigureCanvasAgg(fig).draw()
    for ax, y in zip(fig.axes, (6.7, 6.8), strict=True):
        (line,) = _floor_lines(ax)
        assert set(line.get_ydata()) == {y} and f"({y:.2f})" in line.get_label()
        assert any("unigram baseline" in t.get_text() for t in ax.get_legend().get_texts())
    both = plot_learning_curves(_runs(), baseline=6.75)
    assert [set(_floor_lines(ax)[0].get_ydata()) for ax in both.axes] == [{6.75}, {6.75}]
    assert not any(_floor_lines(ax) for ax in plot_learning_curves(_runs()).axes)  # other callers unchanged
    val_only = plot_learning_curves(_runs(), baseline={"val_loss": 6.8})
    assert [len(_floor_lines(ax)) for ax in val_only.axes] == [0, 1]


@pytest.mark.parametrize("bad", [{"test_loss": 6.0}, {"val_loss": float("nan")}, "6.7", True])
def test_learning_curves_reject_a_bad_baseline(bad):
    with pytest.raises(ValueError, match="baseline"):
        plot_learning_curves(_runs(), baseline=bad)


# --- the notebook: the live run is optional -----------------------------------------------------

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_pretraining_experiment.ipynb"
LIVE = "# LIVE RUN (optional)"


def _cells():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    return (
        nb,
        [c for c in code if c.source.startswith(LIVE)],
        [c for c in code if not c.source.startswith(LIVE)],
    )


def _defined(source: str) -> set[str]:
    """Names a cell binds: assignments, loop and comprehension targets, functions, classes."""
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _read_from_outside(source: str) -> set[str]:
    """Names a cell reads and does not bind itself (so they come from earlier cells)."""
    tree = ast.parse(source)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - _defined(source)


def test_live_cells_are_marked_import_nothing_and_define_nothing_the_rest_reads():
    _, live, rest = _cells()
    assert len(live) >= 2, f"expected the live-run cells to start with {LIVE!r}"
    marker_elsewhere = [c.source for c in rest if "LIVE RUN" in c.source]
    assert not marker_elsewhere, "a live cell's marker must be its first line"
    for cell in live:
        imports = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not imports, f"imports belong in the first cells, not in a live cell:\n{cell.source}"
    defined = set().union(*(_defined(c.source) for c in live))
    read = set().union(*(_read_from_outside(c.source) for c in rest))
    assert not defined & read, f"cells outside the live run read names the live run defines: {defined & read}"


@pytest.mark.notebook
def test_notebook_runs_with_the_live_cells_skipped():
    from nbclient import NotebookClient
    from test_notebooks import NOTEBOOKS_DIR, _kernel_manager_class

    nb, live, _ = _cells()
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and c.source.startswith(LIVE))]
    env = dict(os.environ, DYNMASK_FAST="1", HF_HUB_OFFLINE="1")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)
    start = time.monotonic()
    client = NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(),
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
        shutdown_kernel="immediate",
    )
    client.execute(cwd=str(NOTEBOOKS_DIR), env=env)  # raises CellExecutionError (with the cell) on failure
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors and time.monotonic() - start < 300
