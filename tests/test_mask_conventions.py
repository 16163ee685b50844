"""Mask conventions pinned against transformers' OWN mask builders, and per-document rules
against a dense reference of plain Python loops. True = may attend.

transformers' builders (``transformers.masking_utils``) are called as its models call them,
with a small config; an upgrade that changes a convention fails here instead of silently
shifting a window by one.
"""

from __future__ import annotations

import pytest
import torch
from _tiny_models import tiny_gpt2
from torch.nn.attention.flex_attention import create_mask
from transformers import MistralConfig
from transformers import masking_utils as mu

from dynmask_viz.attention_masks import (
    MaskError,
    causal,
    document,
    global_tokens,
    keep_tokens,
    padding,
    per_document,
    prefix_lm,
    sliding_window,
)
from dynmask_viz.hf import extract_attention, to_hf_mask

LENGTH = 11


def _config(window: int | None = None, impl: str = "eager") -> MistralConfig:
    return MistralConfig(sliding_window=window, attn_implementation=impl)


def _allowed(mask: torch.Tensor) -> torch.Tensor:
    """transformers' mask as bool ``[B, 1, Q, K]``: eager gives additive (0 = attend), sdpa bool."""
    return mask if mask.dtype == torch.bool else mask == 0


def _ours(rule, batch: int = 1) -> torch.Tensor:
    return rule.dense(batch, 1, LENGTH)


# ---- sliding windows and prefix-LM: transformers' own masks -----------------------------------


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("window", [1, 2, 3, 5, LENGTH + 2])
def test_causal_window_is_transformers_sliding_window_causal_mask(window, impl):
    embeds = torch.zeros(1, LENGTH, 4)
    theirs = mu.create_sliding_window_causal_mask(
        _config(window, impl), embeds, None, None, allow_is_causal_skip=False
    )
    assert torch.equal(_ours(sliding_window(window)), _allowed(theirs))
    # The window counts keys, the query itself included.
    assert int(_ours(sliding_window(window)).sum(-1).max()) == min(window, LENGTH)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("window", [1, 2, 3, 5, LENGTH + 2])
def test_bidirectional_window_is_transformers_bidirectional_sliding_window_mask(window, impl):
    embeds = torch.zeros(1, LENGTH, 4)
    theirs = mu.create_bidirectional_sliding_window_mask(
        _config(window, impl), embeds, None, allow_is_bidirectional_skip=False
    )
    ours = _ours(sliding_window(window, causal=False))
    assert torch.equal(ours, _allowed(theirs))
    # The window is the distance on each side: 2w + 1 keys away from the edges.
    assert int(ours.sum(-1).max()) == min(2 * window + 1, LENGTH)


@pytest.mark.parametrize("window", [1, 2, 4])
def test_mask_functions_agree_too(window):
    """The mask functions transformers composes (index based), evaluated on the same grid."""
    q, k = torch.arange(LENGTH)[:, None], torch.arange(LENGTH)[None, :]
    zero = torch.zeros((), dtype=torch.long)
    for ours, theirs in [
        (sliding_window(window), mu.sliding_window_causal_mask_function(window)),
        (sliding_window(window, causal=False), mu.sliding_window_bidirectional_mask_function(window)),
    ]:
        assert torch.equal(_ours(ours)[0, 0], torch.broadcast_to(theirs(zero, zero, q, k), (LENGTH, LENGTH)))


def test_causal_window_is_causal_and_one_bidirectional_window_shorter():
    """The two transformers conventions differ by one: keys vs distance each side."""
    for w in (1, 2, 5):
        assert torch.equal(
            _ours(sliding_window(w)),
            _ours(causal() & sliding_window(w, causal=False)) & _ours(sliding_window(w)),
        )
        if w > 1:
            assert torch.equal(
                _ours(sliding_window(w)), _ours(causal() & sliding_window(w - 1, causal=False))
            )


@pytest.mark.parametrize("window", [1, 3])
def test_attention_gym_causal_window_counts_one_key_more(window):
    """attention-gym's generate_sliding_window(w): ``(q - k <= w) & causal``, transcribed from
    attn_gym/masks/sliding_window.py; it is our (and transformers') window w + 1."""
    q, k = torch.arange(LENGTH)[:, None], torch.arange(LENGTH)[None, :]
    gym = (q - k <= window) & (q >= k)
    assert torch.equal(_ours(sliding_window(window + 1))[0, 0], gym)
    assert not torch.equal(_ours(sliding_window(window))[0, 0], gym)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("n", [0, 1, 4, LENGTH])
