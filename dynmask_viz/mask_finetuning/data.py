"""The Rotten Tomatoes examples of the experiment, encoded once, and their length-grouped batches.

Batches group reviews of similar length (as transformers' ``group_by_length`` does): padding
every batch of 32 to its longest review wasted ~40 % of the tokens; grouping keeps the
randomness of the order (a seeded permutation, then sorting inside windows of 8 batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..experiments.data import probe_splits
from ..hf.layer_masks import TokenKeep
from .config import CONDITIONS, FinetuneConfig

__all__ = ["EncodedSplit", "FinetuneData", "load_finetune_data"]

GROUP_WINDOW = 8  # batches per window sorted by length


@dataclass
class EncodedSplit:
    """One split: ids per review (unpadded), labels, texts, and per token-rule condition
    (``drop_stopwords``...) each review's key-keep row (True = the key stays visible)."""

    ids: list[list[int]]
    labels: list[int]
    keep: dict[str, list[list[bool]]]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: list[int], pad_id: int, key_keep: str | None = None) -> dict:
        """``input_ids``/``attention_mask`` ``[b, Lmax]``, ``labels`` ``[b]`` and, given a token-rule
        condition's name, ``key_keep`` ``[b, Lmax]`` (True = visible; padding is hidden by the
        padding mask anyway)."""
        width = max(len(self.ids[r]) for r in rows)
        x = torch.full((len(rows), width), pad_id, dtype=torch.int64)
        keep = torch.ones(len(rows), width, dtype=torch.bool)
        for i, r in enumerate(rows):
            x[i, : len(self.ids[r])] = torch.tensor(self.ids[r])
            if key_keep is not None:
                keep[i, : len(self.ids[r])] = torch.tensor(self.keep[key_keep][r])
        out = {
            "input_ids": x,
            "attention_mask": (x != pad_id).long(),
            "labels": torch.tensor([self.labels[r] for r in rows]),
        }
        if key_keep is not None:
            out["key_keep"] = keep
        return out

    def train_order(self, batch_size: int, generator: torch.Generator) -> list[list[int]]:
        """One epoch's batches: a seeded permutation, sorted by length inside windows, shuffled."""
        order = torch.randperm(len(self), generator=generator).tolist()
        window = batch_size * GROUP_WINDOW
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda r: len(self.ids[r]))
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        perm = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in perm]

    def eval_order(self, batch_size: int) -> list[list[int]]:
        """All rows, by length (the order does not change an accuracy), in batches."""
        order = sorted(range(len(self)), key=lambda r: (len(self.ids[r]), r))
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class FinetuneData:
    train: EncodedSplit
    test: EncodedSplit
    pad_id: int


def _encode(tokenizer, texts: list[str], labels: list[int], max_len: int) -> EncodedSplit:
    ids = tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    rules = {name: c.build(0) for name, c in CONDITIONS.items()}
    rules = {name: rule for name, rule in rules.items() if isinstance(rule, TokenKeep)}
    keep = {name: [] for name in rules}
    for row in ids:
        tokens = tokenizer.convert_ids_to_tokens(row)
        for name, rule in rules.items():
            keep[name].append(rule.keep_row(tokens, tokenizer))
    return EncodedSplit(ids, list(labels), keep, list(texts))


def load_finetune_data(config: FinetuneConfig, tokenizer) -> FinetuneData:
    """The first ``train_examples`` / ``test_examples`` of the fixed probe split, encoded."""
    splits = probe_splits(config.split_seed)
    train_texts, train_labels = splits.train
    test_texts, test_labels = splits.test
    n, m = config.train_examples, config.test_examples
    return FinetuneData(
        train=_encode(tokenizer, train_texts[:n], train_labels[:n], config.max_len),
        test=_encode(tokenizer, test_texts[:m], test_labels[:m], config.max_len),
        pad_id=tokenizer.pad_token_id,
    )
