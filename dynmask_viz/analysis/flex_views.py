"""What FlexAttention does with a rule, for figures: its blocks and its time against SDPA.

* :func:`block_sparsity_view`: one head's mask with the kind of every block (skipped, partial,
  full) and the shares over the whole ``BlockMask`` (:class:`BlockSparsityView`).
* :func:`time_attention`: ``flex_attention`` (compiled) against SDPA with the dense bool mask
  (and SDPA ``is_causal`` for a causal rule) at growing lengths (:class:`FlexTimings`).

Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .._threads import intra_op_threads
from ..attention_masks import MaskRule, causal
from ..attention_masks.flex import BlockSparsity, block_kinds, block_sparsity, compiled_flex_attention

__all__ = ["BlockSparsityView", "FlexTimings", "block_sparsity_view", "time_attention"]

FLEX, SDPA_MASK, SDPA_CAUSAL = "flex_attention (compiled)", "SDPA + bool mask", "SDPA is_causal"
FLEX_EAGER = "flex_attention (not compiled)"


@dataclass(frozen=True)
class BlockSparsityView:
    """One head of a rule's mask and its FlexAttention blocks.

    Attributes:
        rule: The rule's name.
        mask: bool ``[Q, K]`` of example ``index``, head ``head`` (True = may attend).
        kinds: int8 ``[Q blocks, K blocks]``: 0 skipped, 1 partial, 2 full (``BLOCK_KINDS``).
        block_size: Block side (queries and keys).
        sparsity: Shares over every example and head of the ``BlockMask``.
    """

    rule: str
    mask: torch.Tensor
    kinds: torch.Tensor
    block_size: int
    sparsity: BlockSparsity


def block_sparsity_view(
    rule: MaskRule,
    length: int,
    block_size: int = 128,
    *,
    batch: int = 1,
    heads: int = 1,
    index: int = 0,
    head: int = 0,
) -> BlockSparsityView:
    """The mask of ``rule`` at ``length`` tokens and its ``BlockMask``'s block kinds.

    Args:
        rule: The rule (True = may attend); sizes must fit its data.
        length: Queries and keys, an int >= 1.
        block_size: FlexAttention block size.
        batch, heads: Sizes of the ``BlockMask`` (the shares count all of it).
        index, head: Which example and head the mask and kinds show.
    """
    for name, value, top in (("index", index, batch), ("head", head, heads)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < top:
            raise ValueError(f"{name} must be an int in [0, {top}); got {value!r}.")
    bm = rule.block_mask(batch, heads, length, block_size=block_size)
    # The mask drawn is the one FlexAttention reads (the keep table, for a tabulate rule).
    mask = bm.mask_mod.dense(batch, heads, length, length)  # a MaskRule: the rule or its table
    kinds = block_kinds(bm)
    return BlockSparsityView(rule.name, mask[index, head], kinds[index, head], block_size, block_sparsity(bm))


@dataclass(frozen=True)
class FlexTimings:
    """Median seconds per call of each attention path, by length.

    Attributes:
        rule: The rule's name.
        lengths: Sequence lengths timed.
        seconds: ``{path: (median seconds at each length, ...)}``; SDPA ``is_causal`` only for
            a rule equal to causal.
        first_call_seconds: flex_attention's first call at each length: compile + one run
            (with ``compiled=False``: one eager run).
        skipped: Share of blocks FlexAttention skips at each length.
        threads: Intra-op threads used (None: torch's setting).
        repeats: Timed calls per path and length (after the warm-up).
        shape: ``(batch, heads, head_dim)``.
    """

    rule: str
    lengths: tuple[int, ...]
    seconds: dict[str, tuple[float, ...]]
    first_call_seconds: tuple[float, ...]
    skipped: tuple[float, ...]
    threads: int | None
    repeats: int
    shape: tuple[int, int, int]

    def speedup(self, path: str = SDPA_MASK) -> tuple[float, ...]:
        """How many times faster flex_attention is than ``path`` at each length."""
        flex = self.seconds[FLEX if FLEX in self.seconds else FLEX_EAGER]
        return tuple(other / mine for other, mine in zip(self.seconds[path], flex, strict=True))


def _median_interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):  # round-robin: every path sees the same machine noise
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def time_attention(
    rule: MaskRule | Callable[[int], MaskRule],
    lengths: Sequence[int],
    *,
    batch: int = 1,
    heads: int = 4,
    head_dim: int = 64,
    block_size: int = 128,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = 1,
    compiled: bool = True,
    seed: int = 0,
) -> FlexTimings:
    """Time ``flex_attention`` with ``rule``'s block mask against SDPA with its dense mask.

    At each length: random float32 ``q, k, v`` ``[batch, heads, L, head_dim]`` (seeded), the
    block mask and the dense bool mask built once, then each path warmed up and timed
    round-robin (median of ``repeats``). Compiled flex_attention compiles once per length
    (``dynamic=False``): that first call is reported apart, not in the median.

    Args:
        rule: A rule of positions only (``causal()``, ``sliding_window(256)``...), or a
            function ``length -> rule`` for rules built on data of that length.
        lengths: Sequence lengths, ints >= 1.
        batch, heads, head_dim: Shape of the inputs.
        block_size: FlexAttention block size.
        repeats, warmup: Timed and untimed calls per path and length.
        threads: Intra-op threads while timing (1: the same for every path, and fair on a busy
            machine); None keeps torch's setting.
        compiled: Time compiled flex_attention (the first call per length compiles); False
            times the eager reference, which materializes every score (small lengths only).
        seed: Seed of the inputs.
    """
    from torch.nn.attention.flex_attention import flex_attention

    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
        raise ValueError(f"lengths must be ints >= 1; got {lengths!r}.")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1; got {repeats!r}.")
    make = rule if not isinstance(rule, MaskRule) else (lambda n: rule)
    flex_name = FLEX if compiled else FLEX_EAGER
    attend = compiled_flex_attention() if compiled else flex_attention
    sdpa = torch.nn.functional.scaled_dot_product_attention
    seconds: dict[str, list[float]] = {}
    first, skipped, name = [], [], ""
    g = torch.Generator().manual_seed(seed)
    with intra_op_threads(threads), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        for n in lengths:
            r = make(n)
            name = r.name
            q, k, v = (torch.randn(batch, heads, n, head_dim, generator=g) for _ in range(3))
            bm = r.block_mask(batch, heads, n, block_size=block_size)
            dense = r.dense(batch, heads, n, n)
            skipped.append(block_sparsity(bm).skipped)
            start = time.perf_counter()
            attend(q, k, v, block_mask=bm)
            first.append(time.perf_counter() - start)
            timed = getattr(attend, "compiled", attend)  # the kernel exists now: no config patch
            fns = {  # (the loop's tensors bound as defaults: each length times its own)
                flex_name: lambda q=q, k=k, v=v, bm=bm, f=timed: f(q, k, v, block_mask=bm),
                SDPA_MASK: lambda q=q, k=k, v=v, m=dense: sdpa(q, k, v, attn_mask=m),
            }
            if torch.equal(dense, causal().dense(batch, heads, n, n)):
                fns[SDPA_CAUSAL] = lambda q=q, k=k, v=v: sdpa(q, k, v, is_causal=True)
            for path, s in _median_interleaved(fns, repeats, warmup).items():
                seconds.setdefault(path, []).append(s)
    if any(len(v) != len(lengths) for v in seconds.values()):  # is_causal at some lengths only
        seconds = {p: v for p, v in seconds.items() if len(v) == len(lengths)}
    return FlexTimings(
        rule=name,
        lengths=tuple(lengths),
        seconds={p: tuple(v) for p, v in seconds.items()},
        first_call_seconds=tuple(first),
        skipped=tuple(skipped),
        threads=threads,
        repeats=repeats,
        shape=(batch, heads, head_dim),
    )
