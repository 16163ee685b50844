"""Property tests (hypothesis) over the public API of masking, attention_masks and the explorers.

For any value of a documented parameter (the others valid), the call either gives a correct
result or raises ``TypeError``/``ValueError`` *from our own code* with a message that names the
parameter and says what is expected; never a traceback from inside torch, numpy, transformers
or ipywidgets, and never a silently clamped or truncated value.
"""

from __future__ import annotations

import math
import re
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from _masking_helpers import CLS, PAD, SEP, VOCAB, make_batch, words_for
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dynmask_viz
from dynmask_viz import attention_masks as am
from dynmask_viz.analysis import RULES, AppliedRule, build_rule
from dynmask_viz.masking import (
    IGNORE_INDEX,
    MaskingConfig,
    MLMCollator,
    exposure,
    make_masking,
    mask_batch,
    theoretical_ever_masked,
    times_masked_pmf,
)

PACKAGE = str(Path(dynmask_viz.__file__).parent)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPECTATION = re.compile(r"must|expect|one of|needs|only|not |pass ")


def _tensor(shape, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-2, 6, tuple(shape), generator=gen).to(dtype)


def values(shape: tuple[int, ...] | None = None):
    """Anything a caller might pass: numbers of every kind, strings, lists, arrays, tensors
    (of random shapes and, when ``shape`` is given, of that shape) in several dtypes."""
    dtypes = st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.float32, torch.bool])
    random_shapes = st.lists(st.integers(0, 3), max_size=3)
    shapes = st.one_of(random_shapes, st.just(list(shape))) if shape is not None else random_shapes
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.integers(-3, 70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(0, 1),
        st.text(max_size=4),
        st.lists(st.integers(-2, 8), max_size=4),
        st.lists(st.floats(-2, 8), min_size=1, max_size=3),
        st.builds(np.int64, st.integers(-5, 2**40)),
        st.builds(
            lambda s, seed: np.random.default_rng(seed).integers(-2, 6, s), random_shapes, st.integers(0, 9)
        ),
        st.builds(_tensor, shapes, dtypes, st.integers(0, 99)),
    )


def outcome(call, *names):
    """The call's result, or None if it raised an error of ours that names one of ``names``."""
    try:
        return call()
    except (TypeError, ValueError) as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1].filename
        message = str(exc)
        assert where.startswith(PACKAGE), f"{type(exc).__name__} from {where}, not ours: {message}"
        assert any(re.search(rf"\b{re.escape(n)}\b", message) for n in names), (names, message)
        assert EXPECTATION.search(message), f"no expectation stated: {message}"
        return None


# ---- masking ---------------------------------------------------------------------------------

IDS, ATTN = make_batch([12, 7, 12], seed=3)
WORDS = words_for(IDS)
SHAPE = tuple(IDS.shape)
MASK_BATCH_PARAMS = (
    "input_ids",
    "seed",
    "example_ids",
    "mask_epoch",
    "attention_mask",
    "special_tokens_mask",
    "word_ids",
)


def _check_masked(out, ids, words=None):
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    assert out.input_ids.shape == out.labels.shape == out.masked.shape == ids.shape
    assert not out.masked[special].any()
    assert torch.equal(out.labels, ids.to(torch.int64).masked_fill(~out.masked, IGNORE_INDEX))
    assert out.example_ids.shape == out.mask_epoch.shape == (ids.shape[0],)
    assert ((out.example_ids >= 0) & (out.example_ids < 2**32)).all()
    assert ((out.mask_epoch >= 0) & (out.mask_epoch < 2**32)).all()


@PROPS
@given(
    param=st.sampled_from(MASK_BATCH_PARAMS),
    value=values(SHAPE),
    unit=st.sampled_from(["token", "word"]),
    count=st.sampled_from(["bernoulli", "exact", "fairseq"]),
)
def test_mask_batch_any_parameter_value(param, value, unit, count):
    kwargs = {"attention_mask": ATTN, "word_ids": WORDS, "example_ids": torch.arange(3), "mask_epoch": 1}
    kwargs[param] = value
    ids = kwargs.pop("input_ids", IDS)
    config = MaskingConfig(unit=unit, count=count, corruption_per="unit")
    out = outcome(lambda: mask_batch(ids, VOCAB, config, **kwargs), param, "unit")
    if out is not None:
        _check_masked(out, ids)
        if param == "mask_epoch" and not isinstance(value, torch.Tensor | np.ndarray):
            assert (out.mask_epoch == int(value)).all()  # the epoch asked for, not a truncated one


CONFIG_FIELDS = (
    "mlm_probability",
    "mask_replace_prob",
    "random_replace_prob",
    "unit",
    "count",
    "corruption_per",
    "max_predictions",
    "span_geometric_p",
    "max_span_words",
)


