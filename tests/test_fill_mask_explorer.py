"""FillMaskExplorer and its analysis (dynmask_viz.analysis.fill_mask), on tiny random masked LMs.

Every prediction is compared with a direct forward of the model (torch.topk of its softmax);
every drawn mask with the training loop's own masking (make_masking, keyed on the row index).
"""

from __future__ import annotations

import pytest
import torch
from _tiny_models import tiny_bert_with_head
from transformers import BertForMaskedLM

from dynmask_viz.analysis import draw_mask, fill_mask_view, mask_index, times_seen
from dynmask_viz.masking import MaskingConfig, MaskingVocab, make_masking
from dynmask_viz.plots import fill_mask_table_html
from dynmask_viz.widgets import FillMaskExplorer

TEXT = "The cat sat on the mat because it was tired."
SETUP = dict(mask_seed=3, dupe_factor=4, masking=MaskingConfig(), fresh_mask_epoch=10_000, epochs=12)


@pytest.fixture(scope="module")
def models(tokenizer):
    return {
        "static": tiny_bert_with_head(tokenizer, BertForMaskedLM, seed=0).eval(),
        "dynamic": tiny_bert_with_head(tokenizer, BertForMaskedLM, seed=1).eval(),
    }


@pytest.fixture(scope="module")
def rows(tokenizer):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (6, 48), generator=g)
    ids[:, 0], ids[:, -1], ids[:, 20] = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.sep_token_id
    return ids


@pytest.fixture()
def explorer(models, tokenizer, rows):
    return FillMaskExplorer(models, tokenizer, text=TEXT, training_ids=rows, window=16, **SETUP)


def _direct(model, fed: torch.Tensor, positions: torch.Tensor, k: int):
    with torch.no_grad():
        probs = model(input_ids=fed[None]).logits[0, positions].softmax(-1)
    return probs.topk(k, dim=-1), probs


def _assert_matches_direct(view, models, k=5):
    for name, model in models.items():
        (top_p, top_i), probs = _direct(model, view.fed_ids, view.positions, k)
        preds = view.model(name)
        assert torch.equal(preds.top_ids, top_i)
        torch.testing.assert_close(preds.top_probs, top_p)
        true = view.input_ids[view.positions]
        torch.testing.assert_close(preds.true_probs, probs.gather(1, true[:, None])[:, 0])
        assert preds.true_ranks.tolist() == [int((row > row[t]).sum()) + 1 for row, t in zip(probs, true)]


def test_fill_mask_view_feeds_mask_and_matches_a_direct_forward(models, tokenizer):
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    masked = torch.zeros(len(ids), dtype=torch.bool)
    masked[[2, 5]] = True
    view = fill_mask_view(models, tokenizer, ids, masked, k=5)
    assert view.fed_ids[2] == view.fed_ids[5] == tokenizer.mask_token_id
    assert torch.equal(view.fed_ids[~masked], ids[~masked]) and view.positions.tolist() == [2, 5]
    _assert_matches_direct(view, models)


def test_drawn_masks_are_the_training_loops_masks(tokenizer, rows):
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    for kind in ("static", "dynamic"):
        masking = make_masking(kind, SETUP["masking"], seed=SETUP["mask_seed"], dupe_factor=4)
        for epoch in (0, 5, 11):
            batch = masking(rows[[1, 4]], vocab, epoch=epoch, example_ids=torch.tensor([1, 4]))
            m = mask_index(kind, epoch, dupe_factor=4, fresh_mask_epoch=10_000)
            for j, i in enumerate((1, 4)):
                drawn = draw_mask(rows[i], vocab, SETUP["masking"], seed=3, mask_epoch=m, example_id=i)
                assert torch.equal(drawn, batch.masked[j])
    assert mask_index("fresh", 7, dupe_factor=4, fresh_mask_epoch=10_000) == 10_000


def test_times_seen_counts_the_epochs_of_each_mask():
    for epochs, k in ((12, 4), (40, 10), (10, 3)):
        static = [times_seen(m, "static", epochs=epochs, dupe_factor=k) for m in range(k)]
        assert sum(static) == epochs and max(static) - min(static) <= 1
        assert (
            sum(times_seen(m, "dynamic", epochs=epochs, dupe_factor=k) for m in range(epochs + 5)) == epochs
        )
        assert times_seen(10_000, "static", epochs=epochs, dupe_factor=k) == 0


def test_click_mode_masks_clicked_tokens_and_predictions_follow(explorer, models):
    assert explorer.state.masked_positions == [] and explorer.forward_calls == 0
    state = explorer.set(masked=[3])
    assert state.masked_positions == [3] and explorer.forward_calls == 2  # one forward per model
    _assert_matches_direct(state.view, models)
    explorer.token_buttons[5].value = True  # a click on token 5
    assert explorer.state.masked_positions == [3, 5]
    _assert_matches_direct(explorer.state.view, models)
    assert explorer.state.view.model("static").top_ids.shape == (2, 5)
    assert explorer.table.value.count("<tr data-position=") == 2
    explorer.toggle(3)
    assert explorer.state.masked_positions == [5]
    calls = explorer.forward_calls
    explorer.set(masked=[3, 5])  # seen before: cached, no forward
    assert explorer.forward_calls == calls
    assert explorer.token_buttons[0].disabled  # [CLS] cannot be clicked


