"""A frozen-encoder linear probe: mean-pooled features and a logistic regression (seconds, not minutes).

The fine-tuning probe (:mod:`.probe`) trains the whole encoder once per seed; on a sweep of
20 pretrained models that costs more than the pretraining. A linear probe reads what the
encoder already knows instead: every Rotten Tomatoes snippet goes through the frozen encoder
once, its last-layer states are averaged over the real tokens (``[CLS]`` and ``[SEP]``
included, padding excluded) and a logistic regression is fitted on the training split. Its L2
strength is chosen on the dev split from a small fixed grid; the test split is scored once,
with that choice. An untrained encoder of the same shape is the baseline (random features are
not useless: a linear model on them still beats the majority class).

Everything is deterministic: features come from an encoder in eval mode (no dropout), the
regression is a convex problem solved in float64 by L-BFGS from zeros on the CPU (features
are computed on the run's device and moved over).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .._device import pick_device
from .config import ExperimentConfig
from .data import ProbeSplits, probe_splits
from .model import build_mlm, load_weights

__all__ = ["L2_GRID", "fit_logistic", "linear_probe", "pooled_features"]

# L2 strengths tried, weakest first; the penalty is l2 / 2 * ||w||^2 added to the mean loss on
# standardised features. 1e-4 is nearly unregularised at 10k examples, 1.0 shrinks hard.
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@torch.no_grad()
def pooled_features(
    encoder, tokenizer, texts: list[str], *, max_len: int, batch_size: int = 256, device=None
) -> torch.Tensor:
    """``[N, H]`` float64 CPU mean of the encoder's last-layer states over each text's real tokens.

    Texts are tokenized as the fine-tuning probe does (``[CLS] ... [SEP]``, cut at ``max_len``)
    and batched by length (less padding); the rows come back in the order of ``texts``.

    Args:
        encoder: A ``BertModel`` (e.g. ``BertForMaskedLM.bert``); put in eval mode here.
        tokenizer: The run's tokenizer.
        texts: N strings.
        max_len: Longest tokenized text, ``[CLS]`` and ``[SEP]`` included.
        batch_size: Texts per forward pass.
        device: Where the encoder runs (default: where its parameters are).
    """
    device = device or next(encoder.parameters()).device
    encoder.eval()
    ids = tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    pad = tokenizer.pad_token_id
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    out = torch.empty(len(ids), encoder.config.hidden_size, dtype=torch.float64)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(ids[i]) for i in rows)
        x = torch.full((len(rows), width), pad, dtype=torch.int64)
        for k, i in enumerate(rows):
            x[k, : len(ids[i])] = torch.tensor(ids[i])
        real = torch.zeros_like(x, dtype=torch.bool)  # True = a real token (attended, pooled)
        for k, i in enumerate(rows):
            real[k, : len(ids[i])] = True
        x, real = x.to(device), real.to(device)
        hidden = encoder(input_ids=x, attention_mask=real.long()).last_hidden_state.float()  # [b, L, H]
        pooled = (hidden * real[..., None]).sum(1) / real.sum(1, keepdim=True)  # [b, H]
        out[torch.tensor(rows)] = pooled.double().cpu()
    return out


def _loss(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    logits = x @ w + b
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + 0.5 * l2 * (w @ w)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, *, l2: float, max_iter: int = 100) -> tuple:
    """Binary logistic regression: minimise mean log-loss + ``l2 / 2 * ||w||^2`` (bias free).

    Solved by L-BFGS (strong Wolfe line search) in float64 from zeros: the problem is strictly
    convex for ``l2 > 0``, so the solution is unique and the same on every run.

    Args:
        x: ``[N, H]`` features (standardise them first; the penalty assumes comparable scales).
        y: ``[N]`` labels in {0, 1}.
        l2: Penalty strength, > 0.
        max_iter: Most L-BFGS iterations (on 10k standardised 128-wide features every grid
            strength reaches a gradient norm below 1e-6 within 100; nearly separable data with
            a weak penalty converges slowly, hence the cap and the returned gradient norm).

    Returns:
        ``(w [H], b [], gradient_norm)``: float64 tensors and the objective's gradient norm
        at them (a float: ~0 means converged).

    Raises:
        ValueError: ``l2`` is not > 0, shapes disagree, or a label is not 0 or 1.
    """
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0 (a strictly convex problem has one solution); got {l2}.")
    x, y = x.double(), y.double()
    if x.dim() != 2 or y.shape != (len(x),):
        raise ValueError(f"x must be [N, H] and y [N]; got x {tuple(x.shape)} and y {tuple(y.shape)}.")
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("y must hold binary labels 0 and 1 only.")
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = _loss(w, b, x, y, l2)
        loss.backward()
        return loss

    opt.step(closure)
    gradient = torch.autograd.grad(_loss(w, b, x, y, l2), [w, b])
    return w.detach(), b.detach(), float(torch.cat([gradient[0], gradient[1][None]]).norm())


def _accuracy(w, b, x, y) -> float:
    return float((((x @ w + b) > 0).double() == y.double()).double().mean())


def linear_probe(
    config: ExperimentConfig,
    tokenizer,
    weights: str | Path | None,
    *,
    splits: ProbeSplits | None = None,
    device=None,
    init_seed: int = 0,
    l2_grid: tuple[float, ...] = L2_GRID,
    batch_size: int = 256,
) -> dict:
    """Test accuracy of a logistic regression on the frozen encoder's mean-pooled features.

    Args:
        config: The run's config (architecture; ``probe.max_len``, ``probe.train_limit`` and
            ``probe.split_seed`` choose the snippets).
        tokenizer: The run's tokenizer.
        weights: ``model.safetensors`` of a pretraining run; None: an untrained encoder
            initialised from ``init_seed`` (the baseline).
        splits: The probe splits (default ``probe_splits(config.probe.split_seed)``).
        device: Where the encoder runs (default: the config's device).
        l2_grid: L2 strengths tried; the best dev accuracy wins, ties going to the stronger.

    Returns:
        ``{"test_accuracy", "majority_test_accuracy", "dev_accuracy", "l2", "grid": [{"l2",
        "dev_accuracy", "gradient_norm"}, ...], "pretrained", "features", "train_examples", "dev_examples",
        "test_examples", "wall_s"}``.

    Raises:
        ValueError: ``l2_grid`` is empty or holds a value that is not > 0.
    """
    if not l2_grid or any(not v > 0 for v in l2_grid):
        raise ValueError(f"l2_grid must hold at least one strength > 0; got {l2_grid!r}.")
    start = time.perf_counter()
    device = pick_device(device or config.device)
    splits = splits or probe_splits(config.probe.split_seed)
    mlm = build_mlm(config, len(tokenizer), seed=init_seed, pad_token_id=tokenizer.pad_token_id or 0)
    if weights is not None:
        load_weights(mlm, weights)
    encoder = mlm.bert.to(device)
    limit = config.probe.train_limit  # None: every training snippet
    parts = {
        "train": (splits.train[0][:limit], splits.train[1][:limit]),
        "dev": splits.dev,
        "test": splits.test,
    }
    feats, labels = {}, {}
    for name, (texts, ys) in parts.items():
        feats[name] = pooled_features(
            encoder, tokenizer, texts, max_len=config.probe.max_len, batch_size=batch_size, device=device
        )
        labels[name] = torch.tensor(ys, dtype=torch.float64)
    mean, std = feats["train"].mean(0), feats["train"].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature stays constant (no 0/0)
    x = {name: (f - mean) / std for name, f in feats.items()}
    grid, best = [], None
    for l2 in l2_grid:
        w, b, gradient_norm = fit_logistic(x["train"], labels["train"], l2=l2)
        dev = _accuracy(w, b, x["dev"], labels["dev"])
        grid.append({"l2": float(l2), "dev_accuracy": dev, "gradient_norm": gradient_norm})
        if best is None or dev > best[0] or (dev == best[0] and l2 > best[1]):
            best = (dev, float(l2), w, b)
    dev, l2, w, b = best
    return {
        "test_accuracy": _accuracy(w, b, x["test"], labels["test"]),
        "majority_test_accuracy": float(max(labels["test"].mean(), 1 - labels["test"].mean())),
        "dev_accuracy": dev,
        "l2": l2,
        "grid": grid,
        "pretrained": weights is not None,
        "features": int(feats["train"].shape[1]),
        "train_examples": len(parts["train"][0]),
        "dev_examples": len(splits.dev[0]),
        "test_examples": len(splits.test[0]),
        "wall_s": time.perf_counter() - start,
    }