def test_prefix_lm_is_transformers_prefix_block(n, impl):
    """transformers builds a prefix-LM (PaliGemma) as causal | one bidirectional block of
    ``block_sequence_ids`` 0 over the prefix (-1 = causal tokens)."""
    embeds = torch.zeros(1, LENGTH, 4)
    blocks = torch.where(torch.arange(LENGTH) < n, 0, -1)[None]
    theirs = mu.create_causal_mask(
        _config(None, impl), embeds, None, None, block_sequence_ids=blocks, allow_is_causal_skip=False
    )
    assert torch.equal(_ours(prefix_lm(n)), _allowed(theirs))


# ---- per-document rules ------------------------------------------------------------------------

SEGMENTS = torch.tensor(
    [
        [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2],
        [4, 4, 4, 4, 4, 4, 7, 7, 9, 9, 9],
        [3, 3, 5, 5, 3, 3, 3, 5, 5, 6, 6],  # not contiguous: a position counts its own tokens
    ]
)


def _loop_reference(segments: torch.Tensor, allow) -> torch.Tensor:
    """bool ``[B, 1, L, L]`` by plain loops: same document and ``allow(b, q_pos, k_pos)`` at the
    positions within the document (how many tokens of that document come before)."""
    batch, length = segments.shape
    out = torch.zeros(batch, 1, length, length, dtype=torch.bool)
    for b in range(batch):
        ids = segments[b].tolist()
        pos = [sum(1 for j in range(i) if ids[j] == ids[i]) for i in range(length)]
        for q in range(length):
            for k in range(length):
                out[b, 0, q, k] = ids[q] == ids[k] and bool(allow(b, pos[q], pos[k]))
    return out


PER_DOCUMENT = {
    "prefix_lm(2)": (prefix_lm(2), lambda b, q, k: k <= q or k < 2),
    "prefix_lm(per-example)": (
        prefix_lm(torch.tensor([1, 3, 0])),
        lambda b, q, k: k <= q or k < [1, 3, 0][b],
    ),
    "sliding_window(2)": (sliding_window(2), lambda b, q, k: 0 <= q - k < 2),
    "sliding_window(1, bidirectional)": (sliding_window(1, causal=False), lambda b, q, k: abs(q - k) <= 1),
    "window | global first": (
        sliding_window(2) | global_tokens([0]),
        lambda b, q, k: 0 <= q - k < 2 or q == 0 or k == 0,
    ),
}


@pytest.mark.parametrize("case", PER_DOCUMENT, ids=str)
def test_per_document_matches_loop_reference(case):
    rule, allow = PER_DOCUMENT[case]
    wrapped = per_document(rule, SEGMENTS)
    reference = _loop_reference(SEGMENTS, allow)
    assert torch.equal(wrapped.dense(3, 1, LENGTH), reference)
    # FlexAttention's vmap path (what block_mask evaluates) gives the same mask.
    assert torch.equal(create_mask(wrapped, 3, 1, LENGTH, LENGTH, device="cpu"), reference)
    assert wrapped.block_mask(3, 1, LENGTH, block_size=4).shape[-2:] == (LENGTH, LENGTH)


def test_per_document_differs_from_absolute_positions():
    """document & prefix_lm reads absolute positions: only the first document has a prefix."""
    absolute = (document(SEGMENTS) & prefix_lm(2)).dense(3, 1, LENGTH)
    relative = per_document(prefix_lm(2), SEGMENTS).dense(3, 1, LENGTH)
    assert relative[0, 0, 3, 4] and not absolute[0, 0, 3, 4]  # second document, its prefix
    # Rules of q - k only are the same either way on contiguous documents.
    contiguous = SEGMENTS[:2]
    for rule in (causal(), sliding_window(3), sliding_window(2, causal=False)):
        assert torch.equal(
            per_document(rule, contiguous).dense(2, 1, LENGTH),
            (document(contiguous) & rule).dense(2, 1, LENGTH),
        )


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize(
    "make",
    [
        lambda cfg, emb, pos: (
            per_document(sliding_window(3), SEGMENTS[:2]),
            mu.create_sliding_window_causal_mask(cfg, emb, None, None, position_ids=pos),
        ),
        lambda cfg, emb, pos: (
            per_document(prefix_lm(2), SEGMENTS[:2]),
            mu.create_causal_mask(
                cfg, emb, None, None, position_ids=pos, or_mask_function=lambda b, h, q, k: k < 2
            ),
        ),
    ],
    ids=["window", "prefix_lm"],
)
def test_per_document_is_transformers_packed_sequences(make, impl):
    """transformers detects packed documents from position_ids restarting at 0 and evaluates the
    mask function at positions within each document: the same as per_document."""
    positions = torch.tensor([[0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2], [0, 1, 2, 3, 4, 5, 0, 1, 0, 1, 2]])
    ours, theirs = make(_config(3, impl), torch.zeros(2, LENGTH, 4), positions)
    assert torch.equal(ours.dense(2, 1, LENGTH), _allowed(theirs))


