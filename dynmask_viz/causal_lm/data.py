"""The causal LM's text: the Wikipedia articles, a byte-level BPE learnt on the training split,
and the token stream cut into blocks.

The article split is the pretraining experiment's (``split_articles`` with its defaults:
10% of the articles held out, seed 0), so a held-out article is never seen by the tokenizer
nor the model. Articles are joined with ``<|endoftext|>`` between them, as GPT-2's training
text is, so the model learns where a document ends.

Why a byte-level BPE of 4,096 tokens rather than GPT-2's own 50,257: ~2.5 MB of text cannot
train 50k embedding rows, and with a 128-wide model that embedding would be ~6.4 M parameters,
ten times the transformer blocks; a vocabulary fitted to the text keeps the model's capacity in
its layers. Byte-level means no unknown token: any text can be encoded and decoded back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from ..assets import corpus, enwiki_dump_path, sha256_file
from .config import CausalLMConfig

__all__ = [
    "EOS",
    "CausalLMData",
    "encode_stream",
    "eval_blocks",
    "load_causal_lm_data",
    "random_blocks",
    "train_bpe",
    "wrap_tokenizer",
]

EOS = "<|endoftext|>"


@dataclass
class CausalLMData:
    """Token streams of both splits and their tokenizer.

    Attributes:
        train: ``[N]`` int64 token ids of the training articles, ``<|endoftext|>`` between them.
        validation: ``[M]`` int64 ids of the held-out articles, the same way.
        tokenizer: The ``PreTrainedTokenizerFast`` learnt on the training articles.
        meta: Source sha256, article titles per split, token counts, tokenizer sha256.
    """

    train: torch.Tensor
    validation: torch.Tensor
    tokenizer: object
    meta: dict = field(default_factory=dict)


def train_bpe(texts: list[str], vocab_size: int):
    """Learn a byte-level BPE tokenizer on ``texts`` (deterministic: same texts, same merges).

    Args:
        texts: The training documents.
        vocab_size: Tokens in all, ``<|endoftext|>`` (id 0) and the 256 byte tokens included.

    Returns:
        A ``PreTrainedTokenizerFast`` whose bos, eos and pad token are ``<|endoftext|>`` (GPT-2's
        convention: padded positions must then be hidden by the attention mask).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(tok.to_str())


def wrap_tokenizer(tokenizer_json: str):
    """A ``PreTrainedTokenizerFast`` over a ``tokenizers`` JSON string (special tokens set)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer_json),
        bos_token=EOS,
        eos_token=EOS,
        pad_token=EOS,
        model_max_length=1024,
    )


def encode_stream(tokenizer, texts: list[str]) -> torch.Tensor:
    """``[N]`` int64: the ids of each text, ``<|endoftext|>`` after each one (no length limit)."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    stream: list[int] = []
    for encoding in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False):
        stream.extend(encoding.ids)
        stream.append(eos)
    return torch.tensor(stream, dtype=torch.int64)


def load_causal_lm_data(config: CausalLMConfig, articles: list | None = None) -> CausalLMData:
    """Split the articles, learn the tokenizer on the training ones, encode both splits.

    Args:
        config: Uses ``vocab_size``, ``validation_fraction``, ``split_seed``, ``train_articles``.
        articles: ``WikiArticle`` list (default: the offline Wikipedia articles); tests pass a
            few short ones.

    Raises:
        ValueError: A split has fewer tokens than one block plus one.
    """
    source_sha = None
    if articles is None:
        articles = corpus.load_wiki_articles()
        source_sha = sha256_file(enwiki_dump_path())
    train_docs, val_docs = corpus.split_articles(
        articles, validation_fraction=config.validation_fraction, seed=config.split_seed
    )
    if config.train_articles is not None:
        train_docs = train_docs[: config.train_articles]
    tokenizer = train_bpe([d.text for d in train_docs], config.vocab_size)
    train = encode_stream(tokenizer, [d.text for d in train_docs])
    validation = encode_stream(tokenizer, [d.text for d in val_docs])
    for name, stream in (("training", train), ("held-out", validation)):
        if len(stream) <= config.block_size:
            raise ValueError(
                f"The {name} articles give {len(stream)} tokens, fewer than block_size + 1 "
                f"({config.block_size + 1}); lower block_size or use more text."
            )
    tokenizer_json = tokenizer.backend_tokenizer.to_str()
    meta = {
        "source": "enwiki (dynmask_viz.assets.corpus.load_wiki_articles)" if source_sha else "given articles",
        "source_sha256": source_sha,
        "split": {"validation_fraction": config.validation_fraction, "split_seed": config.split_seed},
        "train_titles": [d.title for d in train_docs],
        "validation_titles": [d.title for d in val_docs],
        "train_tokens": len(train),
        "validation_tokens": len(validation),
        "tokenizer_sha256": hashlib.sha256(tokenizer_json.encode()).hexdigest(),
    }
    return CausalLMData(train, validation, tokenizer, meta)


def random_blocks(stream: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator):
    """``[batch_size, block_size]`` blocks starting at random offsets of ``stream`` (nanoGPT's
    sampler: every offset is a training example, drawn from ``generator`` only)."""
    starts = torch.randint(0, len(stream) - block_size + 1, (batch_size,), generator=generator)
    return torch.stack([stream[s : s + block_size] for s in starts.tolist()])


def eval_blocks(stream: torch.Tensor, block_size: int, limit: int | None = None) -> torch.Tensor:
    """``[K, block_size]``: the stream cut into consecutive blocks (the last partial one dropped)."""
    n = len(stream) // block_size
    if limit is not None:
        n = min(n, limit)
    return stream[: n * block_size].view(n, block_size)
