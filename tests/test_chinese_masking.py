"""Chinese whole-word masking: segmenter words mapped onto characters, in the collator.

The tokenizer here is a small WordPiece vocabulary written by the test (Chinese characters,
single Latin letters and digits with their ``##`` pieces, punctuation), so nothing needs the
fetched assets; ``test_chinese_assets.py`` checks the real bert-base-chinese vocabulary.
The dense reference for word units is the segmenter's own partition of a text made of Chinese
characters (one token each): every character of a word must be selected together.
"""

from __future__ import annotations

import pickle
import string
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynmask_viz.masking import (
    DynamicMasking,
    JiebaSegmenter,
    MaskingConfig,
    MaskingVocab,
    MaxMatchSegmenter,
    MLMCollator,
    StaticMasking,
    TokenPieces,
    segment_characters,
    word_ids_for_text,
)
from dynmask_viz.masking.segmentation import word_ids_from_segmenter

HANZI = "我们今天去北京大学看樱花用拍了张照片很强他说然后走好的中国人民银行学生喜欢读书"
PUNCT = "。，、：“”,.-:!?"
SENTENCES = [
    "我们今天去北京大学看樱花。",
    "中国人民银行的学生喜欢读书，然后走了。",
    "他说：我们今天很强！",
    "北京大学的学生喜欢看樱花",
]


@pytest.fixture(scope="module")
def zh_tokenizer(tmp_path_factory):
    """A cased WordPiece tokenizer over HANZI, Latin letters, digits and punctuation."""
    from transformers import BertTokenizerFast

    folder = tmp_path_factory.mktemp("zh_vocab")
    alnum = string.ascii_letters + string.digits
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(dict.fromkeys(HANZI)) + list(PUNCT) + list(alnum) + ["##" + c for c in alnum]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(str(folder), do_lower_case=False)


@pytest.fixture(scope="module")
def jieba_words():
    return JiebaSegmenter()


def encode(tokenizer, texts, *, with_ids=True):
    rows = [tokenizer(t)["input_ids"] for t in texts]
    return [{"input_ids": r, "example_id": i} if with_ids else {"input_ids": r} for i, r in enumerate(rows)]


_TABLES: dict[int, tuple] = {}  # id(tokenizer) -> (special ids, TokenPieces): built once each


def row_word_ids(tokenizer, text, segmenter):
    if id(tokenizer) not in _TABLES:
        # [UNK] is selectable, not special
        _TABLES[id(tokenizer)] = (MaskingVocab.from_tokenizer(tokenizer).special_ids, TokenPieces(tokenizer))
    special, pieces = _TABLES[id(tokenizer)]
    ids = tokenizer(text)["input_ids"]
    return word_ids_from_segmenter(ids, [i not in special for i in ids], pieces, segmenter)


def partition_segmenter(cuts):
    """A segmenter cutting any text into pieces of the lengths in ``cuts`` (cycled)."""

    def segment(text):
        words, pos, k = [], 0, 0
        while pos < len(text):
            words.append(text[pos : pos + cuts[k % len(cuts)]])
            pos += cuts[k % len(cuts)]
            k += 1
        return words

    return segment


# ---- the segmenter's words on characters ---------------------------------------------------


def test_jieba_segments_offline_and_spells_the_text(jieba_words):
    words = jieba_words("我们今天去北京大学看樱花。")
    assert words == ["我们", "今天", "去", "北京大学", "看", "樱花", "。"]
    assert segment_characters("我们今天去北京大学看樱花。", jieba_words) == [
        0,
        0,
        1,
        1,
        2,
        3,
        3,
        3,
        3,
        4,
        5,
        5,
        6,
    ]


def test_segment_characters_skips_left_out_whitespace_and_refuses_other_changes():
    assert segment_characters("ab  cd", str.split) == [0, 0, -1, -1, 1, 1]
    with pytest.raises(ValueError, match="do not spell the text"):
        segment_characters("Ab", lambda t: [t.lower()])
    with pytest.raises(ValueError, match="before the end of the text"):
        segment_characters("abcd", lambda t: [t[:2]])
    with pytest.raises(TypeError, match="not one str"):
        segment_characters("abcd", lambda t: t)
    with pytest.raises(TypeError, match="str words"):
        segment_characters("ab", lambda t: [1, 2])