@PROPS
@given(field=st.sampled_from(CONFIG_FIELDS), value=values(), exact=st.booleans())
def test_masking_config_any_field_value(field, value, exact):
    base = {"count": "exact"} if exact and field != "count" else {}
    config = outcome(lambda: MaskingConfig(**base, **{field: value}), field)
    if config is not None:
        assert getattr(config, field) == value
        out = mask_batch(IDS, VOCAB, config, attention_mask=ATTN, word_ids=WORDS)
        _check_masked(out, IDS)
        assert math.isfinite(config.mean_span_words)


@PROPS
@given(
    kind=st.one_of(st.sampled_from(["static", "dynamic"]), values()),
    param=st.sampled_from(["seed", "dupe_factor", "epoch"]),
    value=values(),
)
def test_schedules_any_parameter_value(kind, param, value):
    kwargs = {"seed": 0, "dupe_factor": 3}
    if param != "epoch":
        kwargs[param] = value
    masking = outcome(lambda: make_masking(kind, MaskingConfig(), **kwargs), param, "kind")
    if masking is None:
        return
    epoch = value if param == "epoch" else 2
    out = outcome(lambda: masking(IDS, VOCAB, epoch=epoch, attention_mask=ATTN), "epoch", "mask_epoch")
    if out is not None:
        _check_masked(out, IDS)


@PROPS
@given(param=st.sampled_from(["p", "epochs", "distinct_masks"]), value=values())
def test_exposure_theory_any_parameter_value(param, value):
    # Any epoch count is valid; only the time and memory to simulate a huge one are not here.
    assume(not (param == "epochs" and isinstance(value, int | np.integer) and value > 100))
    kwargs = {"p": 0.15, "epochs": 4, "distinct_masks": 2, **{param: value}}
    share = outcome(lambda: theoretical_ever_masked(**kwargs), param)
    if share is not None:
        assert 0.0 <= share <= 1.0
    pmf = outcome(lambda: times_masked_pmf(**kwargs), param)
    if pmf is not None:
        assert pmf.shape == (kwargs["epochs"] + 1,) and (pmf >= 0).all()
        assert float(pmf.sum()) == pytest.approx(1.0)
    if param == "epochs":
        stats = outcome(
            lambda: exposure(make_masking("static"), IDS, VOCAB, value, attention_mask=ATTN), "epochs"
        )
        if stats is not None:
            assert stats.epochs == value


@pytest.fixture(scope="module")
def collator():
    from dynmask_viz.hf import load_tokenizer

    return MLMCollator(load_tokenizer(), return_mask_info=True)


@PROPS
@given(param=st.sampled_from(["example_id", "input_ids", "attention_mask", "epoch"]), value=values())
def test_collator_any_feature_or_epoch_value(collator, param, value):
    features = [
        {"input_ids": [101, 2023, 2003, 102], "attention_mask": [1, 1, 1, 1], "example_id": i}
        for i in range(3)
    ]
    if param == "epoch":
        if outcome(lambda: collator.set_epoch(value), "epoch") is None:
            return
        assert collator.epoch == value
    else:
        features[1] = dict(features[1], **{param: value})
    out = outcome(lambda: collator(features), param, "example_ids", "features", "Feature")
    if out is not None:
        assert out["input_ids"].shape == out["labels"].shape == out["masked"].shape
        assert out["input_ids"].shape[0] == 3
    collator.set_epoch(0)


# ---- attention masks -------------------------------------------------------------------------


def _dense(rule: am.MaskRule) -> torch.Tensor:
    """Materialize a rule at the sizes its data was built for (4 where free)."""
    sizes = {"batch": 1, "heads": 1, "q_len": 4, "kv_len": 4}
    for dim, size, _ in rule.sizes:
        sizes[dim] = size
    dense = rule.dense(*sizes.values())
    assert dense.dtype == torch.bool and tuple(dense.shape) == tuple(sizes.values())
    return dense


