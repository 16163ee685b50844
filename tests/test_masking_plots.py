"""Masking figures: epoch grids, 80/10/10, selection counts, exposure (data: test_analysis_grids)."""

import numpy as np
import pytest
import torch
from _masking_helpers import VOCAB, make_batch
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from dynmask_viz.analysis import (
    encode_texts,
    epoch_grid_data,
    static_and_dynamic_grids,
)
from dynmask_viz.masking import (
    KEPT,
    MASKED,
    RANDOM,
    UNCHANGED,
    DynamicMasking,
    MaskingConfig,
    StaticMasking,
    corruption_breakdown,
    exposure,
    mask_batch,
    selection_counts,
)
from dynmask_viz.plots import (
    CORRUPTION_COLORS,
    plot_corruption_breakdown,
    plot_epoch_grid,
    plot_epoch_grids,
    plot_exposure,
    plot_exposure_histogram,
    plot_selection_counts,
    plot_static_vs_dynamic,
)
from dynmask_viz.plots._style import NOT_SEEN, THEORY_COLORS, renderable, short_token
from dynmask_viz.plots.masking import build_grid_figure


def _expected_cell_colors(corruption: torch.Tensor) -> np.ndarray:
    return np.array([[to_rgba(CORRUPTION_COLORS[int(c)]) for c in row] for row in corruption])


# --- figures ---------------------------------------------------------------------------------


def test_epoch_grid_cells_coloured_by_corruption(grids):
    static, _ = grids
    fig = plot_epoch_grid(None, static, title="static")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    _, painters = build_grid_figure([static], ["static"])
    painter = painters[0]
    assert painter.codes.shape == tuple(static.corruption.shape)
    assert np.allclose(painter.cell_colors(), _expected_cell_colors(static.corruption))
    assert set(np.unique(painter.codes)) <= {UNCHANGED, MASKED, RANDOM, KEPT}
    for e, row in enumerate(painter.texts):  # bold text only on selected cells, with the fed token
        for c, text in enumerate(row):
            assert text.get_visible() == bool(static.masked[e, c])
            if text.get_visible():
                assert text.get_text() == short_token(
                    renderable(static.shown[e][c]), painter.layout.max_chars - 1
                )


def test_epoch_grid_from_masked_batches(tokenizer, vocab):
    enc = encode_texts("The cat sat on the mat.", tokenizer)
    results = [mask_batch(enc.input_ids, vocab, MaskingConfig(mlm_probability=0.5), seed=s) for s in range(4)]
    fig = plot_epoch_grid(enc.tokens[0], results, title="four seeds", tokenizer=tokenizer)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    image = fig.axes[0].images[0].get_array()
    corruption = torch.stack([r.corruption[0] for r in results])
    selected = corruption.numpy() > 0
    assert np.allclose(image[selected], _expected_cell_colors(corruption)[selected])
    assert (image[~selected][:, 3] == 0).all()  # unchanged: transparent over the grey background
    with pytest.raises(ValueError, match="tokens but results have"):
        plot_epoch_grid(enc.tokens[0][1:], results, tokenizer=tokenizer)


def test_static_vs_dynamic_marks_the_period(grids):
    static, dynamic = grids
    fig = plot_static_vs_dynamic(static, dynamic, title="t")
    assert len(fig.axes) == 2
    static_ax, dynamic_ax = fig.axes
    thick = lambda ax: [line for line in ax.lines if line.get_linewidth() > 2]
    assert len(thick(static_ax)) == 2 and not thick(dynamic_ax)  # restarts at epochs 3 and 6
    labels = [t.get_text() for t in static_ax.texts if t.get_text().startswith("mask")]
    assert labels[:4] == ["mask 0", "mask 1", "mask 2", "mask 0 again"]
    for ax in fig.axes:  # epochs counted from 1, as in every figure and chapter
        assert [t.get_text() for t in ax.get_yticklabels()] == [str(e) for e in range(1, 10)]
    assert "dupe_factor=3" in static_ax.get_title(loc="left")


def test_upto_blanks_later_epochs(grids):
    static, _ = grids
    _, (painter,) = build_grid_figure([static], [None], upto=4)
    assert (painter.codes[5:] == NOT_SEEN).all() and (painter.codes[:5] != NOT_SEEN).any()
    assert not any(t.get_visible() for row in painter.texts[5:] for t in row)


def test_long_sentences_stay_readable(tokenizer, vocab):
    text = " ".join(["Interdisciplinary collaborations"] * 40)
    enc = encode_texts(text, tokenizer, max_length=66)
    static, dynamic = static_and_dynamic_grids(enc, tokenizer, epochs=6, dupe_factor=2, vocab=vocab)
    assert len(static.tokens) == 64
    fig = plot_static_vs_dynamic(static, dynamic)
    assert fig.get_figwidth() <= 17
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert len(labels) == 64 and max(map(len, labels)) <= 12
        assert all(t.get_rotation() == 90 for t in ax.get_xticklabels())
    with pytest.raises(ValueError, match="same shape"):
        plot_epoch_grids([static, grids_of_other_length(tokenizer, vocab)])


def grids_of_other_length(tokenizer, vocab):
    return epoch_grid_data(DynamicMasking(), encode_texts("Two words.", tokenizer).input_ids, vocab, 6)


