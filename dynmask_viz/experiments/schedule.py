"""The learning-rate schedule shared by pretraining and the probe: linear warmup, linear decay."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["linear_warmup_decay"]


def linear_warmup_decay(total: int, warmup: int) -> Callable[[int], float]:
    """LR multiplier per step for ``torch.optim.lr_scheduler.LambdaLR``.

    Rises linearly to 1 over ``warmup`` steps, then falls linearly to 0 at step ``total``
    (BERT's and RoBERTa's schedule).

    Args:
        total: Number of optimizer steps of the run.
        warmup: Warmup steps (>= 1).
    """

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return multiplier
