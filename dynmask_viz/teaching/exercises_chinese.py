"""Checks for the exercises of chapter 06 (Chinese whole-word masking), with Chinese feedback.

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult` (here :class:`ZhCheckResult`, which shows
its heading in Chinese), truthy when the answer is right, and never raises on a wrong,
missing (``None`` / ``...``) or malformed answer. Expected values are computed from what the
chapter uses (jieba, the tokenizer, Hugging Face's offset rule), never written in the call.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

from ..masking import JiebaSegmenter, segment_characters, word_ids_from_offsets
from .checks import CheckResult, as_number, is_close, is_missing

__all__ = [
    "ZhCheckResult",
    "check_hf_mask_share",
    "check_hf_offset_word_count",
    "check_jieba_word_ids",
    "check_whole_word_tokens",
]


class ZhCheckResult(CheckResult):  # no new field: CheckResult's dataclass methods, repr = str
    """A :class:`CheckResult` whose heading and hint label are Chinese (正确 / 还不对 / 提示)."""

    CORRECT: ClassVar[str] = "\u2705 正确！"
    NOT_YET: ClassVar[str] = "\u274c 还不对。"
    HINT: ClassVar[str] = "提示："
    SPACE: ClassVar[str] = ""


def _passed(message: str) -> ZhCheckResult:
    return ZhCheckResult(True, message)


def _not_yet(message: str, hint: str = "") -> ZhCheckResult:
    return ZhCheckResult(False, message, hint)


def _no_answer(what: str) -> ZhCheckResult:
    return ZhCheckResult(False, f"还没有答案：请把占位符 None 换成{what}。")


@functools.cache
def _jieba() -> JiebaSegmenter:
    """One segmenter for every check (building jieba's dictionary takes about a second)."""
    return JiebaSegmenter()


def _whole_number(answer) -> int | None:
    value = as_number(answer)
    if value is None or not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def check_jieba_word_ids(answer, text: str, segmenter=None) -> CheckResult:
    """Word index of every character of ``text`` under jieba, numbered from 0.

    Args:
        answer: A list with one whole number per character (``[0, 0, 1, ...]``).
        text: A short text of Chinese characters (no whitespace).
        segmenter: The segmenter that gives the answer key; default ``JiebaSegmenter()``.
    """
    if is_missing(answer):
        return _no_answer("一个整数列表（每个字一个词编号，从 0 开始）")
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (list, tuple)):
        return _not_yet(
            f"需要一个整数列表，收到的是 {type(answer).__name__}。", "例如 [0, 0, 1, ...]，每个字一个编号。"
        )
    got = [_whole_number(x) for x in answer]
    if any(x is None for x in got):
        return _not_yet("列表里的每一项都要是整数。", "词编号是 0, 1, 2, ... 这样的整数。")
    expected = segment_characters(text, segmenter or _jieba())
    if len(got) != len(text):
        return _not_yet(
            f"“{text}”有 {len(text)} 个字，你的列表有 {len(got)} 项。",
            "每个字（每个 token）给一个词编号，不含 [CLS] 和 [SEP]。",
        )
    words = len(set(expected))
    if got == expected:
        return _passed(f"jieba 把“{text}”切成 {words} 个词，同一个词的字共用一个编号。")
    if got == [x + 1 for x in expected]:
        return _not_yet("差一：编号要从 0 开始。", "第一个词的编号是 0。")
    if got == list(range(len(text))):
        return _not_yet(
            "这是“每个字一个词”：分词器的 word_ids() 和 ## 规则就是这样看中文的。",
            "jieba 会把几个字合成一个词，同一个词里的字编号相同。",
        )
    if len(set(got)) == 1:
        return _not_yet(
            "这是“整句一个词”：Hugging Face 的 offset 规则就是这样看没有空格的中文的。",
            "用 jieba 的切分：一句话通常有好几个词。",
        )
    if sorted(set(got)) != list(range(len(set(got)))) or any(b < a for a, b in zip(got, got[1:])):
        return _not_yet("编号要从 0 开始、按顺序、不跳号，例如 [0, 0, 1, 2, 2]。")
    first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    return _not_yet(
        f"从第 {first + 1} 个字“{text[first]}”起，你的切分和 jieba 的不一样。",
        f"你的切分有 {len(set(got))} 个词；用 JiebaSegmenter()(文本) 看看 jieba 怎么切。",
    )


