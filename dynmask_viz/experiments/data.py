"""Pretraining text and the downstream probe's data.

Pretraining text is packed RoBERTa-style ("FULL-SENTENCES"): the documents of a split are
tokenized, concatenated with a ``[SEP]`` between documents, and cut into fixed-length
sequences ``[CLS] t_1 ... t_{L-2} [SEP]``. No padding, so every token is a real token and
the mask of sequence ``i`` is keyed on its index ``i`` (its example id).

Tokenizer choice (``ExperimentConfig.tokenizer``), ``"trained"`` by default: a WordPiece
vocabulary of ``vocab_size`` (8,192) learnt with ``tokenizers`` on the *training* split only.
The bert-base-uncased vocabulary (30,522) is built for 3.3 billion words; on ~0.5 million
tokens of Wikipedia most of its rows are never or rarely seen, and with a 128-wide model the
embedding (3.9 M parameters) would be ten times the encoder, while the output softmax over
30k ids would dominate the compute of every step on a CPU. An 8k vocabulary fitted to the
text keeps the model's capacity in the encoder, where masking matters. Learning it from the
training split only keeps validation text out of every decision. ``"default"`` remains
available (the ``large`` preset uses it).

Token ids are cached as a ``.pt`` file under ``assets.cache_dir()/experiments/``, keyed by a
hash of the fields that change them and of the source text's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import assets
from ..assets import corpus
from ..hf import load_tokenizer
from ..masking import MaskingVocab
from .config import ExperimentConfig
from .errors import DataError

# pack_v2: the stored tokenizer adds [CLS] ... [SEP] when called (the packed ids are unchanged).
_CACHE_VERSION = "pack_v2"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class PretrainingData:
    """Packed token ids of both splits, the tokenizer and provenance.

    Attributes:
        train: ``[N, L]`` int64 training sequences (row index = example id).
        validation: ``[M, L]`` int64 validation sequences.
        tokenizer: A Hugging Face fast tokenizer.
        vocab: The masking engine's view of the tokenizer.
        meta: Cache key, source sha256, document titles per split, sizes.
    """

    train: torch.Tensor
    validation: torch.Tensor
    tokenizer: object
    vocab: MaskingVocab
    meta: dict = field(default_factory=dict)


def load_documents(source: str = "wiki") -> tuple[list[corpus.WikiArticle], str]:
    """The documents of a source and a sha256 identifying their content.

    Args:
        source: ``"wiki"`` or a folder of ``.txt`` files (each one a document; sorted by name).

    Raises:
        FileNotFoundError: The folder does not exist or holds no ``.txt`` file.
    """
    if source == "wiki":
        return corpus.load_wiki_articles(), assets.sha256_file(assets.enwiki_dump_path())
    folder = Path(source).expanduser()
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"source {source!r} is neither 'wiki' nor a folder with .txt files.")
    h = hashlib.sha256()
    docs = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        h.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        docs.append(corpus.WikiArticle(path.stem, text))
    return docs, h.hexdigest()


def train_wordpiece(texts: list[str], vocab_size: int):
    """Learn an uncased BERT-style WordPiece tokenizer on ``texts``.

    Not reproducible across processes: the ``tokenizers`` trainer breaks ties in hash-map order
    (huggingface/tokenizers#1794), so two processes learn vocabularies that differ in a few
    pieces and in many ids. Within a machine the first one learnt is cached (see
    :func:`load_pretraining_data`); a committed model's rows are rebuilt with its own
    ``tokenizer.json`` (``tokenizer_json=``), never by learning again.

    Calling the tokenizer adds ``[CLS] ... [SEP]`` (``[CLS] a [SEP] b [SEP]`` for pairs), as
    bert-base-uncased's does: the probe, the fill-mask models and the explorers then see text
    framed as in pretraining. :func:`encode` asks for none, since :func:`pack` adds its own.

    Returns:
        A ``PreTrainedTokenizerFast`` with ``[PAD]=0, [UNK], [CLS]=2, [SEP]=3, [MASK]=4``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return _wrap(tok.to_str())


def _wrap(tokenizer_json: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer_json),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens and without any length limit.

    A ``tokenizer.json`` may carry its own truncation and padding (the offline MiniLM's cuts and
    pads at 128): they are switched off on a copy, or every document would become its first 128
    tokens plus padding, and packing would keep both.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())  # a copy: the caller's stays as it is
    backend.no_truncation()
    backend.no_padding()
    return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]


