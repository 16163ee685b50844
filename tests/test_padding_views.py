"""Chapter 08's measurements: a padded batch against each text alone, and the padding side.

The offline encoder (MiniLM) and a tiny random GPT-2 over its vocabulary stand in for the
chapter's models: every property here is structural (what padding, masks and position ids
do), so it holds for any weights.
"""

import pytest
import torch
from _tiny_models import tiny_gpt2

from dynmask_viz.analysis import (
    NEXT_TOKEN_SETTINGS,
    encode_padded,
    greedy_continuations,
    key_padding_mask,
    masked_mean,
    padded_batch_view,
    padding_side_comparison,
)
from dynmask_viz.hf import allowed_from_additive, model_attention_mask

TEXTS = [
    "The storm rolled in.",
    "The old lighthouse keeper watched the storm roll in over the dark sea.",
    "Anarchism is a political philosophy.",
]
LONGEST = 1  # the row without padding
TOL = 1e-4  # float32 noise of a different batch shape is ~1e-6


@pytest.fixture(scope="module")
def gpt2(tokenizer):
    return tiny_gpt2(tokenizer)


@pytest.fixture(scope="module", params=["encoder", "decoder"])
def any_model(request, model, gpt2):
    return model if request.param == "encoder" else gpt2


@pytest.mark.parametrize("side", ["right", "left"])
def test_every_row_equals_the_text_alone(any_model, tokenizer, side):
    view = padded_batch_view(any_model, tokenizer, TEXTS, side)
    assert view.padding_side == side and view.lengths[LONGEST] == view.input_ids.shape[1]
    assert float(view.row_difference.max()) < TOL, view.row_difference
    assert view.weight_on_blocked == 0.0  # attention read back: nothing on a blocked key
    pads = ~view.attention_mask
    assert bool(pads[:, 0].any() if side == "left" else pads[:, -1].any())
    # Nothing reads the padding: a different pad id changes the padding slots only.
    assert view.pad_rows_finite
    assert float(view.real_change.max()) < 1e-5
    assert bool((view.pad_change[pads.any(-1)] > 0).all())  # computed from their own input


def test_left_padding_needs_position_ids(any_model, tokenizer):
    left = padded_batch_view(any_model, tokenizer, TEXTS, "left")
    padded = left.attention_mask.all(-1).logical_not()
    assert bool((left.row_difference_no_positions[padded] > 1e-2).all())
    assert float(left.row_difference_no_positions[LONGEST]) < TOL  # no padding: no shift
    # Real tokens numbered from 0 in each row, as alone.
    for b, n in enumerate(left.lengths):
        assert left.position_ids[b, left.attention_mask[b]].tolist() == list(range(n))
    right = padded_batch_view(any_model, tokenizer, TEXTS, "right")
    assert torch.equal(right.row_difference_no_positions, right.row_difference)


def test_mean_pooling_over_padding_differs(model, tokenizer):
    view = padded_batch_view(model, tokenizer, TEXTS, "right")
    diff, cos = view.pooling_difference, view.pooling_cosine
    padded = [b for b in range(len(TEXTS)) if b != LONGEST]
    assert bool((diff["mean over every slot"][padded] > 1e-1).all())
    assert bool((cos["mean over every slot"][padded] < 0.99).all())
    assert float(diff["mean over real tokens"].max()) < TOL
    assert float(diff["mean over every slot"][LONGEST]) < TOL


def test_masks_have_the_documented_shapes_and_convention(any_model, tokenizer):
    for side in ("right", "left"):
        view = padded_batch_view(any_model, tokenizer, TEXTS, side)
        batch, length = view.input_ids.shape
        real = view.attention_mask
        assert view.key_padding.shape == (batch, 1, 1, length) and view.key_padding.dtype == torch.bool
        assert torch.equal(view.key_padding[:, 0, 0], real)  # True = real key = may attend
        assert view.model_mask.shape == view.applied_mask.shape == (batch, 1, length, length)
        expected = real[:, None, None, :].expand(-1, 1, length, -1)
        if "GPT2" in type(any_model).__name__:
            expected = expected & torch.ones(length, length, dtype=torch.bool).tril()
        queries = real[:, None, :, None].expand_as(expected)  # the real query rows
        assert torch.equal(view.model_mask[queries], expected[queries])
        assert torch.equal(view.applied_mask[queries], expected[queries])


def test_a_left_padded_decoder_gives_padding_queries_no_key(gpt2, tokenizer):
    view = padded_batch_view(gpt2, tokenizer, TEXTS, "left")
    pad_rows = ~view.attention_mask  # [B, L]
    assert not bool(view.model_mask[:, 0][pad_rows].any())  # transformers: an empty row
    eye = torch.eye(view.input_ids.shape[1], dtype=torch.bool).expand(len(TEXTS), -1, -1)
    assert torch.equal(view.applied_mask[:, 0][pad_rows], eye[pad_rows])  # extract_attention: itself


def test_model_attention_mask_reads_what_the_layers_got(model, tokenizer):
    batch = encode_padded(tokenizer, TEXTS, "right")
    captured = model_attention_mask(model, batch["input_ids"], batch["attention_mask"])
    length = batch["input_ids"].shape[1]
    assert captured.shape == (len(TEXTS), 1, length, length) and captured.is_floating_point()
    allowed = allowed_from_additive(captured)
    assert torch.equal(allowed, key_padding_mask(batch["attention_mask"]).expand_as(allowed))
    assert allowed_from_additive(allowed) is allowed
    with pytest.raises(TypeError, match="transformers model"):
        model_attention_mask(torch.nn.Linear(2, 2), batch["input_ids"], batch["attention_mask"])


