"""Chapter 06's exercise checks: reference answers pass, mistakes get a Chinese hint, nothing raises.

The answer keys come from what the chapter uses: jieba, the offline bert-base-chinese
vocabulary (the ``zh_vocab`` asset), Hugging Face's offset rule and its whole-word collator.
"""

import numpy as np
import pytest
import torch
from _exercise_helpers import JUNK_ANSWERS
from hypothesis import HealthCheck, given, settings

from dynmask_viz.teaching import CheckResult
from dynmask_viz.teaching.exercises_chinese import (
    ZhCheckResult,
    check_hf_mask_share,
    check_hf_offset_word_count,
    check_jieba_word_ids,
    check_whole_word_tokens,
)

AMBIGUOUS = "结婚的和尚未结婚的"  # jieba: 结婚 / 的 / 和 / 尚未 / 结婚 / 的
SENTENCE = "我们今天去北京大学看樱花。"


@pytest.fixture(scope="module")
def zh_tokenizer():
    from dynmask_viz.hf import load_chinese_tokenizer

    return load_chinese_tokenizer()


@pytest.fixture(scope="module")
def hf_collator(zh_tokenizer):
    from transformers import DataCollatorForLanguageModeling

    with pytest.warns(UserWarning, match="mask_replace_prob"):
        return DataCollatorForLanguageModeling(zh_tokenizer, whole_word_mask=True, seed=0)


@pytest.fixture(scope="module")
def reference(zh_tokenizer, hf_collator):
    """(check, reference answer, the other arguments), as the notebook calls them."""
    return [
        (check_jieba_word_ids, [0, 0, 1, 2, 3, 3, 4, 4, 5], (AMBIGUOUS,)),
        (check_whole_word_tokens, 4, ("北京大学", zh_tokenizer)),
        (check_hf_offset_word_count, 1, (SENTENCE, zh_tokenizer)),
        (check_hf_mask_share, 1.0, (hf_collator,)),
    ]


def test_reference_answers_pass_with_a_chinese_heading(reference):
    for check, answer, args in reference:
        result = check(answer, *args)
        assert isinstance(result, CheckResult) and isinstance(result, ZhCheckResult)
        assert result, f"{check.__name__}: {result}"
        assert str(result).startswith("\u2705 正确！") and "正确" in result._repr_html_()


def test_placeholders_say_there_is_no_answer_yet(reference):
    for check, _, args in reference:
        for placeholder in (None, ...):
            result = check(placeholder, *args)
            assert not result and "还没有答案" in result.message, check.__name__
            assert str(result).startswith("\u274c 还不对。")


def test_jieba_word_ids_hints():
    assert check_jieba_word_ids(np.array([0, 0, 1, 2, 3, 3, 4, 4, 5]), AMBIGUOUS)
    assert check_jieba_word_ids(torch.tensor([0, 0, 1, 2, 3, 3, 4, 4, 5]), AMBIGUOUS)
    assert check_jieba_word_ids((0.0, 0, 1, 2, 3, 3, 4, 4, 5), AMBIGUOUS)
    assert "从 0 开始" in check_jieba_word_ids([1, 1, 2, 3, 4, 4, 5, 5, 6], AMBIGUOUS).message
    assert "每个字一个词" in check_jieba_word_ids(list(range(9)), AMBIGUOUS).message
    assert "整句一个词" in check_jieba_word_ids([0] * 9, AMBIGUOUS).message
    assert "9 个字" in check_jieba_word_ids([0, 0, 1], AMBIGUOUS).message
    assert "整数" in check_jieba_word_ids([0, "a", 1], AMBIGUOUS).message
    assert "整数列表" in check_jieba_word_ids("0,0,1", AMBIGUOUS).message
    assert "按顺序" in check_jieba_word_ids([0, 0, 2, 3, 4, 4, 5, 5, 6], AMBIGUOUS).message
    # The famous misreading 结婚 / 的 / 和尚 / 未 / ...: where it parts from jieba, without the answer.
    wrong = check_jieba_word_ids([0, 0, 1, 2, 2, 3, 4, 4, 5], AMBIGUOUS)
    assert not wrong and "第 5 个字“尚”" in wrong.message
    assert "[0, 0, 1, 2, 3, 3" not in str(wrong)


def test_jieba_word_ids_follow_the_segmenter_given():
    halves = lambda text: [text[:2], text[2:]]
    assert check_jieba_word_ids([0, 0, 1, 1], "北京大学", segmenter=halves)
    assert not check_jieba_word_ids([0, 0, 0, 0], "北京大学", segmenter=halves)


def test_whole_word_tokens_hints(zh_tokenizer):
    assert check_whole_word_tokens("4", "北京大学", zh_tokenizer)
    assert check_whole_word_tokens(3, "樱花树", zh_tokenizer)  # the key is the tokenizer's count
    assert "token 级" in check_whole_word_tokens(1, "北京大学", zh_tokenizer).message
    assert "已经被选中" in check_whole_word_tokens(0, "北京大学", zh_tokenizer).message
    wrong = check_whole_word_tokens(5, "北京大学", zh_tokenizer)
    assert not wrong and "token" in wrong.hint
    assert "整数" in check_whole_word_tokens(2.5, "北京大学", zh_tokenizer).message


def test_hf_offset_word_count_hints(zh_tokenizer):
    assert "token（字）的个数" in check_hf_offset_word_count(13, SENTENCE, zh_tokenizer).message
    assert "jieba" in check_hf_offset_word_count(7, SENTENCE, zh_tokenizer).message  # 7 words with 。
    assert "jieba" in check_hf_offset_word_count(6, SENTENCE, zh_tokenizer).message  # without it
    assert not check_hf_offset_word_count(2, SENTENCE, zh_tokenizer)
    assert check_hf_offset_word_count(2, "我们 今天", zh_tokenizer)  # a space starts a new word


def test_hf_offset_word_count_needs_a_fast_tokenizer():
    result = check_hf_offset_word_count(1, SENTENCE, object())
    assert not result and "fast" in result.message


def test_hf_mask_share_hints(hf_collator):
    assert check_hf_mask_share("1", hf_collator)
    assert "百分数" in check_hf_mask_share(100, hf_collator).message
    assert "80/10/10" in check_hf_mask_share(0.8, hf_collator).message
    assert "被选中的比例" in check_hf_mask_share(0.15, hf_collator).message
    assert not check_hf_mask_share(0.5, hf_collator)
    assert "DataCollatorForLanguageModeling" in check_hf_mask_share(1.0, object()).message


def test_feedback_is_chinese_in_every_form():
    result = ZhCheckResult(False, "不对", "想一想")
    assert str(result) == "\u274c 还不对。不对\n提示：想一想"
    assert repr(result) == str(result)
    assert "提示：" in result._repr_html_() and "Hint" not in result._repr_html_()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=JUNK_ANSWERS)
def test_checks_never_raise(reference, answer):
    for check, _, args in reference:
        result = check(answer, *args)
        assert isinstance(result, CheckResult) and str(result)
