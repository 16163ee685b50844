"""What one causal-LM training run is: the config and its named sizes (nanoGPT style)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["PRESETS", "CausalLMConfig"]


@dataclass(frozen=True)
class CausalLMConfig:
    """One run's settings: tokenizer, data, model and optimiser.

    Attributes:
        vocab_size: Byte-level BPE vocabulary learnt on the training articles (special token
            ``<|endoftext|>`` included).
        block_size: Tokens per training block (and the model's ``n_positions``).
        n_layer, n_head, n_embd: GPT-2 shape (``n_embd`` divisible by ``n_head``); the output
            layer is tied to the token embedding.
        dropout: Residual, embedding and attention dropout while training.
        batch_size, steps: Blocks per step and optimiser steps.
        lr, min_lr, warmup_steps, weight_decay: AdamW, linear warmup then cosine decay to
            ``min_lr``; no weight decay on biases, LayerNorms and embeddings.
        grad_clip: Gradient-norm clip (None: no clipping).
        eval_blocks: Held-out blocks scored at the end (None: every held-out block).
        train_articles: Use only the first N training articles (None: all); the fast preset
            uses a few, to keep CI short.
        validation_fraction, split_seed: The article split of the pretraining experiment
            (:func:`dynmask_viz.assets.corpus.split_articles`, 10% held out, seed 0), so the
            held-out articles are never seen by the tokenizer nor the model.
        seed: Model initialisation and block order.
        device: ``"cpu"``, ``"cuda"``, ``"auto"``.
    """

    vocab_size: int = 4096
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    batch_size: int = 32
    steps: int = 1100
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0
    eval_blocks: int | None = None
    train_articles: int | None = None
    validation_fraction: float = 0.1
    split_seed: int = 0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        def whole(name: str, low: int, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"CausalLMConfig.{name} must be an int >= {low}{' or None' if allow_none else ''}; "
                    f"got {value!r}."
                )

        for name in ("block_size", "n_layer", "n_head", "n_embd", "batch_size", "steps"):
            whole(name, 1)
        whole("vocab_size", 260)  # the 256 bytes, the special token and a few merges
        whole("warmup_steps", 0)
        whole("split_seed", 0)
        whole("seed", 0)
        whole("eval_blocks", 1, allow_none=True)
        whole("train_articles", 1, allow_none=True)
        if self.n_embd % self.n_head:
            raise ValueError(
                f"CausalLMConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); "
                "change one of them."
            )
        if not 0.0 < self.min_lr <= self.lr < 1.0:
            raise ValueError(
                f"CausalLMConfig needs 0 < min_lr <= lr < 1; got lr={self.lr!r}, min_lr={self.min_lr!r}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CausalLMConfig.dropout must be in [0, 1); got {self.dropout!r}.")
        if not 0.0 <= self.weight_decay < 1.0:
            raise ValueError(f"CausalLMConfig.weight_decay must be in [0, 1); got {self.weight_decay!r}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"CausalLMConfig.grad_clip must be > 0 or None; got {self.grad_clip!r}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"CausalLMConfig.validation_fraction must be in (0, 1); got {self.validation_fraction!r}."
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> CausalLMConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, CausalLMConfig] = {
    # CI: a few articles, a 2-layer model and 30 steps, to show the whole path works (the numbers
    # mean nothing).
    "fast": CausalLMConfig(
        vocab_size=384,
        block_size=32,
        n_layer=2,
        n_head=2,
        n_embd=32,
        batch_size=8,
        steps=30,
        warmup_steps=5,
        eval_blocks=16,
        train_articles=3,
    ),
    # The committed model (data/models/causal_lm_tiny): 1.3 M parameters, 1,100 steps of 32 x 128
    # tokens (~6.8 passes over the 0.7 M training tokens), ~20-25 min on one CPU thread.
    "tiny": CausalLMConfig(),
}
