"""Figures of the mask fine-tuning experiment: accuracy vs attention kept, and a view's keep maps."""

from __future__ import annotations

import random

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text

from dynmask_viz.analysis import LayerMaskView
from dynmask_viz.mask_finetuning import CONDITIONS, summarize
from dynmask_viz.plots import MASK_COLORS, plot_accuracy_vs_kept, plot_layer_keep

SHARES = {
    "full": 1.0,
    "drop_stopwords": 0.57,
    "drop_punctuation": 0.89,
    "topk_4": 0.15,
    "topk_16": 0.59,
    "threshold": 0.34,
    "random_drop": 0.9,
    "dma": 0.3,
    "dma_untrained": 0.28,
}


def _records(seeds: int = 3) -> list[dict]:
    """Run records as the experiment writes them (accuracies drawn from a seeded generator)."""
    rng = random.Random(0)
    records = []
    for seed in range(seeds):
        for name in CONDITIONS:
            record = {
                "condition": name,
                "seed": seed,
                "rule": name,
                "test_accuracy": 0.74 + rng.uniform(0, 0.06),
                "share_kept": SHARES[name],
                "test_accuracy_full_attention": 0.75,
                "epoch_seconds": [1.0],
            }
            if name == "full":
                record["test_time_only"] = {
                    n: {"accuracy": 0.6 + rng.uniform(0, 0.15), "share_kept": SHARES[n] - 0.02}
                    for n, c in CONDITIONS.items()
                    if n != "full" and c.test_time_only
                }
            records.append(record)
    return records


@pytest.fixture(scope="module")
def summary() -> dict:
    return summarize(_records())


def test_accuracy_vs_kept_draws_both_series_with_their_intervals(summary):
    fig = plot_accuracy_vs_kept(summary)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # trained with the mask; mask at test time only
    rows = summary["rows"]
    trained, tested = (np.asarray(b.lines[0].get_xydata()) for b in bars)
    np.testing.assert_allclose(trained, [(100 * r["share_kept"], 100 * r["median"]) for r in rows])
    tto = [r for r in rows if "test_time_only_median" in r]
    assert len(tto) == len(rows) - 3  # neither the baseline nor the learned rule and its control
    np.testing.assert_allclose(
        tested, [(100 * r["test_time_only_share_kept"], 100 * r["test_time_only_median"]) for r in tto]
    )
    for bar, series in zip(bars, (rows, tto), strict=True):  # each vertical bar spans its interval
        key = "interval" if series is rows else "test_time_only_interval"
        segments = bar.lines[2][0].get_segments()
        spans = sorted((float(s[0][1]), float(s[1][1])) for s in segments)
        np.testing.assert_allclose(spans, sorted((100 * r[key][0], 100 * r[key][1]) for r in series))
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(CONDITIONS)
    low, high = ax.get_ylim()
    intervals = [r["interval"] for r in rows] + [r["test_time_only_interval"] for r in tto]
    assert all(low < 100 * lo and 100 * hi < high for lo, hi in intervals)
    assert low <= 50 <= high  # chance level in view: the axis does not blow differences up
    assert "accuracy, %" in ax.get_ylabel() and "kept, %" in ax.get_xlabel()


def test_point_labels_do_not_overlap(summary):
    fig = plot_accuracy_vs_kept(summary)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    # the labels' text (Text's own extent: an annotation's also spans its line back to the point)
    boxes = [Text.get_window_extent(t, renderer) for t in fig.axes[0].texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_accuracy_vs_kept_refuses_what_is_not_a_summary(summary):
    with pytest.raises(ValueError, match="non-empty 'rows'"):
        plot_accuracy_vs_kept({"rows": []})
    with pytest.raises(ValueError, match="lacks \\['median'"):
        plot_accuracy_vs_kept({"rows": [{"condition": "full", "interval": (0, 1), "share_kept": 1}]})
    partial = {k: v for k, v in summary["rows"][1].items() if k != "test_time_only_share_kept"}
    with pytest.raises(ValueError, match="lacks \\['test_time_only_share_kept'\\]"):
        plot_accuracy_vs_kept({"rows": [partial]})
    with pytest.raises(ValueError, match="chance must be None or an accuracy in \\(0, 1\\)"):
        plot_accuracy_vs_kept(summary, chance=50)
    broken = {"rows": [dict(summary["rows"][0], interval=(0.1, 0.2))]}
    with pytest.raises(ValueError, match="does not contain median"):
        plot_accuracy_vs_kept(broken)


def _view(layers: int = 3, heads: int = 4, n: int = 5, seed: int = 0) -> LayerMaskView:
    rng = np.random.default_rng(seed)
    keep = rng.random((layers, heads, n, n)) < 0.5
    return LayerMaskView(
        text="t",
        tokens=["[CLS]", "a", "fine", "film", "[SEP]"][:n] + [f"w{i}" for i in range(n - 5)],
        rule_name="topk_keys(k=2)",
        keep=keep,
        weights=np.full(keep.shape, 1.0 / n),
        share_kept_per_layer=[float(keep[i].mean()) for i in range(layers)],
        probabilities=np.array([0.6, 0.4]),
        probabilities_full=np.array([0.2, 0.8]),
        labels=("negative", "positive"),
    )


def test_layer_keep_all_layers_shows_the_share_of_heads():
    view = _view()
    fig = plot_layer_keep(view)
    maps, bars = fig.axes[:3], fig.axes[3:]
    assert len(bars) == 1 and "share of heads" in bars[0].get_ylabel()
    for layer, ax in enumerate(maps):
        (image,) = ax.get_images()
        np.testing.assert_allclose(np.asarray(image.get_array()), view.keep[layer].mean(0))
        assert ax.get_title().startswith(f"layer {layer}:")
    assert [t.get_text() for t in maps[0].get_yticklabels()] == view.tokens
    title = fig.get_suptitle()
    assert "topk_keys(k=2)" in title and f"{view.share_kept:.0%}" in title
    assert (
        "full attention: positive (P(positive) 0.80)" in title and "with the mask: negative (0.40)" in title
    )
    many = plot_layer_keep(_view(layers=8))  # wrapped on two rows: still one axes per layer
    assert len(many.axes) == 8 + 1


def test_layer_keep_one_head_is_the_two_colour_mask():
    view = _view()
    fig = plot_layer_keep(view, layer=2, head=1)
    (ax,) = fig.axes  # no colour bar: a legend of the two colours instead
    (image,) = ax.get_images()
    np.testing.assert_array_equal(np.asarray(image.get_array()), view.keep[2, 1].astype(float))
    allowed = tuple(int(MASK_COLORS["allowed"][i : i + 2], 16) / 255 for i in (1, 3, 5))
    assert image.cmap(image.norm(1.0))[:3] == pytest.approx(allowed)
    assert fig.legends and "layer 2, head 1" in fig.get_suptitle()
    assert f"{view.keep[2, 1].mean():.0%} kept" in ax.get_title()
    mean_of_heads = plot_layer_keep(view, layer=0)
    assert len(mean_of_heads.axes) == 2  # the map and its colour bar


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer": 3}, r"layer must be None \(every layer\) or an int in \[0, 2\]; got 3"),
        ({"layer": -1}, r"layer must be None"),
        ({"head": 4}, r"head must be None \(the share of heads\) or an int in \[0, 3\]; got 4"),
        ({"head": True}, r"head must be None"),
    ],
)
def test_layer_keep_refuses_out_of_range_indices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_layer_keep(_view(), **kwargs)
