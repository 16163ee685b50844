"""FillMaskExplorer and its analysis (dynmask_viz.analysis.fill_mask), on tiny random masked LMs.

Every prediction is compared with a direct forward of the model (torch.topk of its softmax);
every drawn mask and training input with the training loop's own masking (make_masking, keyed on
the row index); every loss with the memorization measurement (experiments.memorization).
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from _tiny_models import tiny_bert_with_head
from transformers import BertForMaskedLM

from dynmask_viz.analysis import draw_mask, draw_training_input, fill_mask_view, mask_index, times_seen
from dynmask_viz.experiments.memorization import memorization_by_sequence
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
                masked, fed = draw_training_input(
                    rows[i], vocab, SETUP["masking"], seed=3, mask_epoch=m, example_id=i
                )
                assert torch.equal(masked, drawn) and torch.equal(fed, batch.input_ids[j])
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


def test_training_input_losses_are_the_memorization_measurements(models, tokenizer, rows):
    """Fed as in training, the explorer's loss of a row is the memorization measurement's loss of
    that row (mean -log p of the true tokens); exp(-loss) is the geometric-mean probability."""
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    result = memorization_by_sequence(
        models, rows, vocab, SETUP["masking"], seed=3, trained_mask_epoch=2, n_sequences=len(rows)
    )
    ex = FillMaskExplorer(models, tokenizer, training_ids=rows, mode="training", **SETUP)
    for i in range(len(rows)):
        for mask, kind in (("trained", "trained"), ("fresh", "fresh")):
            state = ex.set(sequence=i, scheme="static", epoch=2, mask=mask)
            assert state.feed == "training"  # the default
            for name in models:
                assert state.mean_loss(name) == pytest.approx(result["models"][name][kind][i], abs=1e-5)
                loss = state.mean_loss(name)
                assert state.geometric_mean_probability(name) == pytest.approx(math.exp(-loss))
                preds = state.view.model(name)
                torch.testing.assert_close(preds.true_log_probs.exp(), preds.true_probs)


def test_training_mode_feeds_as_in_training_or_every_blank_as_mask(explorer, tokenizer, rows, models):
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    static = make_masking("static", SETUP["masking"], seed=3, dupe_factor=4)
    kinds, counts = [], {"[MASK]": 0, "random": 0, "kept": 0}
    for i in range(len(rows)):
        batch = static(rows[[i]], vocab, epoch=1, example_ids=torch.tensor([i]))
        state = explorer.set(mode="training", sequence=i, scheme="static", epoch=1, mask="trained")
        assert state.feed == "training" and torch.equal(state.view.fed_ids, batch.input_ids[0])
        _assert_matches_direct(state.view, models)
        corruption = batch.corruption[0, state.view.positions].tolist()  # 1 [MASK], 2 random, 3 kept
        expected = [{1: "[MASK]", 2: "random", 3: "kept"}[c] for c in corruption]
        # a random token that happens to be the true one is what the model reads: kept
        same = (batch.input_ids[0] == rows[i])[state.view.positions].tolist()
        expected = ["kept" if s else e for e, s in zip(expected, same)]
        assert state.view.fed_as() == expected
        kinds.append((state, expected))
        for kind in expected:
            counts[kind] += 1
        held = re.findall(r"class='dynmask-fm-fed'[^>]*>([^<]*)</td>", explorer.table.value)
        inside = [k for p, k in zip(state.masked_positions, expected) if p < 16]  # the window shown
        assert [h.split(":")[0].replace("&#x27;", "") for h in held] == inside
        assert f"{expected.count('kept')} kept" in explorer.status.value
    assert all(counts.values()), counts  # the rows hold all three kinds of input
    as_mask = explorer.set(feed="mask")
    assert as_mask.feed == "mask" and "every blank fed as [MASK]" in explorer.status.value
    assert (as_mask.view.fed_ids[as_mask.view.positions] == tokenizer.mask_token_id).all()
    assert set(as_mask.view.fed_as()) == {"[MASK]"}
    _assert_matches_direct(as_mask.view, models)
    for name in models:
        assert f"loss {as_mask.mean_loss(name):.3f} nats" in explorer.status.value
    with pytest.raises(ValueError, match="feed must be one of"):
        explorer.set(feed="sometimes")


def test_fed_ids_must_match_the_sequence_outside_the_mask(models, tokenizer):
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    masked = torch.zeros(len(ids), dtype=torch.bool)
    masked[3] = True
    fed = ids.clone()
    fed[3], fed[4] = 2000, 2001  # position 4 is not masked: training never changes it
    with pytest.raises(ValueError, match="equal to them outside masked"):
        fill_mask_view(models, tokenizer, ids, masked, fed_ids=fed)
    fed[4] = ids[4]
    view = fill_mask_view(models, tokenizer, ids, masked, fed_ids=fed)
    assert view.fed_as() == ["random"] and view.fed_tokens[3] == tokenizer.convert_ids_to_tokens(2000)
    _assert_matches_direct(view, models)
    assert "random: " + tokenizer.convert_ids_to_tokens(2000) in fill_mask_table_html(view)


@pytest.mark.parametrize("kwargs, expected", [({}, 1), ({"threads": None}, 2), ({"threads": 2}, 2)])
def test_models_run_on_one_thread_by_default_and_the_setting_comes_back(models, tokenizer, kwargs, expected):
    # In a Jupyter kernel next to one busy process the committed models took ~1 s per sequence on
    # two threads against 0.05 s on one: fill_mask_view (and the explorer) run them on one thread.
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    masked = torch.zeros(len(ids), dtype=torch.bool)
    masked[2] = True
    seen: list[int] = []
    record = lambda *_: seen.append(torch.get_num_threads())
    hooks = [m.register_forward_pre_hook(record) for m in models.values()]
    user = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        fill_mask_view(models, tokenizer, ids, masked, **kwargs)
        assert seen == [expected, expected]
        assert torch.get_num_threads() == 2  # the caller's setting, back
        seen.clear()
        explorer = FillMaskExplorer(models, tokenizer, text=TEXT, masked=[2], **kwargs)
        assert seen == [expected, expected] and explorer.threads == kwargs.get("threads", 1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(user)
        for hook in hooks:
            hook.remove()


def test_bad_threads_are_refused_with_the_parameter_named(models, tokenizer):
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    masked = torch.zeros(len(ids), dtype=torch.bool)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        fill_mask_view(models, tokenizer, ids, masked, threads=0)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        FillMaskExplorer(models, tokenizer, text=TEXT, threads=True)
