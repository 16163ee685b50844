"""Chapter 06's data and figure: words over Chinese tokens, and what masks did to them.

Tests ``dynmask_viz.analysis.chinese_words``, ``dynmask_viz.analysis.word_masks`` and
``dynmask_viz.plots.word_groups`` on the offline bert-base-chinese vocabulary (the ``zh_vocab``
asset). Counts are checked against a plain per-word loop (the dense reference), never against
numbers written here.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynmask_viz.analysis import encode_texts
from dynmask_viz.analysis.chinese_words import (
    chinese_features,
    chinese_ref_from_word_ids,
    offset_word_ids,
    word_groups,
    word_segment_ids,
    words_per_row,
)
from dynmask_viz.analysis.word_masks import corruption_shares, row_coverage, word_selection
from dynmask_viz.masking import (
    KEPT,
    MASKED,
    RANDOM,
    DynamicMasking,
    JiebaSegmenter,
    MaskingConfig,
    MaxMatchSegmenter,
    MLMCollator,
)

SENTENCE = "我们今天去北京大学看樱花。"
MIXED = "6月8日遗忘在3226房间的iPod和挂绳耳机"


@pytest.fixture(scope="module")
def zh_tokenizer():
    from dynmask_viz.hf import load_chinese_tokenizer

    return load_chinese_tokenizer()


@pytest.fixture(scope="module")
def jieba():
    return JiebaSegmenter()


def test_word_groups_spell_the_segmenter_words(zh_tokenizer, jieba):
    encoded = encode_texts([SENTENCE, MIXED], zh_tokenizer, segmenter=jieba)
    assert word_groups(encoded) == jieba(SENTENCE)
    # 3226 is two pieces (322 ##6) of one word; iPod is [UNK] in the cased vocabulary.
    groups = word_groups(encoded, 1)
    assert "3226" in groups and "[UNK]" in groups and "iPod" not in groups
    assert [g for g in groups if g not in ("[UNK]",)] == [w for w in jieba(MIXED) if w != "iPod"]


def test_offset_rule_makes_a_sentence_without_spaces_one_word(zh_tokenizer):
    ids = offset_word_ids([SENTENCE, "我们 今天", "北京"], zh_tokenizer)
    assert words_per_row(ids).tolist() == [1, 2, 1]
    assert ids[0, 0] == -1 and (ids[0, 1 : len(SENTENCE) + 1] == 0).all()
    assert (ids[2, 4:] == -1).all()  # padding belongs to no word


def test_chinese_features_and_chinese_ref_give_the_same_masks(zh_tokenizer, jieba):
    texts = [SENTENCE, MIXED, "中国人民银行的学生喜欢读书"]
    with_ids = chinese_features(texts, zh_tokenizer, jieba)
    with_ref = chinese_features(texts, zh_tokenizer, jieba, ref=True)
    assert [f["example_id"] for f in with_ids] == [0, 1, 2] and "word_ids" not in with_ref[0]
    assert with_ids[0]["word_ids"][0] is None
    for a, b in zip(with_ids, with_ref):
        assert chinese_ref_from_word_ids(a["word_ids"]) == b["chinese_ref"]
    masking = DynamicMasking(MaskingConfig(unit="word", mlm_probability=0.4), seed=3)
    first, second = (MLMCollator(zh_tokenizer, masking, return_mask_info=True) for _ in range(2))
    first.set_epoch(1)
    second.set_epoch(1)
    assert torch.equal(first(with_ids)["masked"], second(with_ref)["masked"])


def test_chinese_ref_marks_continuing_tokens_only():
    assert chinese_ref_from_word_ids([None, 0, 0, 1, 2, 2, 2, None]) == [2, 5, 6]
    assert chinese_ref_from_word_ids([-1, 0, 1, -1, -1]) == []


def test_word_segment_ids_give_each_word_a_block(zh_tokenizer, jieba):
    from dynmask_viz.attention_masks import document

    encoded = encode_texts([SENTENCE, MIXED], zh_tokenizer, segmenter=jieba)
    seg = word_segment_ids(encoded)
    assert seg.shape == (1, encoded.input_ids.shape[1])
    dense = document(seg).dense(1, 1, seg.shape[1])[0, 0]
    words = encoded.word_ids[0]
    for q in range(seg.shape[1]):
        for k in range(seg.shape[1]):
            same_word = bool(words[q] >= 0 and words[q] == words[k])
            assert bool(dense[q, k]) == (same_word or q == k)


def _reference_selection(masked, word_ids):
    """Dense reference: loop over (leading index, row, word)."""
    counts = dict(words=0, untouched=0, whole=0, split=0)
    for mask in masked.reshape(-1, *word_ids.shape):
        for row, words in zip(mask, word_ids):
            for w in torch.unique(words[words >= 0]).tolist():
                chosen = row[words == w]
                if chosen.numel() < 2:
                    continue
                counts["words"] += 1
                key = "untouched" if not chosen.any() else "whole" if chosen.all() else "split"
                counts[key] += 1
    return counts


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda lead: st.tuples(
            st.just(lead),
            st.lists(st.lists(st.integers(-1, 4), min_size=6, max_size=6), min_size=2, max_size=2),
            st.lists(st.booleans(), min_size=lead * 12, max_size=lead * 12),
        )
    )
)
def test_word_selection_matches_a_loop(data):
    lead, words, bits = data
    word_ids = torch.tensor(words)
    masked = torch.tensor(bits).reshape(lead, 2, 6)
    got = word_selection(masked, word_ids)
    assert vars(got) == _reference_selection(masked, word_ids)
    assert got.touched == got.whole + got.split and 0.0 <= got.split_share <= 1.0


def test_word_selection_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="word_ids must be"):
        word_selection(torch.zeros(2, 5, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.long))


def test_token_masking_splits_words_and_word_masking_never(zh_tokenizer, jieba):
    texts = [SENTENCE, "中国人民银行的学生喜欢读书", "北京大学的学生喜欢看樱花"] * 8
    features = chinese_features(texts, zh_tokenizer, jieba)
    words = encode_texts(texts, zh_tokenizer, segmenter=jieba).word_ids
    config = dict(mlm_probability=0.3)
    by_token = MLMCollator(
        zh_tokenizer, DynamicMasking(MaskingConfig(**config), seed=0), return_mask_info=True
    )
    by_word = MLMCollator(
        zh_tokenizer, DynamicMasking(MaskingConfig(unit="word", **config), seed=0), return_mask_info=True
    )
    assert word_selection(by_token(features)["masked"], words).split > 0
    whole = word_selection(by_word(features)["masked"], words)
    assert whole.split == 0 and whole.whole > 0


def test_row_coverage_shares():
    masked = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]]).bool()
    candidates = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]).bool()
    # The last row has no candidate: left out; the rest are all / none / some.
    assert row_coverage(masked, candidates) == pytest.approx({"all": 1 / 3, "none": 1 / 3, "some": 1 / 3})
    # 2 rows fully selected and 4 untouched of 6: "some" is exactly 0 (1 - 1/3 - 2/3 is 1e-16).
    six = torch.tensor([[1, 1]] * 2 + [[0, 0]] * 4).bool()
    assert row_coverage(six, torch.ones_like(six))["some"] == 0.0
    with pytest.raises(ValueError, match="no row"):
        row_coverage(masked, torch.zeros_like(candidates))
    with pytest.raises(ValueError, match="both be"):
        row_coverage(masked, candidates[:2])


def test_corruption_shares():
    codes = torch.tensor([[0, MASKED, MASKED, MASKED], [RANDOM, KEPT, 0, MASKED]])
    assert corruption_shares(codes) == {"[MASK]": 4 / 6, "random": 1 / 6, "kept": 1 / 6}
    with pytest.raises(ValueError, match="no token was selected"):
        corruption_shares(torch.zeros(2, 3, dtype=torch.int8))


def test_max_match_is_greedy_and_spells_the_text():
    segment = MaxMatchSegmenter(["南京", "南京市", "南京市长", "长江", "大桥", "长江大桥"])
    assert segment("南京市长江大桥") == ["南京市长", "江", "大桥"]
    assert "".join(segment("我在南京 看长江。")) == "我在南京 看长江。"
    assert segment("") == []
    with pytest.raises(ValueError, match="at least one"):
        MaxMatchSegmenter([])
    with pytest.raises(ValueError, match="without"):
        MaxMatchSegmenter(["南京", "长 江"])


def test_max_match_drives_the_collator(zh_tokenizer):
    segment = MaxMatchSegmenter(["南京市长", "大桥"])
    collator = MLMCollator(
        zh_tokenizer,
        DynamicMasking(MaskingConfig(unit="word", mlm_probability=0.5), seed=1),
        segmenter=segment,
        return_mask_info=True,
    )
    ids = zh_tokenizer("南京市长江大桥")["input_ids"]
    masked = collator([{"input_ids": ids, "example_id": i} for i in range(40)])["masked"][:, 1:-1]
    for row in masked:
        assert row[:4].all() or not row[:4].any()  # 南京市长 together
        assert row[5:].all() or not row[5:].any()  # 大桥 together


def test_plot_word_groups_draws_one_row_per_rule(zh_tokenizer, jieba):
    import matplotlib

    from dynmask_viz.plots import apply_style
    from dynmask_viz.plots._style import renderable
    from dynmask_viz.plots.word_groups import plot_word_groups

    encoded = encode_texts(SENTENCE, zh_tokenizer, segmenter=jieba)
    rules = {"jieba": encoded.word_ids[0], "offsets": offset_word_ids([SENTENCE], zh_tokenizer)[0]}
    with matplotlib.rc_context():
        apply_style()  # the notebooks' fonts (CJK glyphs as text where a CJK font is installed)
        fig = plot_word_groups(encoded.tokens[0], rules, title=SENTENCE)
        shown = [renderable(t) for t in encoded.tokens[0]]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["jieba", "offsets"]
    assert [t.get_text() for t in ax.texts[: len(shown)]] == shown
    # Thick lines: one per word start (and per token of no word) plus the closing line, per row.
    starts = {"jieba": len(jieba(SENTENCE)) + 2, "offsets": 1 + 2}
    assert len(ax.lines) == sum(n + 1 for n in starts.values())
    with pytest.raises(ValueError, match="entries for"):
        plot_word_groups(encoded.tokens[0], {"short": [0, 1]})
    with pytest.raises(ValueError, match="at least one rule"):
        plot_word_groups(encoded.tokens[0], {})
