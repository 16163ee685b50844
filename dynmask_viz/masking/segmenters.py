"""Word segmenters, callables ``text -> words``: jieba (the default for Chinese) and maximum matching."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

__all__ = ["JiebaSegmenter", "MaxMatchSegmenter"]


class JiebaSegmenter:
    """The default Chinese segmenter: ``jieba`` 0.42 (its own dictionary, offline), a callable.

    Each instance owns a ``jieba.Tokenizer`` (not jieba's global one, so user dictionaries
    added elsewhere do not change our words), built on first use (about 1 s; jieba caches its
    prefix dictionary in the temporary folder). Picklable, for spawned DataLoader workers: the
    jieba tokenizer holds a lock, so it is rebuilt in the worker instead of copied.

    Args:
        hmm: jieba's ``HMM`` switch: also join unknown words found by its hidden Markov model
            (jieba's default, True).
    """

    def __init__(self, *, hmm: bool = True) -> None:
        if not isinstance(hmm, bool):
            raise TypeError(f"hmm must be True or False (jieba's HMM switch); got {hmm!r}.")
        self.hmm = hmm
        self._jieba = None
        self._lock = threading.Lock()

    def _tokenizer(self):
        with self._lock:
            if self._jieba is None:
                try:
                    import jieba
                except ImportError as exc:  # a dependency of the package: a broken install
                    raise ImportError(
                        "Chinese word boundaries need jieba (pip install jieba==0.42.1)."
                    ) from exc
                jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." on stderr
                self._jieba = jieba.Tokenizer()
            return self._jieba

    def __call__(self, text: str) -> list[str]:
        """The words of ``text`` in order; together they spell ``text`` exactly."""
        return self._tokenizer().lcut(text, HMM=self.hmm)

    def __getstate__(self) -> dict:
        return {"hmm": self.hmm}

    def __setstate__(self, state: dict) -> None:
        self.__init__(hmm=state["hmm"])

    def __repr__(self) -> str:
        return f"JiebaSegmenter(hmm={self.hmm})"


class MaxMatchSegmenter:
    """Forward maximum matching over a word list: the simplest dictionary segmenter.

    At each position take the longest dictionary word that starts there, else one character.
    A callable ``text -> words`` (spelling the text exactly), usable wherever a segmenter is
    (``MLMCollator(segmenter=...)``, ``encode_texts(segmenter=...)``). Greedy and without
    statistics, it famously reads 南京市长江大桥 as 南京市长 / 江 / 大桥 when 南京市长 is in
    the dictionary: that is what jieba's word frequencies and HMM are for.

    Args:
        words: The dictionary (an iterable of non-empty strings without whitespace).

    Raises:
        ValueError: An empty dictionary, or a word that is empty or contains whitespace.
    """

    def __init__(self, words: Iterable[str]) -> None:
        if isinstance(words, str):
            raise TypeError(
                f"MaxMatchSegmenter(words) takes a list of dictionary words, not one str "
                f"({words[:20]!r} would be read as single characters): pass [{words[:20]!r}]."
            )
        self.words = frozenset(words)
        if not self.words:
            raise ValueError("MaxMatchSegmenter(words) needs at least one dictionary word.")
        bad = [w for w in self.words if not isinstance(w, str) or not w or any(c.isspace() for c in w)]
        if bad:
            raise ValueError(
                f"MaxMatchSegmenter(words): every word must be a non-empty string without "
                f"whitespace; got {sorted(map(repr, bad))[:5]}."
            )
        self.longest = max(map(len, self.words))

    def __call__(self, text: str) -> list[str]:
        """The words of ``text`` in order; together they spell ``text`` exactly."""
        out, pos = [], 0
        while pos < len(text):
            for length in range(min(self.longest, len(text) - pos), 0, -1):
                if length == 1 or text[pos : pos + length] in self.words:
                    out.append(text[pos : pos + length])
                    pos += length
                    break
        return out

    def __repr__(self) -> str:
        return f"MaxMatchSegmenter({len(self.words)} words)"
