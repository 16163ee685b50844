"""Build, train and score the small causal LM (a GPT-2 from transformers' own classes).

Training: AdamW, linear warmup then cosine decay, blocks drawn at random offsets of the training
stream from one explicit ``torch.Generator``; ``labels=input_ids`` (the model shifts them by one
inside, see :func:`dynmask_viz.hf.generation.next_token_view`). Scoring: held-out loss,
perplexity and next-token top-1 accuracy, against a unigram baseline (the training tokens'
frequencies, which ignore the context: what a model that learnt nothing from it would score).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from .config import CausalLMConfig
from .data import CausalLMData, eval_blocks, random_blocks

__all__ = ["build_model", "evaluate", "lr_at", "train", "unigram_baseline"]


def build_model(config: CausalLMConfig, tokenizer, *, attn_implementation: str = "sdpa"):
    """A randomly initialised ``GPT2LMHeadModel`` of ``config``'s shape over ``tokenizer``.

    Weights are drawn from a generator seeded with ``config.seed`` (the global RNG is forked,
    so the caller's state is untouched). ``sdpa`` trains faster on CPU; the saved config says
    ``eager`` (what :func:`dynmask_viz.hf.load_causal_lm` uses, so attention can be read).
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = tokenizer.eos_token_id
    gpt2 = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=True,
        attn_implementation=attn_implementation,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = GPT2LMHeadModel(gpt2)
    model.loss_type = "ForCausalLM"  # what GPT-2 uses anyway; set, so transformers does not warn
    return model


def lr_at(step: int, config: CausalLMConfig) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warmup, then cosine to min_lr."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def _optimizer(model, config: CausalLMConfig) -> torch.optim.AdamW:
    # Decay only the matrices of the blocks: biases, LayerNorms and the (tied) embeddings not,
    # as in nanoGPT.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "wte" not in name and "wpe" not in name else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


def train(
    model,
    data: CausalLMData,
    config: CausalLMConfig,
    *,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
    log_every: int = 100,
) -> dict:
    """Train ``model`` in place for ``config.steps`` steps.

    Args:
        model: From :func:`build_model`.
        data: From :func:`dynmask_viz.causal_lm.load_causal_lm_data`.
        config: The run's settings (``seed`` seeds the block sampler's generator).
        device: Where to train.
        log: Called with one progress line every ``log_every`` steps (None: silent).

    Returns:
        ``{"train_loss_last": mean loss of the last 50 steps, "losses": every 10th step's loss,
        "train_wall_time_s": ...}``.
    """
    device = torch.device(device)
    model.to(device).train()
    optimizer = _optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    curve: list[list[float]] = []
    start = time.perf_counter()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        batch = random_blocks(data.train, config.block_size, config.batch_size, generator).to(device)
        # An all-ones mask changes nothing (no padding) but tells transformers the eos tokens
        # inside the blocks are text, not padding (it warns otherwise).
        loss = model(input_ids=batch, attention_mask=torch.ones_like(batch), labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if step % 10 == 0 or step == config.steps - 1:
            curve.append([step, round(losses[-1], 4)])
        if log is not None and (step % log_every == 0 or step == config.steps - 1):
            elapsed = time.perf_counter() - start
            log(
                f"step {step + 1}/{config.steps} loss {losses[-1]:.3f} "
                f"lr {lr_at(step, config):.2e} {elapsed:.0f}s"
            )
    model.eval()
    tail = losses[-50:]
    return {
        "train_loss_last": sum(tail) / len(tail),
        "losses": curve,
        "train_wall_time_s": time.perf_counter() - start,
    }


def unigram_baseline(train_stream: torch.Tensor, targets: torch.Tensor, vocab_size: int) -> dict:
    """Loss and top-1 accuracy of predicting every token from the training frequencies alone.

    Add-one smoothing, so a token never seen in training has a finite loss. Top-1: always the
    most frequent training token.
    """
    counts = torch.bincount(train_stream, minlength=vocab_size).double() + 1.0
    log_p = (counts / counts.sum()).log()
    loss = -log_p[targets].mean().item()
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "top1_accuracy": (targets == counts.argmax()).double().mean().item(),
    }


@torch.no_grad()
def evaluate(
    model, data: CausalLMData, config: CausalLMConfig, *, device="cpu", batch_size: int = 32
) -> dict:
    """Held-out next-token loss, perplexity and top-1 accuracy, and the unigram baseline's.

    Every held-out block (or the first ``config.eval_blocks``) is scored; each block's first
    token has no context inside the block and is only an input, so ``block_size - 1`` targets
    per block count.
    """
    model.to(device).eval()
    blocks = eval_blocks(data.validation, config.block_size, config.eval_blocks)
    total_loss, correct, count = 0.0, 0, 0
    for i in range(0, len(blocks), batch_size):
        batch = blocks[i : i + batch_size].to(device)
        logits = model(input_ids=batch, attention_mask=torch.ones_like(batch)).logits[:, :-1].float()
        targets = batch[:, 1:]
        total_loss += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ).item()
        correct += (logits.argmax(-1) == targets).sum().item()
        count += targets.numel()
    loss = total_loss / count
    unigram = unigram_baseline(data.train, blocks[:, 1:].reshape(-1), len(data.tokenizer))
    return {
        "heldout_blocks": len(blocks),
        "heldout_targets": count,
        "loss": loss,
        "perplexity": math.exp(loss),
        "top1_accuracy": correct / count,
        "unigram": unigram,
    }