def test_mixed_scripts_map_onto_tokens(zh_tokenizer, jieba_words):
    # jieba: 我用 | iPhone12 | 拍 | 了 | 3.14 | 张 | 照片 | , | GPT | - | 4 | 很强 ; the tokenizer
    # splits punctuation and letters into ## pieces: a word never breaks inside one.
    text = "我用iPhone12拍了3.14张照片,GPT-4很强"
    tokens = zh_tokenizer.tokenize(text)
    words = row_word_ids(zh_tokenizer, text, jieba_words)
    assert words[0] == -1 and words[-1] == -1  # [CLS], [SEP]
    grouped: dict[int, str] = {}
    for token, word in zip(tokens, words[1:-1]):
        grouped[word] = grouped.get(word, "") + token.removeprefix("##")
    assert list(grouped.values()) == [
        "我用",
        "iPhone12",
        "拍",
        "了",
        "3.14",
        "张",
        "照片",
        ",",
        "GPT",
        "-",
        "4",
        "很强",
    ]


def test_latin_words_split_by_a_space_stay_apart_and_unk_is_its_own_word(zh_tokenizer, jieba_words):
    text = "我说hello world和€好"  # € is not in the vocabulary: [UNK]
    tokens = zh_tokenizer.tokenize(text)
    assert "[UNK]" in tokens
    words = row_word_ids(zh_tokenizer, text, jieba_words)[1:-1]
    grouped: dict[int, str] = {}
    for token, word in zip(tokens, words):
        grouped[word] = grouped.get(word, "") + token.removeprefix("##")
    assert "hello" in grouped.values() and "world" in grouped.values()
    # Each [UNK]'s character is unknown: it is a word of its own, never joined to a neighbour.
    assert list(grouped.values()).count("[UNK]") == tokens.count("[UNK]") == 2


def test_a_token_spanning_two_segmenter_words_joins_them(zh_tokenizer):
    # The segmenter cuts inside "ab12" (one WordPiece word: a ##b ##1 ##2): the pieces stay one word.
    words = row_word_ids(zh_tokenizer, "我ab12好", lambda t: ["我a", "b1", "2好"])
    assert words[1:-1] == [0, 0, 0, 0, 0, 0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=HANZI, min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 5), min_size=1, max_size=6),
)
def test_hanzi_words_are_exactly_the_segmenter_partition(zh_tokenizer, text, cuts):
    """Dense reference: on Chinese characters (one token each) word ids = the partition."""
    segmenter = partition_segmenter(cuts)
    expected = []
    for k, word in enumerate(segmenter(text)):
        expected += [k] * len(word)
    assert row_word_ids(zh_tokenizer, text, segmenter) == [-1, *expected, -1]
    enc = zh_tokenizer(text, return_offsets_mapping=True)
    assert word_ids_for_text(text, enc["offset_mapping"], segmenter) == [None, *expected, None]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=HANZI[:8] + "ab1" + ".,-", min_size=1, max_size=30),
    cuts=st.lists(st.integers(1, 4), min_size=1, max_size=5),
)
def test_mixed_text_words_never_split_a_piece_and_follow_the_segmenter(zh_tokenizer, text, cuts):
    segmenter = partition_segmenter(cuts)
    enc = zh_tokenizer(text, return_offsets_mapping=True)
    tokens = zh_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    words = row_word_ids(zh_tokenizer, text, segmenter)
    owner = segment_characters(text, segmenter)  # no spaces in text: rebuilt text == text
    body = words[1:-1]
    assert body[0] == 0 and all(b - a in (0, 1) for a, b in zip(body, body[1:]))
    for k in range(1, len(body)):
        token, (start, _), (_, before_end) = (
            tokens[k + 1],
            enc["offset_mapping"][k + 1],
            enc["offset_mapping"][k],
        )
        joined = token.startswith("##") or owner[start] == owner[before_end - 1]
        assert (body[k] == body[k - 1]) == joined, (text, tokens, body)


# ---- in the collator -----------------------------------------------------------------------


def words_of_row(word_ids):
    groups: dict[int, list[int]] = {}
    for position, word in enumerate(word_ids):
        if word >= 0:
            groups.setdefault(word, []).append(position)
    return list(groups.values())