def test_per_document_keeps_flags_and_refuses_slot_data():
    seg = SEGMENTS[:1]
    assert per_document(prefix_lm(2), seg).looks_ahead and not per_document(causal(), seg).looks_ahead
    rule = per_document(prefix_lm(2), seg)
    assert rule.name == "per_document(prefix_lm(n=2))" and not rule.absolute and rule.reads_slots
    with pytest.raises(MaskError, match=r"per_document was built from data with q_len=11.*q_len=5"):
        rule.dense(1, 1, 5)
    for data_rule in (
        padding(torch.ones(1, LENGTH, dtype=torch.long)),
        keep_tokens(torch.ones(1, LENGTH, dtype=torch.bool)),
    ):
        with pytest.raises(MaskError, match=r"per_document\(rule\).*reads per-token data.*& data_rule"):
            per_document(prefix_lm(2) & data_rule, seg)
    with pytest.raises(TypeError, match=r"per_document\(rule\) must be a MaskRule"):
        per_document(seg, seg)
    with pytest.raises(MaskError, match=r"per_document\(segment_ids\) must have 2 dim"):
        per_document(causal(), seg[0])


# ---- decoders: a rule that looks ahead is applied as is ---------------------------------------


@pytest.fixture(scope="module")
def gpt2(tokenizer):
    return tiny_gpt2(tokenizer)


@pytest.fixture(scope="module")
def ids():
    return torch.randint(1000, 2000, (2, 9), generator=torch.Generator().manual_seed(0))


def test_decoder_gets_transformers_prefix_lm_mask(gpt2, ids):
    """to_hf_mask(prefix_lm(4), gpt2) used to AND GPT-2's causality: a plain causal mask."""
    blocks = torch.where(torch.arange(9) < 4, 0, -1).expand(2, -1)
    embeds = torch.zeros(2, 9, 4)
    theirs = mu.create_causal_mask(gpt2.config, embeds, None, None, block_sequence_ids=blocks)
    for rule in (prefix_lm(4), prefix_lm(4) & padding(torch.ones(2, 9, dtype=torch.long))):
        assert torch.equal(to_hf_mask(rule, gpt2, ids), theirs)
    # GPT-2 follows it: the first prefix token attends to the later prefix tokens.
    with torch.no_grad():
        att = gpt2(ids, attention_mask=to_hf_mask(prefix_lm(4), gpt2, ids), output_attentions=True).attentions
    assert bool((att[0][:, :, 0, 1:4] > 0).all()) and bool((att[0][:, :, 0, 4:] == 0).all())


def test_decoder_stays_causal_unless_the_rule_looks_ahead(gpt2, ids):
    tril = torch.ones(9, 9, dtype=torch.bool).tril()

    def allowed(rule, **kw):
        return to_hf_mask(rule, gpt2, ids, **kw)[0, 0] == 0

    assert torch.equal(allowed(causal() | document(torch.zeros(1, 9, dtype=torch.long))), tril)
    band = sliding_window(2, causal=False).dense(1, 1, 9)[0, 0]
    assert torch.equal(allowed(sliding_window(2, causal=False)), band)
    assert torch.equal(allowed(causal() & sliding_window(2, causal=False)), band & tril)
    assert torch.equal(allowed(prefix_lm(4), causal=True), tril)  # asked for explicitly
    seg = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1]])
    assert torch.equal(
        allowed(per_document(prefix_lm(2), seg)), per_document(prefix_lm(2), seg).dense(1, 1, 9)[0, 0]
    )


def test_extract_attention_on_a_decoder_gives_the_prefix_lm(gpt2, tokenizer):
    text = "the cat sat on the mat"
    result = extract_attention(gpt2, tokenizer, text, prefix_lm(3), use_cache=False)
    n = len(result.tokens[0])
    assert torch.equal(result.applied_mask[0, 0], prefix_lm(3).dense(1, 1, n)[0, 0])
    assert bool((result.attentions[0, :, :, 0, 1:3] > 0).all())
    forced = extract_attention(gpt2, tokenizer, text, prefix_lm(3), use_cache=False, causal=True)
    assert torch.equal(forced.applied_mask[0, 0], torch.ones(n, n, dtype=torch.bool).tril())
    bidirectional = extract_attention(gpt2, tokenizer, text, causal=False, use_cache=False)
    assert bool(bidirectional.applied_mask.all())
    with pytest.raises(TypeError, match="causal must be None"):
        extract_attention(gpt2, tokenizer, text, causal="yes")