def test_typing_a_new_sentence_clears_the_clicks(explorer, tokenizer):
    explorer.set(masked=[2])
    explorer.controls["text"].value = "A dog ran."
    assert explorer.state.text == "A dog ran." and explorer.state.masked_positions == []
    assert [b.description for b in explorer.tokens_box.children] == tokenizer.tokenize(
        "A dog ran.", add_special_tokens=True
    )


def test_draw_mode_draws_with_the_projects_masking(explorer, tokenizer):
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    for scheme, epoch in (("static", 1), ("static", 5), ("dynamic", 5)):
        state = explorer.set(mode="draw", scheme=scheme, epoch=epoch)
        m = mask_index(scheme, epoch, dupe_factor=4, fresh_mask_epoch=10_000)
        expected = draw_mask(ids, vocab, SETUP["masking"], seed=3, mask_epoch=m)
        assert state.mask_epoch == m and state.view.masked.tolist() == expected.tolist()
        assert all(b.disabled for b in explorer.tokens_box.children)
    assert explorer.epoch_label.value == "epoch 6 (of 12)"
    # static epochs 2 and 6 share a mask; dynamic epoch 6 has its own
    assert (
        explorer.set(scheme="static", epoch=1).view.masked.tolist()
        == explorer.set(epoch=5).view.masked.tolist()
    )


def test_training_mode_trained_vs_fresh_mask(explorer, tokenizer, rows, models):
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    static = make_masking("static", SETUP["masking"], seed=3, dupe_factor=4)
    state = explorer.set(mode="training", sequence=2, scheme="static", epoch=6, mask="trained")
    trained = static(rows[[2]], vocab, epoch=6, example_ids=torch.tensor([2])).masked[0]
    assert state.view.masked.tolist() == trained.tolist() and state.mask_epoch == 2
    assert state.seen == {"static": 3, "dynamic": 1}  # epochs 3, 7, 11 / epoch 3
    _assert_matches_direct(state.view, models)
    assert state.shown == (0, 16) and len(explorer.tokens_box.children) == 16
    inside = [p for p in state.masked_positions if p < 16]
    assert explorer.table.value.count("<tr data-position=") == len(inside)
    fresh = explorer.set(mask="fresh")
    assert fresh.mask_epoch == 10_000 and fresh.seen == {"static": 0, "dynamic": 0}
    assert fresh.view.masked.tolist() != trained.tolist()
    assert explorer.set(start=30).shown == (30, 46)
    assert not {int(rows[2, p]) for p in fresh.masked_positions} & {
        tokenizer.sep_token_id,
        tokenizer.cls_token_id,
    }


def test_bad_inputs_raise_clear_errors(explorer, models, tokenizer, rows):
    with pytest.raises(ValueError, match="non-empty sentence"):
        explorer.set(text="   ")
    with pytest.raises(ValueError, match=r"special token \[CLS\]"):
        explorer.set(masked=[0])
    with pytest.raises(ValueError, match=r"epoch must be an int in \[0, 11\]"):
        explorer.set(epoch=12)
    with pytest.raises(ValueError, match="Unknown control"):
        explorer.set(colour="red")
    assert explorer.state.text == TEXT  # nothing changed
    with pytest.raises(KeyError, match="Unknown model name 'stattic'"):
        explorer.state.view.model("stattic")
    with pytest.raises(ValueError, match="needs training_ids"):
        FillMaskExplorer(models, tokenizer, mode="training")
    with pytest.raises(ValueError, match="max_length must be at most 64"):
        FillMaskExplorer(models, tokenizer, max_length=100)
    with pytest.raises(ValueError, match="tokenizer is required"):
        FillMaskExplorer(models)
    with pytest.raises(ValueError, match="non-empty dict"):
        FillMaskExplorer({}, tokenizer)
    long = torch.full((80,), 2000)
    with pytest.raises(ValueError, match="takes at most 64"):
        fill_mask_view(models, tokenizer, long, torch.ones(80, dtype=torch.bool))
    with pytest.raises(Exception, match="no-such-model"):
        FillMaskExplorer(["no-such-model"])


def test_a_long_sentence_is_cut_with_a_message(models, tokenizer):
    ex = FillMaskExplorer(models, tokenizer, text="word " * 100, max_length=32, masked=[4])
    assert len(ex.state.view.tokens) == 32 and ex.state.truncated == 100 + 2 - 32
    assert "cut to its first 32 tokens" in ex.status.value


def test_table_highlights_the_true_token(models, tokenizer):
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    masked = torch.zeros(len(ids), dtype=torch.bool)
    masked[3] = True
    view = fill_mask_view(models, tokenizer, ids, masked, k=len(tokenizer))  # true token always listed
    page = fill_mask_table_html(view, names=["dynamic"])
    true = view.tokens[3]
    assert (
        f"font-weight:bold;white-space:nowrap;line-height:1.3'>{true} " in page and "static model" not in page
    )
    with pytest.raises(ValueError, match="not masked"):
        fill_mask_table_html(view, positions=[4])