@pytest.mark.parametrize("unit", ["word", "span"])
def test_collator_selects_every_character_of_a_word_together(zh_tokenizer, jieba_words, unit):
    config = MaskingConfig(unit=unit, mlm_probability=0.4)
    collator = MLMCollator(
        zh_tokenizer, DynamicMasking(config, seed=3), word_boundaries="chinese", return_mask_info=True
    )
    features = encode(zh_tokenizer, SENTENCES, with_ids=False)
    whole_words_seen = 0
    for _ in range(20):  # fresh draws
        masked = collator(features)["masked"]
        for row, text in enumerate(SENTENCES):
            for word in words_of_row(row_word_ids(zh_tokenizer, text, jieba_words)):
                flags = {bool(masked[row, p]) for p in word}
                assert len(flags) == 1, (text, word, masked[row])
                whole_words_seen += len(word) > 1 and flags == {True}
    assert whole_words_seen > 0  # multi-character words were selected, whole


def test_token_masking_of_the_same_text_splits_words(zh_tokenizer, jieba_words):
    """The control: without word boundaries, some word is selected only in part."""
    collator = MLMCollator(zh_tokenizer, mlm_probability=0.4, seed=3, return_mask_info=True)
    features = encode(zh_tokenizer, SENTENCES, with_ids=False)
    split = 0
    for _ in range(20):
        masked = collator(features)["masked"]
        for row, text in enumerate(SENTENCES):
            for word in words_of_row(row_word_ids(zh_tokenizer, text, jieba_words)):
                split += len({bool(masked[row, p]) for p in word}) > 1
    assert split > 0


@pytest.mark.parametrize("unit", ["word", "span"])
@pytest.mark.parametrize("schedule", ["static", "dynamic"])
def test_keyed_chinese_masks_are_a_function_of_the_key(zh_tokenizer, jieba_words, schedule, unit):
    config = MaskingConfig(unit=unit, mlm_probability=0.3)
    masking = (
        StaticMasking(config, seed=5, dupe_factor=2) if schedule == "static" else DynamicMasking(config, 5)
    )

    def masks(order, epoch):
        collator = MLMCollator(
            zh_tokenizer, masking, word_boundaries="chinese", segmenter=jieba_words, return_mask_info=True
        )
        collator.set_epoch(epoch)
        features = encode(zh_tokenizer, SENTENCES)
        batch = collator([features[i] for i in order])
        rows = {}
        for out_row, i in enumerate(order):
            length = len(features[i]["input_ids"])
            rows[i] = batch["masked"][out_row, :length].tolist()
        return rows

    first = masks([0, 1, 2, 3], epoch=1)
    assert masks([3, 1, 0, 2], epoch=1) == first  # any batch, any order, a new collator
    later = masks([0, 1, 2, 3], epoch=3)
    if schedule == "static":  # dupe_factor 2: epoch 3 shows epoch 1's masks again
        assert later == first
    else:
        assert later != first


def test_precomputed_word_ids_and_chinese_ref_give_the_segmenter_masks(zh_tokenizer, jieba_words):
    masking = DynamicMasking(MaskingConfig(unit="word", mlm_probability=0.3), seed=11)
    by_segmenter = MLMCollator(zh_tokenizer, masking, word_boundaries="chinese", return_mask_info=True)
    by_word_ids = MLMCollator(zh_tokenizer, masking, return_mask_info=True)
    plain = encode(zh_tokenizer, SENTENCES)
    with_word_ids, with_ref = [], []
    for feature, text in zip(plain, SENTENCES):
        enc = zh_tokenizer(text, return_offsets_mapping=True)
        words = word_ids_for_text(text, enc["offset_mapping"], jieba_words, tokenizer_word_ids=enc.word_ids())
        with_word_ids.append({**feature, "word_ids": words})
        # transformers' old chinese_ref: positions of characters that continue a word
        ref = [p for p in range(1, len(words)) if words[p] is not None and words[p] == words[p - 1]]
        with_ref.append({**feature, "chinese_ref": ref})
    for collator in (by_segmenter, by_word_ids):
        collator.set_epoch(2)
    expected = by_segmenter(plain)["masked"]
    assert torch.equal(by_word_ids(with_word_ids)["masked"], expected)
    from_ref = by_word_ids(with_ref)
    assert torch.equal(from_ref["masked"], expected)
    assert "chinese_ref" not in from_ref and "word_ids" not in by_word_ids(with_word_ids)


