"""Tiny random transformers models for the hf and formulas tests: small, eager, seeded.

Weight init draws from the global RNG, so each builder forks it: the test suite's own RNG state
is never touched, and the same arguments give the same weights.
"""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel


def tiny_bert(
    *, vocab_size: int = 100, impl: str = "eager", layers: int = 2, seed: int = 0, **config
) -> BertModel:
    """A random BERT with 4 heads of 8 dims; ``config`` adds BertConfig fields (is_decoder...)."""
    bert_config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        attn_implementation=impl,
        **config,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return BertModel(bert_config).eval()


def tiny_bert_for(tokenizer, *, seed: int = 0) -> BertModel:
    """A 2-layer random BERT (eager, 64 positions) over ``tokenizer``'s vocabulary."""
    return tiny_bert(vocab_size=len(tokenizer), max_position_embeddings=64, seed=seed)


def tiny_gpt2(tokenizer, *, n_positions: int = 64, seed: int = 0) -> GPT2LMHeadModel:
    """A 2-layer random GPT-2 (eager) over ``tokenizer``'s vocabulary."""
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=n_positions,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        attn_implementation="eager",
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config).eval()


def tiny_bert_with_head(tokenizer, cls, *, seed: int = 0):
    """A 1-layer random BERT with a head (``BertForMaskedLM``, ``BertForPreTraining``...) over
    ``tokenizer``'s vocabulary, for short training runs."""
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(config)