SCORES = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
FACTORIES = {
    # name -> (call with the value, the parameter's name in messages)
    "sliding_window(window)": (lambda v: am.sliding_window(v), "window"),
    "sliding_window(causal)": (lambda v: am.sliding_window(2, causal=v), "causal"),
    "prefix_lm": (lambda v: am.prefix_lm(v), "prefix_length"),
    "global_tokens": (lambda v: am.global_tokens(v), "positions"),
    "document": (lambda v: am.document(v), "segment_ids"),
    "padding": (lambda v: am.padding(v), "attention_mask"),
    "keep_tokens": (lambda v: am.keep_tokens(v), "keep"),
    "keep_tokens(keep_self)": (
        lambda v: am.keep_tokens(torch.ones(1, 4, dtype=torch.bool), keep_self=v),
        "keep_self",
    ),
    "drop_tokens": (lambda v: am.drop_tokens(v), "drop"),
    "topk_keys(k)": (lambda v: am.topk_keys(SCORES, v), "k"),
    "topk_keys(scores)": (lambda v: am.topk_keys(v, 1), "scores"),
    "topk_keys(within)": (lambda v: am.topk_keys(SCORES, 2, within=v), "within"),
    "score_threshold": (lambda v: am.score_threshold(SCORES, v), "threshold"),
    "score_threshold(scores)": (lambda v: am.score_threshold(v, 0.5), "scores"),
    "random_drop(p)": (lambda v: am.random_drop(v, 0), "p"),
    "random_drop(seed)": (lambda v: am.random_drop(0.5, v), "seed"),
    "random_drop(per_head)": (lambda v: am.random_drop(0.5, 0, per_head=v), "per_head"),
    "drop_stopwords": (lambda v: am.drop_stopwords(v), "drop_stopwords"),
    "drop_stopwords(stopwords)": (lambda v: am.drop_stopwords(["the", "cat"], stopwords=v), "stopwords"),
    "drop_stopwords(punctuation)": (lambda v: am.drop_stopwords(["the", "."], punctuation=v), "punctuation"),
}


@PROPS
@given(factory=st.sampled_from(sorted(FACTORIES)), value=values((1, 4)))
def test_rule_factories_any_parameter_value(factory, value):
    build, name = FACTORIES[factory]
    rule = outcome(lambda: build(value), name)
    if rule is not None:
        assert isinstance(rule, am.MaskRule)
        outcome(lambda: _dense(rule), "batch", "heads", "q_len", "kv_len")
    if factory == "score_threshold" and isinstance(value, float) and not math.isnan(value):
        assert torch.equal(_dense(rule), (SCORES >= value))  # exactly the threshold asked for


@PROPS
@given(dim=st.sampled_from(["batch", "heads", "q_len", "kv_len"]), value=values())
def test_dense_any_size(dim, value):
    # A huge size is a valid request that no memory holds: torch's allocator says so itself.
    assume(not (isinstance(value, int | np.integer) and value > 64))
    sizes = {"batch": 1, "heads": 2, "q_len": 3, "kv_len": 3, **{dim: value}}
    dense = outcome(lambda: (am.causal() & am.sliding_window(2)).dense(*sizes.values()), dim)
    if dense is not None:
        if sizes["kv_len"] is None:  # documented: the keys default to the queries
            sizes["kv_len"] = sizes["q_len"]
        assert tuple(dense.shape) == tuple(int(v) for v in sizes.values())


@PROPS
@given(value=values((1, 1, 4, 4)), policy=st.one_of(st.sampled_from(am.EMPTY_ROW_POLICIES), values()))
def test_empty_row_helpers_any_value(value, policy):
    report = outcome(lambda: am.empty_rows(value), "empty_rows")
    if report is not None:
        assert report.shape == value.shape[:-1]
        fixed = outcome(lambda: am.fix_empty_rows(value, policy), "on_empty_row", "keep_self", "query")
        if fixed is not None and policy == "keep_self":
            assert not am.empty_rows(fixed[0]).any()


# ---- the explorers' rules ----------------------------------------------------------------------

TOKENS = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


@PROPS
@given(
    rule=st.sampled_from(sorted(RULES)),
    param=st.sampled_from(sorted({p for ps in RULES.values() for p in ps})),
    value=values(),
    dropped=st.lists(st.integers(-2, 8), max_size=2),
)
def test_build_rule_any_parameter_value(rule, param, value, dropped):
    defaults = {"window": 2, "bidirectional": False, "prefix_length": 2, "punctuation": True, "k": 2}
    defaults |= {"p": 0.3, "mask_seed": 0, "per_head": True}
    params = {p: defaults[p] for p in RULES[rule]}
    if param in params:
        params[param] = value
    scores = torch.rand(1, 1, len(TOKENS), len(TOKENS), generator=torch.Generator().manual_seed(1))
    built = outcome(lambda: build_rule(rule, params, TOKENS, scores), param, "params")
    if built is not None:
        applied = outcome(lambda: AppliedRule(built, len(TOKENS), 2, dropped), "dropped")
        if applied is not None:
            assert applied.dense.shape[-2:] == (len(TOKENS), len(TOKENS))
            assert not applied.dense[..., list(dropped)].any() or not dropped