def test_key_padding_mask_and_masked_mean():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    kp = key_padding_mask(mask)
    assert kp.shape == (2, 1, 1, 3) and kp.dtype == torch.bool
    assert kp[:, 0, 0].tolist() == [[True, True, False], [True, True, True]]
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[1.0], [2.0], [3.0]]])
    assert masked_mean(hidden, mask)[:, 0].tolist() == [2.0, 2.0]
    assert masked_mean(hidden, None)[0, 0].item() == pytest.approx(104 / 3)


def test_padding_side_comparison(gpt2, tokenizer):
    prompts = ["The storm", "The old lighthouse keeper watched the storm roll in over the"]
    result = padding_side_comparison(gpt2, tokenizer, prompts)
    assert result.settings == ["alone", *(s[0] for s in NEXT_TOKEN_SETTINGS)]
    diff = {name: r.log_prob_difference for name, r in result.readings.items()}
    short = 0
    # The naive readings are wrong for the short prompt only ...
    assert float(diff["right padding, logits[:, -1]"][short]) > 1e-3
    assert float(diff["left padding, no position_ids"][short]) > 1e-3
    # ... the right ones equal the prompt alone, prompt by prompt.
    for name in ("right padding, last real token", "left padding, position_ids"):
        assert float(diff[name].max()) < TOL
        assert bool(result.readings[name].matches_alone.all())
        assert torch.equal(result.readings[name].token_ids, result.readings["alone"].token_ids)
    for r in result.readings.values():
        assert float(r.log_prob_difference[1]) < TOL  # the longest prompt is never padded
        assert bool(((r.probabilities > 0) & (r.probabilities <= 1)).all())
        assert r.texts == [tokenizer.decode([i]) for i in r.token_ids.tolist()]
    # generate numbers positions from attention_mask; the forward pass does not.
    assert result.generate_vs_forward["with position_ids"] < TOL
    assert result.generate_vs_forward["without position_ids"] > 1e-3


def test_greedy_continuations_left_padding_matches_alone(gpt2, tokenizer):
    prompts = ["The storm", "The old lighthouse keeper watched the storm roll in over the"]
    out = greedy_continuations(gpt2, tokenizer, prompts, max_new_tokens=3)
    assert out["left-padded batch"] == out["alone"]
    assert out["right-padded batch"][0] != out["alone"][0]  # generated after the padding
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_continuations(gpt2, tokenizer, prompts, max_new_tokens=0)


def test_bad_inputs_are_refused(model, tokenizer):
    with pytest.raises(ValueError, match="padding_side"):
        encode_padded(tokenizer, TEXTS, "middle")
    with pytest.raises(ValueError, match="at least 2"):
        padded_batch_view(model, tokenizer, ["one text"], "right")
    with pytest.raises(ValueError, match="non-empty"):
        padded_batch_view(model, tokenizer, ["a text", "  "], "right")

    class NoPad:
        pad_token = None

    with pytest.raises(ValueError, match="pad token"):
        encode_padded(NoPad(), TEXTS, "left")


def test_views_leave_a_training_model_in_train_mode_and_measure_without_dropout(gpt2, tokenizer):
    """The views run the model in eval mode (no dropout: the same numbers as the eval-mode
    model) and give every submodule its own mode back, a mixed train/eval model included."""
    prompts = ["The storm", "The old lighthouse keeper watched the storm roll in over the"]
    training = tiny_gpt2(tokenizer).train()  # the fixture's weights (same seed), in train mode
    assert training.config.attn_pdrop > 0 and training.config.resid_pdrop > 0  # dropout would show
    training.transformer.h[0].eval()  # one block in eval mode: kept as it is
    modes = [m.training for m in training.modules()]

    view = padded_batch_view(training, tokenizer, TEXTS, "left")
    assert [m.training for m in training.modules()] == modes
    assert torch.equal(view.hidden, padded_batch_view(gpt2, tokenizer, TEXTS, "left").hidden)

    comparison = padding_side_comparison(training, tokenizer, prompts)
    assert [m.training for m in training.modules()] == modes
    reference = padding_side_comparison(gpt2, tokenizer, prompts)
    for name, reading in comparison.readings.items():
        assert torch.equal(reading.probabilities, reference.readings[name].probabilities), name

    continuations = greedy_continuations(training, tokenizer, prompts, max_new_tokens=2)
    assert [m.training for m in training.modules()] == modes
    assert continuations == greedy_continuations(gpt2, tokenizer, prompts, max_new_tokens=2)
    assert not gpt2.training  # the eval model stays in eval mode


def test_eval_mode_restores_the_modes_on_an_error(gpt2):
    from dynmask_viz.analysis.padding import eval_mode

    gpt2.train()
    try:
        with pytest.raises(RuntimeError), eval_mode(gpt2):
            assert not any(m.training for m in gpt2.modules())
            raise RuntimeError("a failing forward pass")
        assert all(m.training for m in gpt2.modules())
    finally:
        gpt2.eval()  # the module-scoped fixture is shared by the other tests