def pack(docs: list[list[int]], seq_len: int, cls_id: int, sep_id: int) -> torch.Tensor:
    """Pack documents into ``[N, seq_len]`` sequences ``[CLS] ... [SEP]`` (last partial one dropped).

    Documents are joined with ``[SEP]`` so a sequence may span a document boundary, as in
    RoBERTa's FULL-SENTENCES input format.
    """
    stream: list[int] = []
    for i, ids in enumerate(docs):
        if i:
            stream.append(sep_id)
        stream.extend(ids)
    body = seq_len - 2
    n = len(stream) // body
    if n == 0:
        return torch.empty(0, seq_len, dtype=torch.int64)
    chunks = torch.tensor(stream[: n * body], dtype=torch.int64).view(n, body)
    return torch.cat([torch.full((n, 1), cls_id), chunks, torch.full((n, 1), sep_id)], dim=1)


def cache_key(config: ExperimentConfig, source_sha: str, tokenizer_json: str | None = None) -> str:
    """Hash of what determines the packed ids (not the model, masking or run seed)."""
    fields = {
        "version": _CACHE_VERSION,
        "source_sha": source_sha,
        "tokenizer": config.tokenizer,
        "vocab_size": config.vocab_size if config.tokenizer == "trained" else None,
        "seq_len": config.seq_len,
        "validation_fraction": config.validation_fraction,
        "split_seed": config.split_seed,
    }
    if tokenizer_json is not None:  # a given vocabulary, not one learnt here
        fields["tokenizer_json_sha256"] = hashlib.sha256(tokenizer_json.encode()).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _build(config: ExperimentConfig, docs, source_sha: str, given_json: str | None = None) -> dict:
    train_docs, val_docs = corpus.split_articles(
        docs, validation_fraction=config.validation_fraction, seed=config.split_seed
    )
    if given_json is not None:
        tokenizer, tokenizer_json = _wrap(given_json), given_json
    elif config.tokenizer == "trained":
        tokenizer = train_wordpiece([d.text for d in train_docs], config.vocab_size)
        tokenizer_json = tokenizer.backend_tokenizer.to_str()
    else:
        tokenizer, tokenizer_json = load_tokenizer(), None
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    return {
        "train": pack(encode(tokenizer, [d.text for d in train_docs]), config.seq_len, cls_id, sep_id).to(
            torch.int32
        ),
        "validation": pack(encode(tokenizer, [d.text for d in val_docs]), config.seq_len, cls_id, sep_id).to(
            torch.int32
        ),
        "tokenizer_json": tokenizer_json,
        "meta": {
            "source_sha256": source_sha,
            "train_titles": [d.title for d in train_docs],
            "validation_titles": [d.title for d in val_docs],
        },
    }


def _remove_dead_temps(folder: Path) -> None:
    """Delete the cache's temporary files whose writer is gone (killed mid-write).

    A writer's temp file is ``pretraining_<key>.<pid>.tmp``: it is removed only if no
    process of that pid runs (POSIX; elsewhere nothing is removed), so a concurrent run's
    file in progress is left alone.
    """
    if os.name != "posix" or not folder.is_dir():
        return
    for tmp in folder.glob("pretraining_*.tmp"):
        pid = tmp.suffixes[-2][1:] if len(tmp.suffixes) >= 2 else ""
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # exists, but another user's


