"""MaskingVocab: word markers of every tokenizer family, [UNK], and what build() refuses.

Tokenizers here are small fakes with only what ``MaskingVocab.from_tokenizer`` reads
(``convert_ids_to_tokens``, ``all_special_ids``, the role ids, ``len``), so each vocabulary
convention can be tested with a handful of tokens.
"""

import pytest
import torch

from dynmask_viz.masking import MaskingConfig, MaskingVocab, mask_batch, word_ids_from_vocab
from dynmask_viz.masking.vocab import word_marker_tables


class FakeTokenizer:
    """The parts of a Hugging Face tokenizer that MaskingVocab reads."""

    def __init__(self, tokens, **roles):
        self.tokens = list(tokens)
        for role in ("bos", "eos", "sep", "cls", "pad", "mask", "unk"):
            name = roles.get(role)
            setattr(self, f"{role}_token_id", None if name is None else self.tokens.index(name))
        self.all_special_ids = sorted(
            {i for i in (getattr(self, f"{r}_token_id") for r in roles) if i is not None}
        )

    def convert_ids_to_tokens(self, ids):
        return [self.tokens[i] for i in ids]

    def __len__(self):
        return len(self.tokens)


ROBERTA_ROLES = dict(bos="<s>", pad="<pad>", eos="</s>", unk="<unk>", mask="<mask>", cls="<s>", sep="</s>")
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def ids_of(tok, pieces):
    return torch.tensor([[tok.tokens.index(p) for p in pieces]])


def word_ids(tok, pieces):
    vocab = MaskingVocab.from_tokenizer(tok)
    ids = ids_of(tok, pieces)
    candidates = ~vocab.is_special(ids)
    return vocab.word_ids(ids, candidates).tolist()[0]


def test_byte_level_bpe_with_a_handful_of_marked_tokens_has_word_starts():
    """A byte-level BPE vocabulary with few "Ġ" tokens used to be refused (a hidden threshold
    of 100 marked tokens), and then told to "use a vocabulary with word markers"."""
    tok = FakeTokenizer([*SPECIALS, "\u0120the", "\u0120cat", "s", "\u0120sat", ".", "The"], **ROBERTA_ROLES)
    vocab = MaskingVocab.from_tokenizer(tok)
    assert vocab.has_word_markers and vocab.word_end is None
    assert vocab.word_start.tolist() == [True] * 5 + [True, True, False, True, False, False]
    # The first word has no "Ġ" (no space before it) but starts after <s>; "s" and "." continue.
    pieces = ["<s>", "The", "\u0120cat", "s", "\u0120sat", ".", "</s>", "<pad>"]
    assert word_ids(tok, pieces) == [-1, 0, 1, 1, 2, 2, -1, -1]


def test_sentencepiece_and_wordpiece_markers():
    sp = FakeTokenizer([*SPECIALS, "\u2581un", "believ", "able", "\u2581yes"], **ROBERTA_ROLES)
    assert word_ids(sp, ["<s>", "\u2581un", "believ", "able", "\u2581yes", "</s>"]) == [-1, 0, 0, 0, 1, -1]
    wp_roles = dict(pad="[PAD]", unk="[UNK]", cls="[CLS]", sep="[SEP]", mask="[MASK]")
    wp = FakeTokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "una", "##ffa", "##ble", "token"], **wp_roles
    )
    assert word_ids(wp, ["[CLS]", "una", "##ffa", "##ble", "token", "[SEP]"]) == [-1, 0, 0, 0, 1, -1]


def test_the_marker_most_tokens_carry_wins():
    """A WordPiece vocabulary holding one stray "Ġ" token is still read by its "##" pieces."""
    wp_roles = dict(pad="[PAD]", unk="[UNK]", cls="[CLS]", sep="[SEP]", mask="[MASK]")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b", "##c", "\u0120", "d"]
    start, end = word_marker_tables(FakeTokenizer(tokens, **wp_roles))
    assert end is None
    assert start[5:].tolist() == [True, False, False, True, True]


def test_suffix_markers_end_words():
    """OpenAI GPT / CLIP BPE: a token ending in "</w>" ends a word, so the next one starts one."""
    roles = dict(pad="<pad>", unk="<unk>", mask="<mask>", bos="<s>", eos="</s>")
    tok = FakeTokenizer([*SPECIALS, "the</w>", "ca", "t</w>", "sa", "t", "s</w>", "!</w>"], **roles)
    vocab = MaskingVocab.from_tokenizer(tok)
    assert vocab.word_start is None and vocab.word_end is not None
    pieces = ["<s>", "the</w>", "ca", "t</w>", "sa", "t", "s</w>", "!</w>", "</s>"]
    assert word_ids(tok, pieces) == [-1, 0, 1, 1, 2, 2, 2, 3, -1]
    # Whole-word masking on those words never splits one.
    ids = ids_of(tok, pieces).repeat(64, 1)
    words = vocab.word_ids(ids, ~vocab.is_special(ids))
    out = mask_batch(ids, vocab, MaskingConfig(unit="word", mlm_probability=0.5), seed=0, word_ids=words)
    for w in range(4):
        sel = out.masked[:, words[0] == w]
        assert (sel.all(1) | ~sel.any(1)).all()
    assert out.masked.any()


