"""A small BERT-style masked language model, built from a config (never from Hub weights)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..masking import IGNORE_INDEX
from .config import ExperimentConfig


def bert_config(config: ExperimentConfig, vocab_size: int, *, pad_token_id: int = 0):
    """The ``transformers.BertConfig`` of an experiment (positions = ``seq_len``)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=config.model.hidden,
        num_hidden_layers=config.model.n_layers,
        num_attention_heads=config.model.heads,
        intermediate_size=config.model.intermediate,
        hidden_dropout_prob=config.model.dropout,
        attention_probs_dropout_prob=config.model.dropout,
        max_position_embeddings=max(config.seq_len, config.probe.max_len),
        type_vocab_size=1,
        pad_token_id=pad_token_id,
        attn_implementation=config.attn_implementation,
    )


def build_mlm(config: ExperimentConfig, vocab_size: int, *, seed: int, pad_token_id: int = 0):
    """A freshly initialised ``BertForMaskedLM``; the init depends on ``seed`` only.

    The global RNG is forked, so building a model leaves it untouched.
    """
    from transformers import BertForMaskedLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertForMaskedLM(bert_config(config, vocab_size, pad_token_id=pad_token_id))


class SparseMLM(nn.Module):
    """``BertForMaskedLM`` that applies the vocabulary head only to the masked positions.

    Hugging Face's ``BertForMaskedLM.forward`` projects *every* position onto the vocabulary
    and then ignores 85% of them; the projection (``hidden x vocab`` per token) is the most
    expensive layer of a small model. Gathering the ~15% labelled positions first gives the
    same loss for a fraction of the compute. Wrapping it as a module lets DDP see one forward.

    Args:
        mlm: A ``BertForMaskedLM``.
        encoder: Optionally a compiled ``mlm.bert`` to call instead of it.
    """

    def __init__(self, mlm, encoder=None):
        super().__init__()
        self.mlm = mlm
        self._encoder = encoder

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Summed loss over the labelled positions.

        Args:
            input_ids: ``[B, L]`` corrupted ids (unpadded sequences).
            labels: ``[B, L]`` target ids, ``-100`` where there is nothing to predict.

        Returns:
            ``(loss_sum, n_correct, n_predicted)``: scalar float loss (sum over predictions),
            and two scalar int64 counts.
        """
        encoder = self._encoder if self._encoder is not None else self.mlm.bert
        hidden = encoder(input_ids=input_ids).last_hidden_state  # [B, L, H]
        selected = labels != IGNORE_INDEX  # [B, L]
        targets = labels[selected]  # [P]
        logits = self.mlm.cls(hidden[selected]).float()  # [P, V]: fp32 softmax under bf16
        loss_sum = nn.functional.cross_entropy(logits, targets, reduction="sum")
        correct = (logits.argmax(-1) == targets).sum()
        return loss_sum, correct, selected.sum()


def count_parameters(model: nn.Module) -> dict:
    """Total and non-embedding parameter counts (shared weights counted once)."""
    seen, total, emb = set(), 0, 0
    for name, p in model.named_parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        total += p.numel()
        if "embeddings" in name:
            emb += p.numel()
    return {"parameters": total, "non_embedding_parameters": total - emb}


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write the weights as safetensors (tied embedding/decoder stored once), atomically."""
    from safetensors.torch import save_model

    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_model(model, str(tmp))
    tmp.replace(path)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load safetensors weights written by :func:`save_weights` (strict)."""
    from safetensors.torch import load_model

    load_model(model, str(path), strict=True, device=str(next(model.parameters()).device))
    return model


def load_pretrained_mlm(config: ExperimentConfig, tokenizer, weights: str | Path):
    """A trained run's ``BertForMaskedLM`` (eval mode, eager attention), e.g. for the explorers.

    Args:
        config: The run's config (architecture fields).
        tokenizer: The run's tokenizer (``PretrainingData.tokenizer``).
        weights: ``checkpoint/model.safetensors`` of a :func:`~dynmask_viz.experiments.train` run.
    """
    model = build_mlm(
        config.replace(attn_implementation="eager"),
        len(tokenizer),
        seed=0,
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    return load_weights(model, weights).eval()
