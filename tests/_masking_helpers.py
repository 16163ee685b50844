"""Shared builders for the masking tests (a synthetic vocabulary needs no tokenizer)."""

import torch

from dynmask_viz.masking import MaskingVocab

PAD, CLS, SEP, MASK = 0, 1, 2, 3
VOCAB = MaskingVocab.build(mask_token_id=MASK, vocab_size=1000, special_ids=[CLS, SEP], pad_token_id=PAD)


def make_batch(lengths, max_len=None, *, seed=0, left=False):
    """Random ``[CLS] w... [SEP]`` rows padded with PAD; returns (input_ids, attention_mask)."""
    gen = torch.Generator().manual_seed(seed)
    max_len = max_len or max(lengths)
    ids = torch.full((len(lengths), max_len), PAD, dtype=torch.int64)
    attn = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        body = torch.randint(10, 1000, (n,), generator=gen)
        body[0], body[-1] = CLS, SEP
        sl = slice(max_len - n, max_len) if left else slice(0, n)
        ids[row, sl] = body
        attn[row, sl] = 1
    return ids, attn


def words_for(ids, *, seed=0, max_pieces=3):
    """Word ids grouping consecutive tokens into words of 1..max_pieces pieces (-1 on specials)."""
    gen = torch.Generator().manual_seed(seed)
    word_ids = torch.full_like(ids, -1)
    for row in range(ids.shape[0]):
        w, left_in_word = -1, 0
        for col in range(ids.shape[1]):
            if int(ids[row, col]) in (PAD, CLS, SEP):
                left_in_word = 0
                continue
            if left_in_word == 0:
                w += 1
                left_in_word = int(torch.randint(1, max_pieces + 1, (1,), generator=gen))
            word_ids[row, col] = w
            left_in_word -= 1
    return word_ids
