"""The data behind the masking figures (dynmask_viz.analysis): encoded texts, epoch grids,
collator runs in a real DataLoader, and the times-masked distribution."""

import math

import pytest
import torch
from conftest import SENTENCE

from dynmask_viz.analysis import (
    collate_epochs,
    encode_texts,
    epoch_grid_data,
    masks_in_batches,
    sentences_with_word_pieces,
)
from dynmask_viz.masking import (
    KEPT,
    MASKED,
    RANDOM,
    UNCHANGED,
    DynamicMasking,
    MaskingConfig,
    MLMCollator,
    times_masked_pmf,
)

# --- data ------------------------------------------------------------------------------------


def test_encode_texts_word_ids_group_pieces(tokenizer):
    enc = encode_texts([SENTENCE, "short"], tokenizer)
    assert enc.input_ids.shape == enc.word_ids.shape == enc.attention_mask.shape
    tokens = enc.tokens[0]
    i = tokens.index("ana")
    assert tokens[i : i + 3] == ["ana", "##rch", "##ism"]
    assert len(set(enc.word_ids[0, i : i + 3].tolist())) == 1
    assert enc.word_ids[0, 0] == -1 and enc.word_ids[1, -1] == -1  # [CLS], padding
    with pytest.raises(ValueError, match="at least one text"):
        encode_texts([], tokenizer)


def test_grid_rows_follow_the_schedules(grids):
    static, dynamic = grids
    assert static.masked.shape == dynamic.masked.shape == (9, len(static.tokens))
    assert "[CLS]" not in static.tokens and "[SEP]" not in static.tokens
    for e in range(9):
        assert torch.equal(static.masked[e], static.masked[e % 3])
        assert torch.equal(static.input_ids[e], static.input_ids[e % 3])
    assert torch.equal(static.masked[:3], dynamic.masked[:3])  # static mask j == dynamic epoch j
    assert static.masks_drawn() == 3 and dynamic.masks_drawn() == 9
    assert static.mask_epoch.tolist() == [e % 3 for e in range(9)]
    assert static.ever_masked_share(2) == static.ever_masked_share()  # nothing new after k epochs
    with pytest.raises(ValueError, match="upto"):
        static.ever_masked_share(9)


def test_grid_shown_text_matches_corruption(grids):
    for grid in grids:
        for e in range(grid.epochs):
            for c, code in enumerate(grid.corruption[e].tolist()):
                shown, original = grid.shown[e][c], grid.tokens[c]
                if code in (UNCHANGED, KEPT):
                    assert shown == original
                elif code == MASKED:
                    assert shown == "[MASK]"
                else:
                    assert code == RANDOM and shown != "[MASK]"


def test_word_units_never_split_words(tokenizer, vocab):
    enc = encode_texts(SENTENCE, tokenizer)
    split = {}
    for unit in ("token", "word", "span"):
        masking = DynamicMasking(MaskingConfig(mlm_probability=0.4, unit=unit), seed=1)
        grid = epoch_grid_data(masking, enc.input_ids, vocab, 12, tokenizer=tokenizer, word_ids=enc.word_ids)
        split[unit] = grid.words_split()
    assert split["word"] == split["span"] == 0
    assert split["token"] > 0


def test_sentences_with_word_pieces(tokenizer):
    found = sentences_with_word_pieces([SENTENCE, "The cat sat on the mat."], tokenizer, min_split_words=2)
    assert found == [SENTENCE]


def test_collator_epochs_show_the_seeded_worker_trap(tokenizer):
    from transformers import DataCollatorForLanguageModeling

    texts = [
        SENTENCE,
        "The cat sat on the mat near the door.",
        "Anarchism is a political philosophy.",
        "Syndicalism is a revolutionary current within the labour movement.",
    ]
    features = [{"input_ids": tokenizer(t)["input_ids"]} for t in texts]
    kw = dict(epochs=3, batch_size=2, num_workers=2)
    hf = collate_epochs(
        DataCollatorForLanguageModeling(tokenizer, seed=0, mlm_probability=0.3), features, **kw
    )
    ours = collate_epochs(
        MLMCollator(tokenizer, DynamicMasking(MaskingConfig(mlm_probability=0.3))), features, **kw
    )
    assert hf.same_as_first_epoch() == [True, True, True]
    assert ours.same_as_first_epoch() == [True, False, False]
    assert (ours.distinct_masks_per_example() == 3).all()
    grid = hf.grid(0, tokenizer)
    assert grid.tokens == tokenizer.convert_ids_to_tokens(features[0]["input_ids"])[1:-1]
    assert torch.equal(grid.masked, hf.masked[:, 0, 1 : len(grid.tokens) + 1])


def keyed(collator, epoch=0):
    collator.set_epoch(epoch)
    return collator


def test_mask_is_independent_of_batch_companions(tokenizer):
    features = [
        {"input_ids": tokenizer(t)["input_ids"]} for t in (SENTENCE, "One two three four.", "Five six.")
    ]
    masks = masks_in_batches(
        keyed(MLMCollator(tokenizer, DynamicMasking(seed=3))), features, 0, [[0], [1, 0], [2, 0, 1]]
    )
    assert all(torch.equal(m, masks[0]) for m in masks)
    with pytest.raises(ValueError, match="must contain example"):
        masks_in_batches(MLMCollator(tokenizer), features, 0, [[1]])


def test_times_masked_pmf():
    dyn = times_masked_pmf(0.15, 40)
    binom = torch.tensor(
        [math.comb(40, k) * 0.15**k * 0.85 ** (40 - k) for k in range(41)], dtype=torch.float64
    )
    assert torch.allclose(dyn, binom)
    static = times_masked_pmf(0.15, 40, 10)
    assert static.sum().item() == pytest.approx(1.0)
    assert static[0].item() == pytest.approx(0.85**10)
    assert (static[torch.arange(41) % 4 != 0] == 0).all()  # each mask seen 4 times
    uneven = times_masked_pmf(0.3, 10, 4)  # masks seen 3, 3, 2, 2 times
    assert uneven.sum().item() == pytest.approx(1.0) and uneven[1].item() == 0.0