def check_whole_word_tokens(answer, word: str, tokenizer) -> CheckResult:
    """How many tokens whole-word masking selects when it selects ``word`` (all of them).

    Args:
        answer: A whole number.
        word: A word as jieba gives it (e.g. 北京大学).
        tokenizer: The chapter's tokenizer (bert-base-chinese's): the answer key is its
            number of tokens for ``word``.
    """
    if is_missing(answer):
        return _no_answer("一个整数")
    value = _whole_number(answer)
    if value is None:
        return _not_yet(f"需要一个整数，收到的是 {answer!r}。")
    expected = len(tokenizer.tokenize(word))
    if value == expected:
        return _passed(f"“{word}”是 {expected} 个 token，整词掩码时它们一起被选中，一个不落。")
    if value == 1:
        return _not_yet(
            "1 个是 token 级掩码的单位。", "整词掩码一次选中整个词：这个词被分词器切成几个 token？"
        )
    if value == 0:
        return _not_yet("题目说的是这个词已经被选中了。", "被选中的词，它的每个 token 都被选中。")
    return _not_yet(f"{value} 不对。", "数一数分词器把这个词切成几个 token（中文 BERT 一字一个 token）。")


def check_hf_offset_word_count(answer, text: str, tokenizer) -> CheckResult:
    """How many words Hugging Face's offset rule sees in ``text`` (its whole-word collator's).

    Args:
        answer: A whole number.
        text: The text.
        tokenizer: A fast tokenizer (character offsets), the chapter's.
    """
    if is_missing(answer):
        return _no_answer("一个整数")
    value = _whole_number(answer)
    if value is None:
        return _not_yet(f"需要一个整数，收到的是 {answer!r}。")
    if not getattr(tokenizer, "is_fast", False):
        return _not_yet("第三个参数要是 fast 分词器（能给出 offset_mapping），例如本章的 tokenizer。")
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
    candidates = enc["special_tokens_mask"] == 0
    words = word_ids_from_offsets(enc["offset_mapping"], candidates)[0]
    expected = int(words.max()) + 1 if bool((words >= 0).any()) else 0
    if value == expected:
        return _passed(
            f"{expected} 个：offset 规则只在 token 之间有空隙（空格）时开始新词，"
            "没有空格的中文句子连同标点都连成一片。"
        )
    if value == int(candidates.sum()):
        return _not_yet(
            "这是 token（字）的个数，也就是 encoding.word_ids() 给出的“词”数。",
            "offset 规则：下一个 token 如果紧接着上一个 token 开始（中间没有空格），就属于同一个词。",
        )
    jieba_words = _jieba()(text)
    if value in (len(jieba_words), len([w for w in jieba_words if any(c.isalnum() for c in w)])):
        return _not_yet("这是 jieba 的词数。", "Hugging Face 的整词掩码不分词：它只看字符的位置（offset）。")
    return _not_yet(
        f"{value} 不对。", "看 tokenizer(text, return_offsets_mapping=True) 的 offset：哪里有空隙？"
    )


def check_hf_mask_share(answer, collator) -> CheckResult:
    """Share of selected tokens that a whole-word ``DataCollatorForLanguageModeling`` turns into [MASK].

    Args:
        answer: A share between 0 and 1 (a percentage is recognised and explained).
        collator: The Hugging Face collator built with ``whole_word_mask=True``: the answer key
            is its ``mask_replace_prob`` (transformers sets it to 1 and warns).
    """
    if is_missing(answer):
        return _no_answer("一个 0 到 1 之间的数")
    value = as_number(answer)
    if value is None:
        return _not_yet(f"需要一个数，收到的是 {answer!r}。")
    expected = getattr(collator, "mask_replace_prob", None)
    if not isinstance(expected, (int, float)):
        return _not_yet("第二个参数要是第 4 节的 DataCollatorForLanguageModeling 对象。")
    if is_close(value, expected, 1e-3):
        return _passed(
            f"{expected:.0%}：whole_word_mask=True 时 transformers 把 mask_replace_prob 设为 "
            f"{expected:g}，随机替换和保留原字都没有了。"
        )
    if 1.0 < value <= 100.0 and is_close(value / 100.0, expected, 1e-3):
        return _not_yet("这像是百分数。", "请给 0 到 1 之间的比例（例如 0.5，而不是 50）。")
    if is_close(value, 0.8, 1e-3):
        return _not_yet(
            "0.8 是 BERT 的 80/10/10 配方。", "transformers 在整词掩码时改了这个配方：看看构造它时的警告。"
        )
    if is_close(value, 0.15, 1e-3):
        return _not_yet("0.15 是被选中的比例，不是被选中后换成 [MASK] 的比例。")
    return _not_yet(f"{value:g} 不对。", "看第 4 节打印的 [MASK] / 随机 / 保留的计数。")