def test_unrenderable_characters_are_spelled_out():
    assert renderable("hello") == "hello"
    assert short_token("philosophy", 6) == "philo\u2026"
    from matplotlib import rcParams

    from dynmask_viz.plots._style import _font_coverage

    covered = _font_coverage(tuple(rcParams["font.family"]), tuple(rcParams["font.sans-serif"]))
    missing = next((ch for ch in "\u5c71\u0e01\U0001f600" if ord(ch) not in covered), None)
    if missing is None:
        pytest.skip("every test character has a font here")
    assert renderable(f"a{missing}") == f"aU+{ord(missing):04X}"


def test_corruption_breakdown_plot_bars(tokenizer):
    ids, attn = make_batch([200] * 16)
    config = MaskingConfig()
    result = mask_batch(ids, VOCAB, config, seed=0, attention_mask=attn)
    breakdown = corruption_breakdown(result, config, candidates=attn.bool() & (ids > 3))
    assert breakdown.n_selected == int(result.masked.sum())
    assert breakdown.selected_share == pytest.approx(breakdown.n_selected / (16 * 198))
    fig = plot_corruption_breakdown(breakdown)
    ax = fig.axes[0]
    measured, configured = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [p.get_height() for p in measured] == pytest.approx(list(breakdown.shares.values()))
    assert [p.get_height() for p in configured] == pytest.approx([0.8, 0.1, 0.1])
    for patch, code in zip(measured, (MASKED, RANDOM, KEPT)):
        assert patch.get_facecolor() == pytest.approx(to_rgba(CORRUPTION_COLORS[code]))
    assert "15" in ax.get_title()  # the selected share vs the configured 15 %


def test_exposure_plot_has_measured_and_theory_lines():
    ids, attn = make_batch([128] * 32)
    kw = dict(example_ids=torch.arange(32), attention_mask=attn)
    stats_static = exposure(StaticMasking(seed=0, dupe_factor=10), ids, VOCAB, 40, **kw)
    stats_dynamic = exposure(DynamicMasking(seed=0), ids, VOCAB, 40, **kw)
    fig = plot_exposure(stats_static, stats_dynamic)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name in ("static (dupe_factor=10)", "dynamic"):
        assert f"{name}, measured" in lines and f"{name}, theory" in lines
    assert np.allclose(lines["dynamic, measured"].get_ydata(), stats_dynamic.ever_masked_curve.numpy())
    assert np.allclose(
        lines["static (dupe_factor=10), theory"].get_ydata(), stats_static.theory_curve().numpy()
    )
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "0.803" in texts and "0.998" in texts and "RoBERTa" in texts
    short = exposure(StaticMasking(seed=0, dupe_factor=3), ids, VOCAB, 6, **kw)
    assert "RoBERTa" not in " ".join(t.get_text() for t in plot_exposure(short, stats_dynamic).axes[0].texts)

    hist = plot_exposure_histogram(stats_static, stats_dynamic).axes[0]
    bars = [c for c in hist.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2
    for container in bars:
        assert 0.99 < sum(p.get_height() for p in container) <= 1.0 + 1e-9  # the tail below 0.2 % is cut
    static_heights = np.array([p.get_height() for p in bars[0]])
    assert (static_heights[np.arange(len(static_heights)) % 4 != 0] == 0).all()
    assert {line.get_label() for line in hist.get_lines()} >= {
        "static (dupe_factor=10), theory",
        "dynamic, theory",
    }
    # Theory markers visible: large, dark from THEORY_COLORS with a white rim, in the legend, and
    # only where theory gives a count a chance (static: multiples of 4).
    theory = {line.get_label(): line for line in hist.get_lines()}
    for name, kind in (("static (dupe_factor=10)", "static"), ("dynamic", "dynamic")):
        line = theory[f"{name}, theory"]
        assert line.get_markersize() >= 6 and line.get_linestyle() == "None"
        assert to_rgba(line.get_markerfacecolor()) == to_rgba(THEORY_COLORS[kind])
        assert to_rgba(line.get_markeredgecolor()) == to_rgba("white")
    static_x = theory["static (dupe_factor=10), theory"].get_xdata() + 0.2
    assert np.allclose(static_x % 4, 0) and (theory["static (dupe_factor=10), theory"].get_ydata() > 0).all()
    assert {t.get_text() for t in hist.get_legend().get_texts()} >= {
        "static (dupe_factor=10), theory",
        "dynamic, theory",
    }


def test_selection_counts_exact_vs_bernoulli():
    ids, attn = make_batch([20, 60, 120, 120], 120)
    n, exact = selection_counts(ids, VOCAB, MaskingConfig.from_preset("bert"), epochs=4, attention_mask=attn)
    _, bern = selection_counts(ids, VOCAB, MaskingConfig(), epochs=4, attention_mask=attn)
    assert n.tolist() == [18, 58, 118, 118] and exact.shape == bern.shape == (4, 4)
    assert (exact == torch.clamp(torch.round(n * 0.15), 1, 20)).all()
    fig = plot_selection_counts(n, {"exact": exact, "bernoulli": bern})
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["exact", "bernoulli"]


def test_figures_display_themselves_as_png(grids):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot_static_vs_dynamic(*grids)
    assert fig._repr_png_().startswith(b"\x89PNG")
    assert plt.get_fignums() == before  # not registered with pyplot: no double display, no leak
