"""What one fine-tuning run is: the config, its named sizes, and the mask conditions compared.

Every condition fine-tunes the same encoder (all-MiniLM-L6-v2, offline) on the same Rotten
Tomatoes examples with the same hyperparameters and seeds; only the layer mask differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from ..hf.layer_masks import (
    DynamicMaskAttention,
    FullAttention,
    LayerMask,
    ProbabilityThreshold,
    RandomKeyDrop,
    TokenKeep,
    TopKKeys,
)

__all__ = ["CONDITIONS", "PRESETS", "Condition", "FinetuneConfig", "build_rule"]


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run's settings (the same for every condition and seed).

    Attributes:
        train_examples: The first N examples of the fixed training split (None: all 10,202).
        test_examples: The first N of the fixed test split (None: all 1,275).
        max_len: Tokens per review, ``[CLS]`` and ``[SEP]`` included (longer reviews are cut).
        epochs, batch_size, lr, warmup: AdamW (weight decay 0.01), linear warmup then decay.
        scorer_lr: The learning rate of a learned mask's new weights (DMA's scorers): they start
            random, so they get a larger rate than the trained encoder, as a new head would.
        trainable_layers: Top encoder layers that train (with the pooler and classifier); the
            embeddings and lower layers stay frozen. None: all layers train.
        split_seed: The Rotten Tomatoes split (the pretraining probe's).
        device: ``"cpu"``, ``"cuda"``, ``"auto"``...; bf16: autocast on CUDA.
    """

    train_examples: int | None = 2000
    test_examples: int | None = None
    max_len: int = 64
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    warmup: float = 0.1
    scorer_lr: float = 1e-2
    trainable_layers: int | None = 2
    eval_batch_size: int = 128
    split_seed: int = 0
    device: str = "cpu"
    bf16: bool = False

    def __post_init__(self) -> None:
        def positive(name, value, allow_none=False):
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"FinetuneConfig.{name} must be an int >= 1{' or None' if allow_none else ''}; "
                    f"got {value!r}."
                )

        for name in ("max_len", "epochs", "batch_size", "eval_batch_size"):
            positive(name, getattr(self, name))
        for name in ("train_examples", "test_examples", "trainable_layers"):
            positive(name, getattr(self, name), allow_none=True)
        for name in ("lr", "scorer_lr"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"FinetuneConfig.{name} must be in (0, 1); got {getattr(self, name)!r}.")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(
                f"FinetuneConfig.warmup must be a share of the steps in [0, 1); got {self.warmup!r}."
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> FinetuneConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, FinetuneConfig] = {
    # CI: a handful of steps on a slice, to show the whole path works (numbers mean nothing).
    "fast": FinetuneConfig(train_examples=64, test_examples=64, max_len=32, epochs=1, batch_size=16),
    # The committed results: fits 2 CPU cores (45 runs of 1.5-4 min on one thread each).
    "cpu": FinetuneConfig(),
    # One GPU: every training example, full encoder, longer reviews.
    "gpu": FinetuneConfig(
        train_examples=None, max_len=128, epochs=3, lr=3e-5, trainable_layers=None, device="cuda", bf16=True
    ),
}


@dataclass(frozen=True)
class Condition:
    """One row of the comparison: a name, how to build its rule, what it is."""

    name: str
    build: Callable[[int], LayerMask]
    description: str
    test_time_only: bool = True  # can a model trained with full attention be scored with it?


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("full", lambda seed: FullAttention(), "full attention (the baseline)"),
        Condition(
            "drop_stopwords",
            lambda seed: TokenKeep("drop_stopwords"),
            "stopwords and punctuation hidden as keys",
        ),
        Condition(
            "drop_punctuation",
            lambda seed: TokenKeep("drop_punctuation", stopwords=()),
            "punctuation hidden as keys",
        ),
        Condition("topk_4", lambda seed: TopKKeys(4), "each query keeps its 4 top-scoring keys"),
        Condition("topk_16", lambda seed: TopKKeys(16), "each query keeps its 16 top-scoring keys"),
        Condition(
            "threshold",
            lambda seed: ProbabilityThreshold(0.02),
            "keys with attention probability >= 0.02 (and each query's top key)",
        ),
        Condition(
            "random_drop",
            lambda seed: RandomKeyDrop(0.1, seed),
            "each (query, key) pair dropped with p = 0.1, fresh every step",
        ),
        Condition(
            "dma",
            lambda seed: DynamicMaskAttention(8),
            "learned: Dynamic Mask Attention, each head keeps its 8 top-rated keys",
            test_time_only=False,
        ),
        Condition(
            "dma_untrained",
            lambda seed: DynamicMaskAttention(8, train_scorer=False),
            "control: DMA with its scorers frozen at their random start",
            test_time_only=False,
        ),
    )
}


def build_rule(condition: str, seed: int) -> LayerMask:
    """The layer mask of a condition (a fresh object: a learned rule's parameters are its own)."""
    if condition not in CONDITIONS:
        raise ValueError(f"Unknown condition {condition!r}; choose one of {list(CONDITIONS)}.")
    return CONDITIONS[condition].build(seed)