def test_chinese_ref_follows_left_padding_and_refuses_bad_positions(zh_tokenizer):
    masking = DynamicMasking(MaskingConfig(unit="word", mlm_probability=0.5), seed=2)
    features = encode(zh_tokenizer, SENTENCES[:2])
    features[0]["chinese_ref"] = list(range(2, len(features[0]["input_ids"]) - 1))  # one word
    features[1]["chinese_ref"] = list(range(2, len(features[1]["input_ids"]) - 1))
    zh_tokenizer.padding_side = "left"
    try:
        collator = MLMCollator(zh_tokenizer, masking, return_mask_info=True)
        collator.set_epoch(0)
        for epoch in range(6):
            collator.set_epoch(epoch)
            batch = collator(features)
            for row in range(2):
                real = batch["attention_mask"][row].bool()
                body = batch["masked"][row][real][1:-1]  # without [CLS] and [SEP]
                assert body.all() or not body.any()
    finally:
        zh_tokenizer.padding_side = "right"
    # Past the end (refs made before truncation) is skipped, as transformers' collator did.
    before = collator(features)["masked"]
    features[0]["chinese_ref"] = [*features[0]["chinese_ref"], 99, 300]
    assert torch.equal(collator(features)["masked"], before)
    features[0]["chinese_ref"] = [-1]
    with pytest.raises(ValueError, match="chinese_ref.*from 0"):
        collator(features)


