"""Model FLOPs of our pretraining loop and what to divide them by (MFU), for bench_training.

MFU = model FLOPs per token x tokens/s / peak FLOP/s, where the peak is the one of the precision
the run really used: the datasheet's dense figure, and a matmul ceiling measured on the machine.
"""

from __future__ import annotations

import time

import torch

from dynmask_viz.experiments import ExperimentConfig

# Dense peaks (no sparsity), FLOP/s, from NVIDIA's data sheets, per precision ("fp32": plain
# FP32 FMA, what torch runs unless TF32 is allowed). First matching name wins: PCIe before SXM.
PEAKS = {
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "tf32": 378e12, "fp32": 51e12},
    "H100": {"bf16": 989e12, "fp16": 989e12, "tf32": 495e12, "fp32": 67e12},  # SXM
    "H200": {"bf16": 989e12, "fp16": 989e12, "tf32": 495e12, "fp32": 67e12},  # SXM
    "A100": {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.5e12},
    "V100": {"fp16": 125e12, "fp32": 15.7e12},  # SXM2; no bf16 tensor cores
    "T4": {"fp16": 65e12, "fp32": 8.1e12},  # no bf16 tensor cores
}
PEAK_BF16 = {name: peaks["bf16"] for name, peaks in PEAKS.items() if "bf16" in peaks}  # old name


def peak_key(precision: str, *, tf32: bool = False) -> str:
    """The datasheet column of a run's precision: ``"bf16"``, ``"fp16"``, ``"tf32"`` or ``"fp32"``.

    Args:
        precision: ``"bf16" | "fp16+GradScaler" | "fp32"`` (:func:`pick_precision`).
        tf32: Whether fp32 matmuls may use TF32 (``torch.backends.cuda.matmul.allow_tf32``).
    """
    keys = {"bf16": "bf16", "fp16+GradScaler": "fp16", "fp32": "tf32" if tf32 else "fp32"}
    if precision not in keys:
        raise ValueError(f"precision must be one of {list(keys)}; got {precision!r}.")
    return keys[precision]


def datasheet_peak(gpu_name: str, precision: str, *, tf32: bool = False) -> float | None:
    """Dense datasheet FLOP/s of ``gpu_name`` in ``precision``; None for a GPU not in :data:`PEAKS`."""
    key = peak_key(precision, tf32=tf32)
    peaks = next((v for k, v in PEAKS.items() if k in gpu_name), None)
    return None if peaks is None else peaks.get(key)


def training_flops_per_token(
    config: ExperimentConfig, *, vocab_size: int | None = None, masked_fraction: float | None = None
) -> dict:
    """Model FLOPs of one training token of our loop, counted from the architecture.

    One multiply-add is 2 FLOPs; forward + backward = 3 x forward (the backward does two
    matmuls per forward one: gradients of inputs and of weights); nothing recomputed is
    counted (model FLOPs, as in PaLM's MFU). Per token and layer, forward: the Q, K, V and
    output projections ``4 * 2 * H^2`` and the feed-forward ``2 * 2 * H * I``; attention
    scores and values ``2 * 2 * seq_len * H``. The vocabulary head (its transform dense layer
    ``2 * H^2`` and the decoder ``2 * H * V``) runs on the masked tokens only
    (:class:`~dynmask_viz.experiments.SparseMLM`). Embeddings are lookups (no FLOPs);
    element-wise work (LayerNorm, GELU, softmax, biases) is left out, as FlopCounterMode does.

    Args:
        config: The run (model sizes, ``seq_len``, ``masking.mlm_probability``).
        vocab_size: Rows of the head (``len(tokenizer)``); default ``config.vocab_size``.
        masked_fraction: Share of tokens with a label; default ``mlm_probability * (seq_len -
            2) / seq_len`` (``[CLS]`` and ``[SEP]`` of a packed sequence are never selected).

    Returns:
        FLOPs per training token (floats): ``{"encoder", "attention", "head", "total"}``.
    """
    m = config.model
    hidden, inter, layers, seq = m.hidden, m.intermediate, m.n_layers, config.seq_len
    vocab = config.vocab_size if vocab_size is None else vocab_size
    if masked_fraction is None:
        masked_fraction = config.masking.mlm_probability * (seq - 2) / seq
    if not 0.0 <= masked_fraction <= 1.0:
        raise ValueError(
            f"masked_fraction must be in [0, 1] (labelled tokens / tokens); got {masked_fraction}."
        )
    forward = {
        "encoder": layers * 2 * (4 * hidden * hidden + 2 * hidden * inter),
        "attention": layers * 2 * 2 * seq * hidden,
        "head": masked_fraction * 2 * (hidden * hidden + hidden * vocab),
    }
    out = {k: 3.0 * v for k, v in forward.items()}
    out["total"] = sum(out.values())
    return out


def matmul_ceiling(device, precision: str, *, n: int = 8192, min_s: float = 1.0) -> float:
    """FLOP/s of a large square matmul loop in the run's precision: what this GPU really reaches.

    Args:
        precision: ``"bf16"`` and ``"fp16+GradScaler"`` multiply bf16 / fp16 matrices; ``"fp32"``
            fp32 ones (TF32 only if torch allows it).
        n: Matrix side (8192: large enough to saturate an H100-class GPU).
        min_s: Seconds of timed matmuls (after a warm-up).
    """
    dtype = {"bf16": torch.bfloat16, "fp16+GradScaler": torch.float16, "fp32": torch.float32}[precision]
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=out)
    _sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_s:
        for _ in range(10):
            torch.mm(a, b, out=out)
        _sync(device)
        count += 10
    return 2.0 * n**3 * count / (time.perf_counter() - start)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def counted_flops_per_token(
    config: ExperimentConfig,
    device="cpu",
    *,
    vocab_size: int | None = None,
    batch_size: int = 2,
    seed: int = 0,
) -> tuple[float, float]:
    """FLOPs per token of one training step of our loop, as ``torch.utils.flop_counter`` counts them.

    The check of :func:`training_flops_per_token`: a freshly built model (``config``'s sizes)
    does one forward and backward of :class:`~dynmask_viz.experiments.SparseMLM` on random
    token ids under ``FlopCounterMode``, with ~``mlm_probability`` of the positions labelled
    (never the first and last, like ``[CLS]`` and ``[SEP]``).

    Returns:
        ``(counted FLOPs per token, labelled fraction of the batch)``: pass the fraction to
        :func:`training_flops_per_token` to compare like with like.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from dynmask_viz.experiments import SparseMLM, build_mlm

    vocab = config.vocab_size if vocab_size is None else vocab_size
    seq = config.seq_len
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch_size, seq), generator=g)
    chosen = torch.rand(batch_size, seq, generator=g) < config.masking.mlm_probability
    chosen[:, 0] = chosen[:, -1] = False
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    model = SparseMLM(build_mlm(config, vocab, seed=seed)).to(device).train()
    with FlopCounterMode(display=False) as counter:
        loss_sum, _, n = model(ids.to(device), labels.to(device))
        (loss_sum / n).backward()
    tokens = batch_size * seq
    return counter.get_total_flops() / tokens, float(chosen.sum()) / tokens
