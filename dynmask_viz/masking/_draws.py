"""Which mask ``MLMCollator`` draws: keyed by epoch once it is known, fresh every call before.

The collator's state lives in one small shared-memory tensor so that DataLoader workers,
persistent or not, forked or spawned, read and advance the same values as the main process:

* ``state[0]``: the epoch set by ``set_epoch`` (``-1`` until then: "fresh" mode);
* ``state[1 + slot]``: how many batches the process in ``slot`` has masked in fresh mode
  (slot 0: the main process; slot ``1 + worker_id % WORKER_SLOTS``: a DataLoader worker);
* ``state[-1]``: the distributed rank, recorded when the collator is pickled for spawned workers.

Fresh mode needs a counter that survives the workers: non-persistent workers are new copies of
the collator every epoch, so a counter (or a random generator) held in the object would start
again at 0 each epoch and repeat the masks: exactly the trap of a seeded Hugging Face collator.
One counter per worker keeps the stream deterministic: a DataLoader hands batch ``i`` to
worker ``i % num_workers``, so each worker masks the same batches in the same order every run.
"""

from __future__ import annotations

import torch

from .._hashing import fmix32_int64, fmix32_py, seed_key

WORKER_SLOTS = 64  # workers beyond 64 share a counter: their draws stay distinct in practice
_EPOCH = 0
_RANK = 1 + 1 + WORKER_SLOTS  # the distributed rank as the main process last saw it
_UNKNOWN = -1
_SALT_DRAW = 0x5F3759DF  # separates draw nonces from anything else hashed from the seed
_SALT_ROW = 0x27D4EB2F


def new_state() -> torch.Tensor:
    """``[1 + 1 + WORKER_SLOTS + 1]`` int64 in shared memory: epoch unknown, no draw made yet."""
    state = torch.zeros(_RANK + 1, dtype=torch.int64)
    state[_EPOCH] = _UNKNOWN
    return state.share_memory_()


def known_epoch(state: torch.Tensor) -> int | None:
    """The epoch set by ``set_epoch``, or None in fresh mode."""
    epoch = int(state[_EPOCH])
    return None if epoch == _UNKNOWN else epoch


def set_known_epoch(state: torch.Tensor, epoch: int | None) -> None:
    """Record ``epoch`` (None: back to fresh mode); workers read it at their next batch."""
    state[_EPOCH] = _UNKNOWN if epoch is None else epoch


def _slot() -> int:
    # Imported here: torch.utils.data is heavy, and only a worker has worker info anyway.
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return 1 if info is None else 2 + info.id % WORKER_SLOTS


def _live_rank() -> int | None:
    distributed = torch.distributed
    return distributed.get_rank() if distributed.is_available() and distributed.is_initialized() else None


def record_rank(state: torch.Tensor) -> None:
    """Store this process's distributed rank for workers that cannot ask (spawned ones)."""
    rank = _live_rank()
    if rank is not None:
        state[_RANK] = rank


def _rank(state: torch.Tensor) -> int:
    """The distributed rank: ranks must not draw alike. A forked worker inherits the process
    group; a spawned one has none and reads what the main process recorded when it pickled the
    collator for it (0 without torch.distributed)."""
    rank = _live_rank()
    return int(state[_RANK]) if rank is None else rank


def next_draw(state: torch.Tensor, seed: int) -> int:
    """A 32-bit nonce for the next fresh-mode batch of this process, advancing its counter.

    The nonce is a hash of ``(seed, rank, slot, counter)``: a new one every call, the same
    sequence for two collators with the same seed (as Hugging Face's ``seed``), another for
    another seed, and another on each distributed rank (each rank holds its own collator and
    counters; without the rank, row ``i`` of every rank would get the same mask positions).
    """
    slot = _slot()
    count = int(state[slot])
    state[slot] = count + 1
    mixed = fmix32_py(seed_key(seed) ^ _SALT_DRAW ^ fmix32_py(slot) ^ fmix32_py(_rank(state) * _SALT_ROW))
    return fmix32_py(mixed ^ fmix32_py(count & 0xFFFFFFFF) ^ fmix32_py(count >> 32))


def static_copies(nonce: int, rows: int, dupe_factor: int) -> torch.Tensor:
    """``[rows]`` int64 in ``[0, dupe_factor)``: which of its fixed masks each row shows now.

    Fresh mode with static masking: an example keeps its ``dupe_factor`` masks (keyed on its
    id or content, as in keyed mode) and each call shows one of them, uniformly at random, like
    BERT's shuffled ``dupe_factor`` copies of the data.
    """
    row_keys = (torch.arange(rows, dtype=torch.int64) * _SALT_ROW) & 0xFFFFFFFF
    return fmix32_int64(row_keys ^ nonce) % dupe_factor
