"""Word boundaries from a word segmenter, mapped onto tokens: Chinese whole-word masking.

A Chinese BERT tokenizer cuts text into single characters and marks no word: under BERT's
``##`` rule every character is a word of its own, and under Hugging Face's offset rule a whole
sentence without spaces is *one* word. Chinese-BERT-wwm (HFL) segments the text into words
first and masks every character of a word together; this module does the same offline, with
``jieba`` (:class:`~dynmask_viz.masking.segmenters.JiebaSegmenter`, the default) or any
callable ``text -> words``.

Two ways in:
    * From token strings only (what :class:`~dynmask_viz.masking.MLMCollator` has when the
      features carry only ``input_ids``): :func:`word_ids_from_segmenter` rebuilds the text of
      each run of tokens, segments it and maps every character back onto its token.
    * From the original text and its offsets (exact, computed once when preparing the data):
      :func:`word_ids_for_text`, whose result goes into a ``word_ids`` feature (the idea of
      transformers' old ``chinese_ref``, which the collator also accepts).

A token never splits: a WordPiece ``##`` piece always continues its word, and a token that
spans two segmenter words joins them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "Segmenter",
    "TokenPieces",
    "is_cjk_char",
    "segment_characters",
    "word_ids_for_text",
    "word_ids_from_segmenter",
]

Segmenter = Callable[[str], Iterable[str]]

# The CJK Unified Ideograph blocks, as BERT's tokenizer defines them (_is_chinese_char): the
# characters it splits off one by one.
_CJK_BLOCKS = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk_char(char: str) -> bool:
    """True for a CJK ideograph (BERT's definition of a Chinese character).

    Args:
        char: One character.
    """
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_BLOCKS)


def segment_characters(text: str, segmenter: Segmenter) -> list[int]:
    """Word index of every character of ``text`` (``-1`` on whitespace between words).

    The segmenter's words must spell ``text`` in order; it may leave out whitespace (many
    segmenters drop spaces) but must not change a character (no lower-casing or width
    normalisation: the words are mapped back by position).

    Args:
        text: The text to segment.
        segmenter: A callable ``text -> words`` (an iterable of str).

    Returns:
        ``[len(text)]`` word index of each character, numbered 0.. in order.

    Raises:
        TypeError: The segmenter returned something other than strings.
        ValueError: Its words do not spell ``text``; the message shows where they part.
    """
    words = segmenter(text)
    if not isinstance(words, str) and not hasattr(words, "__iter__"):
        raise TypeError(
            f"segmenter must return a list of words (str); got {type(words).__name__} for "
            f"{text[:20]!r}. Return the words in order, e.g. jieba.lcut(text)."
        )
    if isinstance(words, str):
        raise TypeError(
            f"segmenter must return a list of words (str), not one str; got {words[:20]!r} "
            f"for {text[:20]!r}. Wrap it: lambda text: my_segmenter(text).split()."
        )
    owner = [-1] * len(text)
    pos, index = 0, 0
    for word in words:
        if not isinstance(word, str):
            raise TypeError(f"segmenter must return str words; got {type(word).__name__} {word!r}.")
        if not word or word.isspace() and not text.startswith(word, pos):
            continue  # an empty word, or whitespace the text does not have at this point
        while pos < len(text) and text[pos].isspace() and not text.startswith(word, pos):
            pos += 1  # whitespace the segmenter left out
        if not text.startswith(word, pos):
            raise ValueError(
                f"segmenter's words do not spell the text: at character {pos} the text reads "
                f"{text[pos : pos + 12]!r} but the next word is {word!r}. A segmenter must return "
                "the text's own characters in order (no normalisation, nothing added or dropped "
                "but whitespace)."
            )
        if not word.isspace():
            owner[pos : pos + len(word)] = [index] * len(word)
            index += 1
        pos += len(word)
    if text[pos:].strip():
        raise ValueError(
            f"segmenter's words stop at character {pos}, before the end of the text "
            f"({text[pos : pos + 12]!r} is left over): they must cover the whole text."
        )
    return owner


class TokenPieces:
    """The text of every token of a WordPiece vocabulary, read once from a tokenizer.

    ``pieces[i]`` is token ``i``'s text without its ``##`` marker and ``continues[i]`` says
    whether it carried one (it continues the word before it). Only WordPiece vocabularies
    (BERT-family, as every Chinese BERT uses) or vocabularies without any marker are accepted:
    byte-level BPE cuts a Chinese character into bytes, so tokens are not characters.

    Args:
        tokenizer: A Hugging Face tokenizer (``convert_ids_to_tokens``, ``len``).
        word_start: The masking vocabulary's ``word_start`` table (None when it marks no
            word start), to check that its marker is WordPiece's ``##``.
        has_word_end: True when the vocabulary marks word ends (``</w>``): refused.

    Raises:
        ValueError: For a vocabulary whose word marker is not ``##``.
    """

    def __init__(self, tokenizer, *, word_start=None, has_word_end: bool = False) -> None:
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        tokens = ["" if t is None else str(t) for t in tokens]
        starts_marked = word_start is not None and not any(t.startswith("##") for t in tokens)
        if has_word_end or starts_marked:
            raise ValueError(
                f"Word boundaries from a segmenter need a WordPiece tokenizer (BERT-style, whose "
                f"pieces are characters or ## pieces, like bert-base-chinese); "
                f"{type(tokenizer).__name__} marks words with another marker (byte-level BPE or "
                "SentencePiece), whose tokens are not characters. Compute word_ids from the text "
                "with word_ids_for_text(text, offsets, segmenter) and pass them as a 'word_ids' feature."
            )
        self.continues = [t.startswith("##") and len(t) > 2 for t in tokens]
        self.pieces = [t[2:] if c else t for t, c in zip(tokens, self.continues)]
        self.unk_token = getattr(tokenizer, "unk_token", None)

    def is_cjk(self, token_id: int) -> bool:
        """True when the token is one CJK character (a word of its own under ``##`` rules)."""
        piece = self.pieces[token_id]
        return len(piece) == 1 and is_cjk_char(piece) and not self.continues[token_id]


def _glue(previous: str, piece: str) -> str:
    """What goes between two tokens that the ``##`` rule does not join: a space or nothing.

    BERT's basic tokenizer splits at whitespace, punctuation and around every CJK character.
    Two neighbouring pieces that are both Latin letters or digits can only have been split at
    whitespace, so a space goes back; anything else (CJK, punctuation) is glued, which keeps
    ``3.14`` and ``GPT-4`` whole. Spaces between CJK characters cannot be recovered from ids.
    """
    a, b = previous[-1:], piece[:1]
    if a.isalnum() and b.isalnum() and not is_cjk_char(a) and not is_cjk_char(b):
        return " "
    return ""


def word_ids_from_segmenter(
    token_ids: Sequence[int], candidates: Sequence[bool], pieces: TokenPieces, segmenter: Segmenter
) -> list[int]:
    """Word index of every token of one row, from a segmenter over the row's rebuilt text.

    The row is cut into runs at non-candidates (special tokens, padding) and at ``[UNK]``,
    whose character is unknown (it is a word of its own). Each run's text is rebuilt from the
    token pieces (see :func:`_glue`), segmented, and each token takes the word of its first
    character; a token continues the previous token's word when it is a ``##`` piece or when
    both touch the same segmenter word (so a token spanning two words joins them).

    Args:
        token_ids: ``[L]`` the row's ids.
        candidates: ``[L]`` bool, True on tokens that may be selected.
        pieces: The vocabulary's :class:`TokenPieces`.
        segmenter: A callable ``text -> words`` (see :func:`segment_characters`).

    Returns:
        ``[L]`` word index per token, numbered 0.. in order, ``-1`` on non-candidates.
    """
    word_ids = [-1] * len(token_ids)
    run: list[int] = []
    next_word = 0

    def close_run() -> None:
        nonlocal next_word
        if not run:
            return
        text, spans = "", []
        for k, position in enumerate(run):
            piece = pieces.pieces[token_ids[position]]
            if k and not pieces.continues[token_ids[position]]:
                text += _glue(text, piece)
            spans.append((len(text), len(text) + len(piece)))
            text += piece
        owner = segment_characters(text, segmenter)
        for k, position in enumerate(run):
            start, end = spans[k]
            before_start, before_end = spans[k - 1] if k else (0, 0)
            if k and (
                pieces.continues[token_ids[position]]
                or start == end  # an empty piece has no character to place: it joins
                or before_start == before_end
                or owner[start] == owner[before_end - 1]
            ):
                word_ids[position] = word_ids[run[k - 1]]
            else:
                word_ids[position] = next_word
                next_word += 1
        run.clear()

    for position, (token_id, candidate) in enumerate(zip(token_ids, candidates)):
        is_unk = candidate and pieces.pieces[token_id] == pieces.unk_token
        if not candidate or is_unk:
            close_run()
            if is_unk:
                word_ids[position] = next_word
                next_word += 1
            continue
        run.append(position)
    close_run()
    return word_ids


def word_ids_for_text(
    text: str,
    offsets: Sequence[Sequence[int]],
    segmenter: Segmenter,
    *,
    tokenizer_word_ids: Sequence[int | None] | None = None,
    text_pair: str | None = None,
    sequence_ids: Sequence[int | None] | None = None,
) -> list[int | None]:
    """Word ids of a tokenized text from the segmenter's words over the *original* text.

    Exact where :func:`word_ids_from_segmenter` guesses (spaces between Chinese characters,
    normalised text): run it once when preparing the data and store the result as a
    ``word_ids`` feature, which :class:`MLMCollator` reads (``word_boundaries="word_ids"``
    or ``"auto"``), as transformers' old ``chinese_ref`` column was precomputed with LTP.

    Args:
        text: The text the tokenizer encoded (its first text, for a pair).
        offsets: ``[L, 2]`` the tokenizer's ``offset_mapping`` (``return_offsets_mapping=True``);
            ``(0, 0)`` marks special tokens.
        segmenter: A callable ``text -> words``.
        tokenizer_word_ids: Optional ``[L]`` ``encoding.word_ids()``: the pieces of one
            tokenizer word (``iphone`` ``##12``) then stay together even where the segmenter
            cuts between them (``iPhone`` / ``12``).
        text_pair: The second text of a pair encoding (``tokenizer(text, text_pair)``), whose
            offsets count from its own start; give ``sequence_ids`` with it.
        sequence_ids: ``[L]`` ``encoding.sequence_ids()``: which text each token comes from.

    Returns:
        ``[L]`` word index per token (``None`` on special tokens), as ``encoding.word_ids()``,
        numbered on across both texts of a pair; tokens inside one segmenter word share an
        index, and a token spanning two words joins them.

    Raises:
        ValueError: ``offsets`` (or ``tokenizer_word_ids``, ``sequence_ids``) do not fit the
            text, or they restart inside it (a pair encoding given without ``text_pair``).
    """
    for name, values in (("tokenizer_word_ids", tokenizer_word_ids), ("sequence_ids", sequence_ids)):
        if values is not None and len(values) != len(offsets):
            raise ValueError(
                f"{name} must have one entry per token ({len(offsets)} offsets); got "
                f"{len(values)}. Pass encoding.{name.removeprefix('tokenizer_')}() of the same encoding."
            )
    if (text_pair is None) != (sequence_ids is None):
        raise ValueError(
            "text_pair and sequence_ids go together: for tokenizer(text, text_pair) pass "
            "text_pair=text_pair, sequence_ids=encoding.sequence_ids()."
        )
    texts = {0: text} if text_pair is None else {0: text, 1: text_pair}
    owners = {index: segment_characters(t, segmenter) for index, t in texts.items()}
    previous_piece_word = None
    result: list[int | None] = []
    last_word, last_owner, last_end, next_word, last_sequence = None, None, 0, 0, 0
    for k, (start, end) in enumerate(offsets):
        start, end = int(start), int(end)
        piece_word = None if tokenizer_word_ids is None else tokenizer_word_ids[k]
        if start == end:  # special tokens and empty pieces belong to no word
            result.append(None)
            last_owner = previous_piece_word = None
            continue
        sequence = 0 if sequence_ids is None else sequence_ids[k]
        if sequence not in texts:
            raise ValueError(f"sequence_ids[{k}] is {sequence!r}; a token with offsets must be 0 or 1.")
        if sequence != last_sequence:  # a word never continues from one text into the other
            last_owner = previous_piece_word = None
            last_sequence = sequence
        current, owner = texts[sequence], owners[sequence]
        if not 0 <= start < end <= len(current):
            raise ValueError(
                f"offsets must be (start, end) character positions inside the text (length "
                f"{len(current)}); got ({start}, {end}). Pass the offset_mapping of this very text."
            )
        if sequence_ids is None and start < last_end:
            raise ValueError(
                f"offsets restart at token {k} ({start} after {last_end}): this looks like a pair "
                "encoding. Pass text_pair=... and sequence_ids=encoding.sequence_ids()."
            )
        same_segment = last_owner is not None and owner[start] == last_owner and owner[start] != -1
        same_piece_word = piece_word is not None and piece_word == previous_piece_word
        if same_segment or same_piece_word:
            result.append(last_word)
        else:
            result.append(next_word)
            last_word, next_word = next_word, next_word + 1
        last_owner, previous_piece_word, last_end = owner[end - 1], piece_word, end
    return result