def load_pretraining_data(
    config: ExperimentConfig, *, use_cache: bool = True, tokenizer_json: str | None = None
) -> PretrainingData:
    """Packed training/validation sequences for ``config`` (built once, then read from cache).

    ``train_fraction`` keeps a fixed random subset of the training sequences (seeded by
    ``split_seed``, the same for every run); ``limit_sequences`` then caps both splits.

    Args:
        config: What to pack (source, tokenizer, vocabulary size, length, split).
        use_cache: Read and write the packed ids under the asset cache.
        tokenizer_json: A tokenizer (``tokenizer.json`` text) to pack with instead of
            ``config.tokenizer``: a trained model's own vocabulary, so that its training rows
            are rebuilt exactly (a vocabulary learnt again may differ, see
            :func:`train_wordpiece`).
    """
    docs, source_sha = load_documents(config.source)
    key = cache_key(config, source_sha, tokenizer_json)
    path = assets.cache_dir() / "experiments" / f"pretraining_{key}.pt"
    payload = None
    if use_cache and path.is_file():
        try:
            payload = torch.load(path, weights_only=True)
        except (OSError, RuntimeError, ValueError):
            payload = None  # unreadable cache: rebuild
    if payload is None:
        payload = _build(config, docs, source_sha, tokenizer_json)
        if use_cache:
            _remove_dead_temps(path.parent)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(payload, tmp)
                os.replace(tmp, path)  # never half a file, even with concurrent runs
            except BaseException as exc:
                tmp.unlink(missing_ok=True)
                if not isinstance(exc, OSError):  # an unwritable cache is no error: ids are rebuilt
                    raise
    tokenizer = _wrap(payload["tokenizer_json"]) if payload["tokenizer_json"] else load_tokenizer()
    train, val = payload["train"].long(), payload["validation"].long()
    if config.train_fraction < 1.0:
        g = torch.Generator().manual_seed(config.split_seed)
        keep = torch.randperm(len(train), generator=g)[: max(1, round(config.train_fraction * len(train)))]
        train = train[keep.sort().values]
    if config.limit_sequences is not None:
        train, val = train[: config.limit_sequences], val[: config.limit_sequences]
    if len(train) < config.optim.batch_size:
        raise DataError(
            f"Only {len(train)} training sequences for batch_size {config.optim.batch_size}; "
            "lower optim.batch_size or seq_len, or use more text."
        )
    meta = dict(
        payload["meta"],
        cache_key=key,
        cache_path=str(path),
        train_sequences=len(train),
        validation_sequences=len(val),
        vocab_size=len(tokenizer),
    )
    return PretrainingData(train, val, tokenizer, MaskingVocab.from_tokenizer(tokenizer), meta)


@dataclass
class ProbeSplits:
    """Fixed stratified train/dev/test split of the Rotten Tomatoes snippets (SST-2 analogue).

    Each attribute is ``(texts, labels)``; labels are 1 = fresh, 0 = rotten.
    """

    train: tuple[list[str], list[int]]
    dev: tuple[list[str], list[int]]
    test: tuple[list[str], list[int]]


def probe_splits(
    seed: int = 0, *, dev_fraction: float = 0.1, test_fraction: float = 0.1, snippets: list | None = None
) -> ProbeSplits:
    """Split the distinct snippets per label (stratified) with a private ``random.Random(seed)``.

    Args:
        seed: Split seed; keep it fixed so that every run is scored on the same test set.
        dev_fraction, test_fraction: Shares of each label's snippets for dev and test.
        snippets: ``LabeledSnippet`` list; default :func:`corpus.load_rotten_tomatoes`.
    """
    snippets = corpus.load_rotten_tomatoes() if snippets is None else snippets
    # The corpus repeats some snippets verbatim (56 copies): keep one of each text, or a test
    # snippet could also sit in the training split. Texts labelled both ways are dropped.
    labels_of: dict[str, set[int]] = {}
    for s in snippets:
        labels_of.setdefault(s.text, set()).add(s.label)
    first: dict[str, int] = {}
    for i, s in enumerate(snippets):
        if len(labels_of[s.text]) == 1:
            first.setdefault(s.text, i)
    snippets = [snippets[i] for i in sorted(first.values())]
    rng = random.Random(seed)
    parts: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    for label in sorted({s.label for s in snippets}):
        idx = [i for i, s in enumerate(snippets) if s.label == label]
        rng.shuffle(idx)
        n_dev, n_test = round(len(idx) * dev_fraction), round(len(idx) * test_fraction)
        parts["dev"] += idx[:n_dev]
        parts["test"] += idx[n_dev : n_dev + n_test]
        parts["train"] += idx[n_dev + n_test :]
    for name in parts:  # interleave labels in a fixed, seeded order
        rng.shuffle(parts[name])

    def take(idx):
        return [snippets[i].text for i in idx], [snippets[i].label for i in idx]

    return ProbeSplits(take(parts["train"]), take(parts["dev"]), take(parts["test"]))