def test_auto_warns_once_that_chinese_characters_become_words(zh_tokenizer):
    collator = MLMCollator(zh_tokenizer, whole_word_mask=True, return_mask_info=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collator(encode(zh_tokenizer, SENTENCES))
        collator(encode(zh_tokenizer, SENTENCES))
    chinese = [w for w in caught if "Chinese" in str(w.message)]
    assert len(chinese) == 1 and "word_boundaries='chinese'" in str(chinese[0].message)
    assert chinese[0].filename == __file__  # it points at the caller's line, not the package


def test_only_the_first_batches_are_checked_for_chinese(zh_tokenizer, tokenizer, monkeypatch):
    from dynmask_viz.masking import _boundaries

    monkeypatch.setattr(_boundaries, "BATCHES_CHECKED_FOR_CHINESE", 2)
    collator = MLMCollator(zh_tokenizer, whole_word_mask=True)
    english = [{"input_ids": zh_tokenizer("abc 123")["input_ids"]}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collator(english)
        collator(english)
        collator(encode(zh_tokenizer, SENTENCES))  # the third batch: no longer looked at
    assert not [w for w in caught if "Chinese" in str(w.message)]


def test_english_text_does_not_warn(tokenizer):
    collator = MLMCollator(tokenizer, whole_word_mask=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collator([{"input_ids": tokenizer("A central debate concerned anarchism.")["input_ids"]}])


def test_segmenter_arguments_are_checked(zh_tokenizer):
    with pytest.raises(ValueError, match="unit='token'"):
        MLMCollator(zh_tokenizer, word_boundaries="chinese")
    with pytest.raises(ValueError, match="not by word_boundaries='offsets'"):
        MLMCollator(zh_tokenizer, whole_word_mask=True, word_boundaries="offsets", segmenter=str.split)
    with pytest.raises(ValueError, match="needs segmenter=callable"):
        MLMCollator(zh_tokenizer, whole_word_mask=True, word_boundaries="segmenter")
    with pytest.raises(TypeError, match="segmenter must be a callable"):
        MLMCollator(zh_tokenizer, whole_word_mask=True, segmenter="jieba")
    collator = MLMCollator(zh_tokenizer, whole_word_mask=True, segmenter=list)  # one word per character
    assert collator.segmenter is list and isinstance(
        MLMCollator(zh_tokenizer, whole_word_mask=True, word_boundaries="chinese").segmenter, JiebaSegmenter
    )


def test_a_segmenter_callable_replaces_jieba(zh_tokenizer):
    text = SENTENCES[0]
    everything = MLMCollator(
        zh_tokenizer,
        DynamicMasking(MaskingConfig(unit="word", mlm_probability=0.3), seed=0),
        segmenter=lambda t: [t],  # the whole text is one word
        return_mask_info=True,
    )
    for _ in range(10):
        body = everything(encode(zh_tokenizer, [text], with_ids=False))["masked"][0, 1:-1]
        assert body.all() or not body.any()


def test_non_wordpiece_vocabularies_are_refused():
    class ByteLevel:  # a vocabulary whose pieces start words with "Ġ": tokens are not characters
        unk_token = None

        def __len__(self):
            return 3

        def convert_ids_to_tokens(self, ids):
            return ["<s>", "\u0120a", "b"][: len(ids)]

    with pytest.raises(ValueError, match="WordPiece tokenizer"):
        TokenPieces(ByteLevel(), word_start=torch.tensor([True, True, False]))


def test_the_collator_and_its_jieba_segmenter_pickle(zh_tokenizer):
    collator = MLMCollator(
        zh_tokenizer, whole_word_mask=True, word_boundaries="chinese", return_mask_info=True
    )
    collator.set_epoch(1)
    features = encode(zh_tokenizer, SENTENCES)
    expected = collator(features)["masked"]
    copy = pickle.loads(pickle.dumps(collator))
    assert isinstance(copy.segmenter, JiebaSegmenter)
    assert torch.equal(copy(features)["masked"], expected)


def test_encode_texts_takes_words_from_a_segmenter(zh_tokenizer, jieba_words):
    from dynmask_viz.analysis import encode_texts

    encoded = encode_texts(SENTENCES[:2], zh_tokenizer, segmenter=jieba_words)
    for row, text in enumerate(SENTENCES[:2]):
        expected = row_word_ids(zh_tokenizer, text, jieba_words)
        assert encoded.word_ids[row, : len(expected)].tolist() == expected
        assert (encoded.word_ids[row, len(expected) :] == -1).all()  # padding
    by_tokenizer = encode_texts(SENTENCES[0], zh_tokenizer)  # one word per character
    assert by_tokenizer.word_ids[0, 1:-1].tolist() == list(range(len(SENTENCES[0])))


class CharacterSegmenter:
    """One word per character, counting its calls (picklable: a module-level class)."""

    def __init__(self):
        self.calls = []

    def __call__(self, text):
        self.calls.append(text)
        return list(text)


def test_rows_seen_before_are_not_segmented_again(zh_tokenizer, monkeypatch):
    from dynmask_viz.masking import _boundaries

    counting = CharacterSegmenter()
    calls = counting.calls
    collator = MLMCollator(zh_tokenizer, whole_word_mask=True, segmenter=counting, return_mask_info=True)
    features = encode(zh_tokenizer, SENTENCES, with_ids=False)
    collator(features)
    assert len(calls) == len(SENTENCES)
    collator(features[::-1])  # the same rows in another batch: remembered by content
    collator(features[1:2])  # padded to another length: still the same row
    zh_tokenizer.padding_side = "left"
    try:
        collator(features)
    finally:
        zh_tokenizer.padding_side = "right"
    assert len(calls) == len(SENTENCES)
    collator(encode(zh_tokenizer, ["我们今天很强"], with_ids=False))
    assert len(calls) == len(SENTENCES) + 1
    monkeypatch.setattr(_boundaries, "SEGMENTED_ROWS_CACHED", 2)  # bounded: the oldest rows go
    collator(encode(zh_tokenizer, ["他说好的"], with_ids=False))
    assert len(collator._boundaries._segmented) == 2
    copy = pickle.loads(pickle.dumps(collator))  # a copy starts empty, and segments the same
    assert len(copy._boundaries._segmented) == 0
    copy.set_epoch(0)
    collator.set_epoch(0)
    assert torch.equal(copy(features)["masked"], collator(features)["masked"])


def test_real_reviews_words_from_ids_equal_words_from_the_text(jieba_words):
    """On real reviews (bert-base-chinese's vocabulary), rebuilding the text from the ids gives
    jieba the same words as the original text, wherever the text has no whitespace or [UNK]."""
    from dynmask_viz.assets import load_chinese_reviews
    from dynmask_viz.hf import load_chinese_tokenizer

    tokenizer = load_chinese_tokenizer()
    reviews = [r.text for r in load_chinese_reviews()[:400]]
    compared = 0
    for text in reviews:
        enc = tokenizer(text, truncation=True, max_length=128, return_offsets_mapping=True)
        if any(c.isspace() for c in text) or tokenizer.unk_token_id in enc["input_ids"]:
            continue
        if enc["offset_mapping"][-2][1] != len(text):  # truncated: the texts differ
            continue
        from_text = word_ids_for_text(
            text, enc["offset_mapping"], jieba_words, tokenizer_word_ids=enc.word_ids()
        )
        assert row_word_ids(tokenizer, text, jieba_words) == [-1 if w is None else w for w in from_text]
        compared += 1
    assert compared >= 100


def test_the_hugging_face_trap_the_readme_describes(zh_tokenizer):
    """transformers' whole_word_mask=True reads a Chinese sentence without spaces as ONE word:
    all its characters are masked together or none, and always with [MASK] (no 80/10/10)."""
    from transformers import DataCollatorForLanguageModeling

    enc = zh_tokenizer(SENTENCES[0], return_offsets_mapping=True)
    feature = {"input_ids": enc["input_ids"], "offset_mapping": enc["offset_mapping"]}
    outcomes = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns that it drops the random replacements
        for seed in range(60):
            collator = DataCollatorForLanguageModeling(zh_tokenizer, whole_word_mask=True, seed=seed)
            batch = collator([feature])
            body = batch["labels"][0, 1:-1] != -100
            outcomes.add("all" if body.all() else "none" if not body.any() else "part")
            masked_ids = batch["input_ids"][0, 1:-1][body]
            assert (masked_ids == zh_tokenizer.mask_token_id).all()
    assert outcomes == {"all", "none"}


def test_word_ids_for_text_of_a_pair_segment_each_text(zh_tokenizer, jieba_words):
    a, b = SENTENCES[0], "北京大学的学生"
    enc = zh_tokenizer(a, b, return_offsets_mapping=True)
    words = word_ids_for_text(
        a, enc["offset_mapping"], jieba_words, text_pair=b, sequence_ids=enc.sequence_ids()
    )
    first = word_ids_for_text(a, zh_tokenizer(a, return_offsets_mapping=True)["offset_mapping"], jieba_words)
    assert words[: len(first)] == first  # [CLS] a [SEP]: as a alone
    second = [w for w, s in zip(words, enc.sequence_ids()) if s == 1]
    assert second == [7, 7, 7, 7, 8, 9, 9]  # 北京大学 | 的 | 学生, numbered on after a's 7 words
    with pytest.raises(ValueError, match="looks like a pair encoding"):
        word_ids_for_text(a, enc["offset_mapping"], jieba_words)  # b's offsets read inside a
    with pytest.raises(ValueError, match="go together"):
        word_ids_for_text(a, enc["offset_mapping"], jieba_words, text_pair=b)


def test_word_ids_for_text_keeps_a_tokenizer_word_whole(zh_tokenizer):
    """The segmenter cuts inside "iphone12" (one tokenizer word: i ##p ... ##2): it stays whole."""
    text = "用iphone12拍"
    enc = zh_tokenizer(text, return_offsets_mapping=True)
    cut = lambda t: ["用", "iphone", "12", "拍"]
    joined = word_ids_for_text(text, enc["offset_mapping"], cut, tokenizer_word_ids=enc.word_ids())
    assert joined == [None, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, None]
    apart = word_ids_for_text(text, enc["offset_mapping"], cut)  # without: the segmenter's cut
    assert apart == [None, 0, 1, 1, 1, 1, 1, 1, 2, 2, 3, None]


def test_bad_segmenters_and_tokenizers_are_refused_early(zh_tokenizer):
    with pytest.raises(TypeError, match="segmenter must return a list of words"):
        segment_characters("北京", lambda t: None)
    with pytest.raises(TypeError, match="not one str"):
        MaxMatchSegmenter("北京")

    class ByteLevelTokenizer:  # what MaskingVocab reads, with GPT-2-style "Ġ" word starts
        mask_token_id, pad_token_id, unk_token_id, unk_token = 0, 1, None, None
        all_special_ids = [0, 1]

        def __len__(self):
            return 4

        def convert_ids_to_tokens(self, ids):
            return ["<mask>", "<pad>", "\u0120a", "b"][: len(ids)]

    with pytest.raises(ValueError, match="WordPiece tokenizer"):  # at construction, not later
        MLMCollator(ByteLevelTokenizer(), whole_word_mask=True, word_boundaries="chinese")


def test_load_chinese_tokenizer_refuses_the_english_default():
    from dynmask_viz.hf import load_chinese_tokenizer

    with pytest.raises(ValueError, match="English offline default"):
        load_chinese_tokenizer("minilm")