def test_build_rule_refuses_missing_and_unknown_params_and_clamps_nothing():
    with pytest.raises(ValueError, match=r"missing \['bidirectional'\]"):
        build_rule("sliding_window", {"window": 2}, TOKENS, None)
    with pytest.raises(ValueError, match=r"unknown \['window'\]"):
        build_rule("causal", {"window": 2}, TOKENS, None)
    with pytest.raises(ValueError, match="needs scores"):
        build_rule("topk_keys", {"k": 2}, TOKENS, None)
    with pytest.raises(am.MaskError, match=r"topk_keys\(k\) must be <= the number of keys 6; got 7"):
        build_rule("topk_keys", {"k": 7}, TOKENS, torch.rand(1, 1, 6, 6))
    with pytest.raises(TypeError, match=r"sliding_window\(window\) must be an int"):
        build_rule("sliding_window", {"window": 2.7, "bidirectional": False}, TOKENS, None)
    # A prefix longer than the text is the whole text: kept as asked, not clamped to 6.
    long = build_rule("prefix_lm", {"prefix_length": 10}, TOKENS, None)
    assert long.params["prefix_length"] == 10 and long.dense(1, 1, 6).all()
    with pytest.raises(ValueError, match=r"dropped must be token indices in \[0, 5\]"):
        AppliedRule(am.causal(), 6, 1, dropped=[6])


# ---- the explorers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def masking_explorer():
    from dynmask_viz.hf import load_tokenizer
    from dynmask_viz.widgets import MaskingExplorer

    return MaskingExplorer(tokenizer=load_tokenizer(), epochs=6)


MASKING_CONTROLS = {
    "epoch": st.one_of(st.integers(0, 5), values()),
    "probability": st.one_of(st.sampled_from([0.05, 0.2, 0.5]), values()),
    "unit": st.one_of(st.sampled_from(["token", "word", "span"]), values()),
    "dupe_factor": st.one_of(st.integers(1, 10), values()),
    "mode": st.one_of(st.sampled_from(["both", "static", "dynamic"]), values()),
    "seed": st.one_of(st.integers(0, 2**31 - 1), values()),
    "text": st.one_of(st.sampled_from(["The cat sat.", "a b c d e"]), values()),
}


@SLOW_PROPS
@given(data=st.data())
def test_masking_explorer_set_any_value(masking_explorer, data):
    name = data.draw(st.sampled_from(sorted(MASKING_CONTROLS)))
    value = data.draw(MASKING_CONTROLS[name])
    state = outcome(lambda: masking_explorer.set(**{name: value}), name)
    if state is not None:  # shown exactly as asked: nothing clamped or rounded away
        shown = {
            "epoch": state.epoch,
            "probability": state.config.mlm_probability,
            "unit": state.config.unit,
            "dupe_factor": state.dupe_factor,
            "mode": state.mode,
            "seed": state.seed,
            "text": state.text,
        }[name]
        expected = (value.strip() or shown) if name == "text" else value
        assert shown == pytest.approx(expected) if name == "probability" else shown == expected


@pytest.fixture(scope="module")
def attention_explorer():
    from dynmask_viz.assets import is_cached

    if not is_cached("minilm"):
        pytest.skip("offline default model missing: `make assets`")
    from dynmask_viz.widgets import AttentionExplorer

    return AttentionExplorer("The cat sat on the mat.", rule="causal")


# The model control is left out: a model name needs the Hub or a warm cache (tested apart).
ATTENTION_CONTROLS = {
    "layer": st.one_of(st.integers(0, 5), values()),
    "head": st.one_of(st.integers(0, 11), values()),
    "average_heads": values(),
    "rule": st.one_of(st.sampled_from(sorted(RULES)), values()),
    "window": st.one_of(st.integers(1, 16), values()),
    "bidirectional": values(),
    "prefix_length": values(),
    "punctuation": values(),
    "k": st.one_of(st.integers(1, 8), values()),
    "p": st.one_of(st.floats(0, 0.9), values()),
    "mask_seed": values(),
    "per_head": values(),
    "dropped": st.one_of(st.lists(st.integers(-1, 9), max_size=2), values()),
}


@SLOW_PROPS
@given(data=st.data())
def test_attention_explorer_set_any_value(attention_explorer, data):
    name = data.draw(st.sampled_from(sorted(ATTENTION_CONTROLS)))
    value = data.draw(ATTENTION_CONTROLS[name])
    controls = sorted(ATTENTION_CONTROLS)  # a rule's error names the parameter that it refuses
    state = outcome(lambda: attention_explorer.set(**{name: value}), *controls, "topk_keys")
    if state is not None and name == "layer":
        assert state.layer == value  # shown as asked, not clamped
    if state is not None and name == "head" and state.head is not None:
        assert state.head == value