def test_a_vocabulary_without_markers_says_so():
    tok = FakeTokenizer([*SPECIALS, "a", "b", "c"], **ROBERTA_ROLES)
    vocab = MaskingVocab.from_tokenizer(tok)
    assert not vocab.has_word_markers
    ids = ids_of(tok, ["<s>", "a", "b", "</s>"])
    with pytest.raises(ValueError, match=r"no word markers.*##, \u0120, \u2581 or </w>"):
        vocab.word_ids(ids, ~vocab.is_special(ids))


def test_word_ids_from_vocab_needs_exactly_one_table():
    ids = torch.tensor([[0, 1]])
    cand = torch.ones_like(ids, dtype=torch.bool)
    table = torch.tensor([True, False])
    with pytest.raises(ValueError, match="exactly one of word_start"):
        word_ids_from_vocab(ids, None, cand)
    with pytest.raises(ValueError, match="exactly one of word_start"):
        word_ids_from_vocab(ids, table, cand, word_end=table)
    assert word_ids_from_vocab(ids, None, cand, word_end=table).tolist() == [[0, 1]]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (
            {"word_start": torch.ones(5, dtype=torch.bool)},
            r"word_start must be a bool tensor of shape \[vocab_size\]",
        ),
        ({"word_start": torch.ones(10)}, r"word_start must be a bool tensor .* got torch.float32"),
        ({"word_end": [True] * 10}, r"word_end must be a bool tensor .* got list"),
        (
            {"word_start": torch.ones(10, dtype=torch.bool), "word_end": torch.ones(10, dtype=torch.bool)},
            "not both",
        ),
        ({"unk_token_id": 10}, r"unk_token_id 10 is outside the vocabulary \[0, 10\)"),
    ],
)
def test_build_refuses_bad_word_tables_and_unk(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        MaskingVocab.build(mask_token_id=3, vocab_size=10, **kwargs)


def test_unk_is_selectable_unless_it_plays_another_special_role():
    tok = FakeTokenizer([*SPECIALS, "\u0120a", "b"], **ROBERTA_ROLES)
    vocab = MaskingVocab.from_tokenizer(tok)
    unk = tok.unk_token_id
    assert vocab.unk_token_id == unk and unk not in vocab.special_ids
    assert unk not in vocab.replacement_ids.tolist()
    assert not vocab.is_special(torch.tensor([[unk]])).any()
    # GPT-2 style: one token is unk, bos and eos at once: it stays special.
    shared = FakeTokenizer(
        ["<|endoftext|>", "<mask>", "\u0120a", "b"], unk="<|endoftext|>", eos="<|endoftext|>", mask="<mask>"
    )
    vocab = MaskingVocab.from_tokenizer(shared)
    assert vocab.unk_token_id is None and 0 in vocab.special_ids
    assert vocab.is_special(torch.tensor([[0]])).all()


def test_real_tokenizer_reads_wordpiece_and_keeps_specials(tokenizer):
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    assert vocab.word_start is not None and vocab.word_end is None
    ids = tokenizer("unaffable tokenization", return_tensors="pt")["input_ids"]
    assert vocab.word_ids(ids, ~vocab.is_special(ids)).tolist() == [[-1, 0, 0, 0, 1, 1, -1]]
    specials = {
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.pad_token_id,
        tokenizer.mask_token_id,
    }
    assert set(vocab.special_ids) == specials
    assert vocab.replacement_ids.numel() == len(tokenizer) - len(specials) - 1  # and not [UNK]


def test_word_ids_need_exactly_one_marker_table_and_a_vocabulary_with_markers():
    ids = torch.tensor([[4, 5]])
    cand = torch.ones(1, 2, dtype=torch.bool)
    table = torch.ones(10, dtype=torch.bool)
    for start, end in ((None, None), (table, table)):
        with pytest.raises(ValueError, match="needs exactly one of word_start .* and word_end"):
            word_ids_from_vocab(ids, start, cand, word_end=end)
    bare = MaskingVocab.build(mask_token_id=3, vocab_size=10)
    assert not bare.has_word_markers
    with pytest.raises(ValueError, match="has no word markers.*Pass word_ids or offsets instead"):
        bare.word_ids(ids, cand)
