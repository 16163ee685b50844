"""One intra-op thread for blocks of many small CPU tensor ops (masking, collation, tiny models).

Why: torch splits every CPU op of at least 32,768 elements over its intra-op threads, and each
split ends in a join that waits for the slowest thread. A masking pass is ~50 such ops on a
64 x 512 batch (2**15 elements), each worth 10-40 us of work: with two threads on two cores and
one CPU-bound neighbour process (a browser, another kernel, a training loop), one of the two
threads is descheduled at almost every join, and the pass that takes ~1 ms on one thread takes
2-10 ms (``MLMCollator`` fell from 12x to 1-3.5x Hugging Face's collator, ``mask_batch`` from
2.5x to 4-100x a bare bernoulli pass). GNU OpenMP makes it worse: its waiting threads spin
(busy-wait) rather than sleep, taking the CPU the descheduled one needs (with
``OMP_WAIT_POLICY=passive`` set before Python starts, the split pass measured 1.3 ms instead of
11). On one thread there is no join to wait for.

Where the line is (:data:`SMALL_CPU_NUMEL`), measured on 2 cores of an AMD EPYC, torch 2.13
(OpenMP), 10 chained int64 elementwise ops, median ms per op, one thread / two threads:

=========  ==================  ===============================
elements   quiet               one busy neighbour process
=========  ==================  ===============================
2**17      0.043 / 0.045       0.33 / 0.47
2**19      0.21 / 0.19         1.1 / 6.8
2**20      0.63 / 0.52         1.6 / 20.8
2**21      1.7 / 1.2           4.8 / 14.8
=========  ==================  ===============================

Below 2**20 elements a second thread saves at most ~15% on a quiet machine and costs 1.4-12x
on a busy one; from 2**21 up it pays when quiet. So work whose largest tensor has fewer than
2**20 elements runs on one thread; larger work, and work on any other device (where the CPU
only launches kernels), keeps the user's setting. Switching costs one
``torch.set_num_threads`` pair per block (0.3-0.6 us median here, ~21 us on other machines),
against 1-3 ms for the blocks it is used on.

Caveat: with torch's OpenMP backend (the default CPU build) the intra-op thread count is kept
per OS thread, and a thread's first torch op copies the count last set by any thread. So while
a block runs (~1 ms), a Python thread that runs its *first* torch op starts with one thread and
keeps it; threads that already ran torch ops are not affected. With a build whose thread pool is
process-wide, every other Python thread running torch ops during the block runs them on one
thread for that time. Each block restores the count its thread had when it began (so the
user's count comes back when the outermost block ends), also on an exception; if the block
itself set another count, that one is kept.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading

import torch

__all__ = [
    "SMALL_CPU_NUMEL",
    "intra_op_threads",
    "one_thread",
    "one_thread_for_small_input",
    "small_cpu_work",
]

SMALL_CPU_NUMEL = 2**20  # largest tensor of a block below this: one thread (see the table above)

# Per OS thread, like OpenMP's own setting: the counts to restore, one per open block.
_state = threading.local()


class intra_op_threads(contextlib.ContextDecorator):
    """Context manager and decorator: run the block on ``threads`` intra-op threads, then restore.

    Re-entrant: each block restores what it found when it ends, so nested blocks (and recursive
    calls of a decorated function) never restore early: a block inside a one-thread block
    finds one thread and leaves one thread. Setting the count the thread already has costs
    nothing (no call to ``torch.set_num_threads``).

    Args:
        threads: Intra-op threads for the block, an int >= 1; None: change nothing (lets callers
            decide per call, see :func:`small_cpu_work`).

    Raises:
        ValueError: ``threads`` is not an int >= 1 or None.
    """

    def __init__(self, threads: int | None) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an int >= 1 or None (no change); got {threads!r}.")
        self.threads = threads

    def __enter__(self) -> intra_op_threads:
        if self.threads is not None:
            saved = torch.get_num_threads()
            _state.__dict__.setdefault("saved", []).append(saved)
            if saved != self.threads:
                torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc) -> bool:
        stack = _state.__dict__.get("saved")
        if self.threads is not None and stack:  # (an exit without its enter has nothing to undo)
            saved = stack.pop()
            # Restore only what this block set: a count the block chose itself is the user's.
            if saved != self.threads and torch.get_num_threads() == self.threads:
                torch.set_num_threads(saved)
        return False


def one_thread(enabled: bool = True) -> intra_op_threads:
    """Run the block (or decorated function) on one intra-op thread, then restore the user's count.

    Args:
        enabled: False: change nothing.

    Example::

        with one_thread():
            batch = collator(features)
    """
    return intra_op_threads(1 if enabled else None)


def small_cpu_work(*work: torch.Tensor | int) -> intra_op_threads:
    """:func:`one_thread` if the work is small CPU work, else a block that changes nothing.

    Args:
        *work: The block's tensors (or their element counts, ints). It is small CPU work when
            every tensor is on the CPU and the largest has fewer than :data:`SMALL_CPU_NUMEL`
            elements.

    Raises:
        TypeError: An item is neither a tensor nor an int.
    """
    largest = 0
    for item in work:
        if isinstance(item, torch.Tensor):
            if item.device.type != "cpu":
                return one_thread(False)
            size = item.numel()
        elif isinstance(item, int) and not isinstance(item, bool):
            size = item
        else:
            raise TypeError(
                f"small_cpu_work takes tensors or element counts (ints); got {type(item).__name__}."
            )
        largest = max(largest, size)
    return one_thread(largest < SMALL_CPU_NUMEL)


def one_thread_for_small_input(fn):
    """Decorator: run ``fn`` on one intra-op thread when its first argument is small CPU work.

    The first argument (positional or by name) decides, as in :func:`small_cpu_work`; when it
    is not a tensor, ``fn`` runs with the user's setting (its own checks then refuse it).
    """
    first = next(iter(inspect.signature(fn).parameters))
    block = one_thread()

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        x = args[0] if args else kwargs.get(first)
        if isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.numel() < SMALL_CPU_NUMEL:
            with block:
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper
