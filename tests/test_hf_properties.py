"""Property test over the public API of ``hf`` and ``formulas``: whatever one documented
parameter is given, the call returns a correct result or raises a clear error that names the
parameter, raised by this package, never a traceback from inside torch or transformers."""

from __future__ import annotations

import functools
import traceback
import warnings

import torch
from _tiny_models import tiny_bert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import BertModel

from dynmask_viz.attention_masks import causal, to_additive
from dynmask_viz.formulas import attention_from_hidden, attention_steps, demo_minus_inf_row
from dynmask_viz.hf import (
    EmptyRowWarning,
    TruncationWarning,
    attn_implementation,
    check_attention_mask,
    extract_attention,
    is_causal_model,
    load_tokenizer,
    to_hf_mask,
)

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
L = 8  # tokens of the input the masks are built for


@functools.cache
def bert(dtype: torch.dtype = torch.float32) -> BertModel:
    return tiny_bert(vocab_size=30522, layers=1, max_position_embeddings=32).to(dtype)  # the offline vocab


@functools.cache
def tokenizer():
    return load_tokenizer()


# Values of every kind a user might pass by mistake (and some valid ones).
ODD = [
    None,
    0,
    -1,
    3,
    2.5,
    float("nan"),
    True,
    "x",
    "keep_self",
    [],
    [1, 2],
    (),
    {},
    object(),
    torch.tensor(1.0),
    torch.zeros(3),
    torch.ones(2, L, dtype=torch.long),
    torch.ones(1, L, dtype=torch.long),
    torch.ones(L, L),
    torch.ones(L, L, dtype=torch.bool),
    torch.ones(5, 5, dtype=torch.long),
    torch.ones(1, 1, L, L, dtype=torch.bool),
    torch.ones(3, 1, L, L, dtype=torch.bool),
    torch.zeros(1, L, 32),
    torch.zeros(1, L, 32, dtype=torch.float16),
    torch.zeros(2, 5, 8),
    torch.full((2, L), 7, dtype=torch.long),
    torch.float16,
    causal(),
]


def assert_clear(exc: BaseException, name: str) -> None:
    """The error is a TypeError/ValueError/IndexError of this package that names ``name``."""
    assert isinstance(exc, (TypeError, ValueError, IndexError)), repr(exc)
    assert name in str(exc), (name, str(exc))
    innermost = traceback.extract_tb(exc.__traceback__)[-1].filename
    assert "dynmask_viz" in innermost, (innermost, repr(exc))


