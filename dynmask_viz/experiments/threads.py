"""How many intra-op threads a run uses: one for the small CPU presets, measured, then restored."""

from __future__ import annotations

from .._device import pick_device
from .._threads import intra_op_threads, small_cpu_work
from .config import ExperimentConfig

__all__ = ["run_threads"]


def run_threads(config: ExperimentConfig, threads: int | str = "auto") -> intra_op_threads:
    """The intra-op thread block a run trains and probes under; the user's count comes back after.

    ``"auto"``: one thread on the CPU when a step's largest activation (batch x length x the
    wider of hidden and intermediate, pretraining or probe) is small CPU work
    (:data:`dynmask_viz._threads.SMALL_CPU_NUMEL`), as cpu-tiny's 32 x 64 x 256 is: its many small ops
    per step otherwise wait at every join for a thread a busy machine has descheduled. Else,
    and on a GPU, the user's setting. An int >= 1: that many threads. A runtime choice like the
    progress bar, so not in the config nor the fingerprint.

    Raises:
        ValueError: ``threads`` is neither ``"auto"`` nor an int >= 1.
    """
    if threads != "auto":
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f'threads must be "auto" or an int >= 1 (intra-op threads); got {threads!r}.')
        return intra_op_threads(threads)
    if pick_device(config.device).type != "cpu":
        return intra_op_threads(None)
    rows = max(config.optim.batch_size * config.seq_len, config.probe.batch_size * config.probe.max_len)
    return small_cpu_work(rows * max(config.model.hidden, config.model.intermediate))