def call(fn, name, **kwargs):
    """``fn(**kwargs)``: the result, or None after checking the error names ``name``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRowWarning)
        warnings.simplefilter("ignore", TruncationWarning)
        try:
            return fn(**kwargs)
        except Exception as exc:  # any error at all must be a clear one
            assert_clear(exc, name)
            return None


def finite(t: torch.Tensor) -> bool:
    return not bool(torch.isnan(t).any())


@SETTINGS
@given(
    name=st.sampled_from(["mask", "input_ids", "attention_mask", "on_empty_row", "causal", "model"]),
    value=st.sampled_from(ODD),
)
def test_to_hf_mask(name, value):
    ids = torch.arange(1, 2 * L + 1).view(2, L)
    kwargs = {
        "mask": causal(),
        "model": bert(),
        "input_ids": ids,
        "attention_mask": torch.ones(2, L, dtype=torch.long),
    }
    kwargs[name] = value
    out = call(to_hf_mask, name, **kwargs)
    if out is not None:
        assert out.ndim == 4 and out.shape[0] == 2 and out.shape[-2:] == (L, L)
        assert out.dtype in (torch.bool, torch.float32) and finite(out.float())


@SETTINGS
@given(name=st.sampled_from(["model", "input_ids", "attention_mask"]), value=st.sampled_from(ODD))
def test_check_attention_mask(name, value):
    kwargs = {"model": bert(), "input_ids": torch.arange(1, L + 1)[None], "attention_mask": None}
    kwargs[name] = value
    report = call(check_attention_mask, name, **kwargs)
    if report is not None:
        assert isinstance(report.explain(), str) and report.ok == (not report.problems)


@SETTINGS
@given(
    name=st.sampled_from(
        ["text_or_batch", "mask", "max_length", "on_empty_row", "use_cache", "model", "tokenizer"]
    ),
    value=st.sampled_from([*ODD, "", ["a b", ""], " ".join(["w"] * 40), 5, 32, 40]),
)
def test_extract_attention(name, value):
    kwargs = {
        "model": bert(),
        "tokenizer": tokenizer(),
        "text_or_batch": ["The cat sat on the mat.", "A mat."],
    }
    kwargs |= {"use_cache": False, name: value}
    result = call(extract_attention, name, **kwargs)
    if result is not None:
        assert finite(result.attentions) and finite(result.outputs.last_hidden_state)
        for b in range(len(result.tokens)):
            weights = result.example(b)
            assert weights.shape[-1] == len(result.tokens[b])
            torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


@SETTINGS
@given(index=st.sampled_from([0, 1, -1, -2, 2, -3, 1.0, "0", None, True]))
def test_attention_result_index(index):
    result = extract_attention(bert(), tokenizer(), ["The cat sat.", "A mat."])
    for method in (result.example, result.mask_of, result.to_bertviz):
        out = call(method, "index", index=index)
        if out is not None:
            assert isinstance(index, int) and -2 <= index < 2


@SETTINGS
@given(
    name=st.sampled_from(["q", "k", "v", "mask", "scale"]),
    value=st.sampled_from([*ODD, 0.5, -1e30, float("inf")]),
)
def test_attention_steps(name, value):
    gen = torch.Generator().manual_seed(0)
    kwargs = {
        "q": torch.randn(2, L, 8, generator=gen),
        "k": torch.randn(2, L, 8, generator=gen),
        "v": torch.randn(2, L, 4, generator=gen),
        "mask": torch.ones(L, L, dtype=torch.bool).tril(),
        "scale": None,
    }
    kwargs[name] = value
    steps = call(attention_steps, name, **kwargs)
    if steps is not None:
        assert finite(steps.weights) and finite(steps.output)
        torch.testing.assert_close(steps.weights.sum(-1), torch.ones_like(steps.weights.sum(-1)))


@SETTINGS
@given(name=st.sampled_from(["model_layer", "hidden_states", "mask"]), value=st.sampled_from(ODD))
def test_attention_from_hidden(name, value):
    kwargs = {"model_layer": bert().encoder.layer[0], "hidden_states": torch.zeros(2, L, 32), "mask": None}
    kwargs[name] = value
    steps = call(attention_from_hidden, name, **kwargs)
    if steps is not None:
        assert finite(steps.weights) and steps.weights.shape[-2:] == (L, L)


@SETTINGS
@given(seed=st.sampled_from([0, 7, -1, 2**70, 1.5, "1", None, True]))
def test_demo_minus_inf_row(seed):
    steps = call(demo_minus_inf_row, "seed", seed=seed)
    if steps is not None:
        assert bool(torch.isnan(steps.weights[1]).all())


@SETTINGS
@given(name=st.sampled_from(["model"]), value=st.sampled_from(ODD))
def test_model_queries(name, value):
    for fn in (attn_implementation, is_causal_model):
        call(fn, name, model=value)


@SETTINGS
@given(
    name=st.sampled_from(["mask_bool", "dtype"]), value=st.sampled_from([*ODD, torch.bfloat16, torch.int64])
)
def test_to_additive(name, value):
    kwargs = {"mask_bool": torch.ones(L, L, dtype=torch.bool).tril(), "dtype": torch.float16}
    kwargs[name] = value
    out = call(to_additive, "to_additive", **kwargs)  # its messages name the function
    if out is not None:
        assert not bool(torch.isinf(out).any())
