"""FlexAttention for the catalogue: mask_mods that compile in bounded time, block masks, the
check against SDPA with the dense mask, and which blocks a ``BlockMask`` skips.

Boolean convention: True = *the query may attend to the key*. FlexAttention, like SDPA with a
bool mask, returns zeros for a query that may attend to nothing (:func:`~.empty.empty_rows`).

Why a keep table: ``torch.compile`` inlines ``mask_mod`` into the attention kernel, and Inductor
copies every reuse of a value there instead of computing it once. The hash behind
``random_drop`` reuses each value several times per round, so the kernel grows exponentially
with its rounds (measured at L=256 on CPU: 1, 2, 3 rounds compiled in 18 s, 31 s and over
200 s; the 4 of ``random_drop`` ran past 10 minutes and 13 GB). A rule marked
:attr:`MaskRule.tabulate` is therefore evaluated once, exactly, by ``.dense`` into a bool table,
and the mask_mod only reads ``table[b, h, q, kv]``: it compiles like ``causal``
(:func:`compiled_flex_attention` gives the times).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from dataclasses import dataclass

import torch

from ._data import take
from .rule import TABLE_SOURCE, MaskError, MaskRule

__all__ = [
    "BLOCK_KINDS",
    "BlockSparsity",
    "FlexCheck",
    "block_kinds",
    "block_mask",
    "block_sparsity",
    "check_flex",
    "compiled_flex_attention",
    "flex_mask_mod",
]

SKIPPED, PARTIAL, FULL = 0, 1, 2
BLOCK_KINDS = ("skipped", "partial", "full")  # index = code in block_kinds()


def flex_mask_mod(rule: MaskRule, batch: int, heads: int, q_len: int, kv_len: int | None = None, device=None):
    """The ``mask_mod`` to give ``create_block_mask`` and ``flex_attention`` for these sizes.

    A rule that compiles cheaply is returned as it is. A :attr:`MaskRule.tabulate` rule (one
    containing ``random_drop``, also inside ``&``, ``|``, ``~``, ``per_document``) is evaluated
    here with its exact ``.dense`` into a bool keep table, and the rule returned reads it,
    bit-identical to ``rule.dense``.

    Cost of a table: ``batch * heads * q_len * kv_len`` bytes (``heads`` counts 1 when the rule
    is the same in every head), e.g. 16 MiB for one head at 4,096 tokens, built in the time of
    ``.dense`` (one thread on 2 shared CPU cores: about 0.1 s for 1 M pairs, one head at 1,024
    tokens; 1.5-4 s for 16 M pairs, one head at 4,096 tokens or 4 heads at 2,048).
    The table fixes the sizes: the returned rule records them (``sizes``), so ``.dense``,
    ``block_mask`` and ``check_sizes`` name the parameter that differs (inside FlexAttention's
    vmap an index out of range cannot be reported, so sizes are checked here instead).

    Args:
        rule: The rule (True = may attend).
        batch, heads, q_len: Sizes of the attention, ints >= 1.
        kv_len: Number of keys, defaults to ``q_len``.
        device: Device of the table; defaults to the rule's data, else CPU.

    Returns:
        A :class:`MaskRule` usable as ``mask_mod``.
    """
    if not isinstance(rule, MaskRule):
        raise TypeError(f"flex_mask_mod(rule) must be a MaskRule; got {type(rule).__name__}.")
    batch, heads, q_len, kv_len = rule._sizes(batch, heads, q_len, kv_len, minimum=1)
    if not rule.tabulate:
        return rule
    table = rule.dense(batch, heads if rule.per_head else 1, q_len, kv_len, device)
    fixed = [("batch", batch), ("q_len", q_len), ("kv_len", kv_len)]
    if rule.per_head:
        fixed.insert(1, ("heads", heads))
    decoder_fn = None
    if rule.looks_ahead:  # the table holds fn, not the decoder view: never read it as one

        def decoder_fn(b, h, q, k):
            raise MaskError(f"{rule.name}: tabulate rule.for_decoder(), not the table of the rule itself.")

    return MaskRule(
        name=f"{rule.name} [table]",
        fn=lambda b, h, q, k: take(table, b, h, q, k),
        params={"table_of": rule.name, "shape": tuple(table.shape), "bytes": table.numel()},
        sizes=tuple((dim, size, TABLE_SOURCE) for dim, size in fixed),
        per_head=rule.per_head,
        device=table.device,
        absolute=rule.absolute,
        looks_ahead=rule.looks_ahead,
        decoder_fn=decoder_fn,
    )


def block_mask(rule: MaskRule, batch, heads, q_len, kv_len=None, device=None, block_size: int = 128):
    """A FlexAttention ``BlockMask`` of ``rule`` (True = may attend), via :func:`flex_mask_mod`.

    On CPU, ``flex_attention`` without ``torch.compile`` runs an unfused reference that
    materializes every score: right for checking, not for speed (:func:`compiled_flex_attention`).

    Args:
        rule: The rule.
        batch, heads, q_len, kv_len: As in ``rule.dense``, but >= 1.
        device: Defaults to the device of the rule's data, else CPU (not the accelerator that
            ``create_block_mask`` would pick).
        block_size: FlexAttention block size, an int >= 1 (its default is 128).

    Returns:
        ``torch.nn.attention.flex_attention.BlockMask``.
    """
    from torch.nn.attention.flex_attention import create_block_mask

    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) or block_size < 1:
        raise MaskError(
            f"block_size must be an int >= 1 (FlexAttention's default is 128); got {block_size!r}."
        )
    mask_mod = flex_mask_mod(rule, batch, heads, q_len, kv_len, device)
    batch, heads, q_len, kv_len = rule._sizes(batch, heads, q_len, kv_len, minimum=1)
    dev = rule._resolve_device(device)  # where the table is too
    return create_block_mask(mask_mod, batch, heads, q_len, kv_len, device=dev, BLOCK_SIZE=int(block_size))


RECOMPILE_LIMIT = 64  # Dynamo's default, 8, is reached by one rule at 8 lengths


@functools.cache
def compiled_flex_attention():
    """``torch.compile(flex_attention, dynamic=False)``, made once per process.

    The first call for each mask_mod and shape compiles (gcc needed); later calls reuse the
    kernel. Measured on 2 shared CPU cores, torch 2.13, 128-4,096 tokens: 13-26 s for the first
    compile of a process, about 4-10 s for each later rule or shape, 0.2-0.5 s when Inductor has
    the kernel in its on-disk cache (a rule built like an earlier one) and the process has
    compiled before (a new process with every kernel cached still took 3.8 s for its first).

    Dynamo compiles ``flex_attention`` anew for each mask_mod and shape and keeps at most
    ``torch._dynamo.config.recompile_limit`` (default 8) of them. Past that limit it logs one
    warning, "torch._dynamo hit config.recompile_limit", on the ``torch._dynamo`` logger (stderr,
    not Python's ``warnings``), and runs ``flex_attention`` uncompiled: the unfused reference that
    materializes every score, which warns "flex_attention called without torch.compile()" once per
    process; later calls past the limit fall back without a word. So each call runs under
    ``torch._dynamo.config.patch(recompile_limit=64)`` (or the caller's limit if higher), restored
    when the call returns or raises. ``run.compiled`` is the bare compiled function, 50 us a call
    cheaper, for timing loops once the kernel exists.
    """
    from torch.nn.attention.flex_attention import flex_attention

    compiled = torch.compile(flex_attention, dynamic=False)

    @functools.wraps(flex_attention)
    def run(*args, **kwargs):
        limit = max(RECOMPILE_LIMIT, torch._dynamo.config.recompile_limit)
        with torch._dynamo.config.patch(recompile_limit=limit):
            return compiled(*args, **kwargs)

    run.compiled = compiled
    return run


@dataclass(frozen=True)
class FlexCheck:
    """FlexAttention against SDPA with the dense bool mask, for one rule. Truthy when they agree.

    Attributes:
        rule: The rule's name.
        out: float ``[B, H, Q, D]`` from ``flex_attention``.
        reference: float ``[B, H, Q, D]`` from SDPA with ``attn_mask=rule.dense(...)``.
        max_abs_diff: Largest absolute difference of the two.
        empty_rows: Queries that may attend to nothing (both give zeros there).
        compiled: Whether ``flex_attention`` ran compiled.
        ok: Whether they agree within ``atol`` + ``rtol`` (``torch.allclose``).
    """

    rule: str
    out: torch.Tensor
    reference: torch.Tensor
    max_abs_diff: float
    empty_rows: int
    compiled: bool
    ok: bool

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        how = "compiled" if self.compiled else "eager"
        verdict = "equal to" if self.ok else "DIFFERENT from"
        return (
            f"{self.rule}: flex_attention ({how}) {verdict} SDPA + dense mask, max |diff| "
            f"{self.max_abs_diff:.1e}, {self.empty_rows} empty row(s)"
        )


def check_flex(
    rule: MaskRule,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    block_size: int = 128,
    compiled: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> FlexCheck:
    """Run ``flex_attention`` with ``rule``'s block mask and compare it with SDPA + dense mask.

    Args:
        rule: The rule (True = may attend).
        q: float ``[B, H, Q, D]``; ``k``, ``v``: float ``[B, H, K, D]``.
        block_size: FlexAttention block size.
        compiled: Use :func:`compiled_flex_attention` (fast, compiles first); else the eager
            reference (right on small sizes, slow and memory-hungry on long ones).
        atol, rtol: Tolerances of the comparison.
    """
    from torch.nn.attention.flex_attention import flex_attention

    if not all(isinstance(t, torch.Tensor) and t.ndim == 4 for t in (q, k, v)):
        raise MaskError("check_flex(q, k, v) must be float tensors [B, H, Q, D], [B, H, K, D], [B, H, K, D].")
    batch, heads, q_len, _ = q.shape
    kv_len = k.shape[2]
    bm = block_mask(rule, batch, heads, q_len, kv_len, q.device, block_size)
    if compiled:  # its notice of running uncompiled means a fallback (the recompile limit): shown
        out = compiled_flex_attention()(q, k, v, block_mask=bm)
    else:
        with warnings.catch_warnings():  # the eager path warns that it is not compiled: we asked
            warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
            out = flex_attention(q, k, v, block_mask=bm)
    dense = rule.dense(batch, heads, q_len, kv_len, q.device)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    diff = float((out - ref).abs().max()) if out.numel() else 0.0
    return FlexCheck(
        rule=rule.name,
        out=out,
        reference=ref,
        max_abs_diff=diff,
        empty_rows=int((~dense.any(-1)).sum()),
        compiled=compiled,
        ok=bool(torch.allclose(out, ref, atol=atol, rtol=rtol)),
    )


def block_kinds(bm) -> torch.Tensor:
    """Which blocks of a ``BlockMask`` FlexAttention skips, computes fully, or computes masked.

    Args:
        bm: A ``BlockMask``.

    Returns:
        int8 ``[B, H, Q blocks, K blocks]``: 0 skipped (nothing allowed: never computed), 1
        partial (computed, ``mask_mod`` applied), 2 full (computed, no mask needed); names in
        :data:`BLOCK_KINDS`. A ragged last block counts as partial.
    """
    n_k = math.ceil(bm.seq_lengths[1] / bm.BLOCK_SIZE[1])
    kinds = torch.zeros(*bm.kv_num_blocks.shape, n_k, dtype=torch.int8)
    listings = ((PARTIAL, bm.kv_num_blocks, bm.kv_indices), (FULL, bm.full_kv_num_blocks, bm.full_kv_indices))
    for code, num, idx in listings:
        if num is None:
            continue
        num, idx = num.cpu(), idx.cpu().long()
        listed = torch.arange(idx.shape[-1]) < num[..., None]  # the first num entries are blocks
        hit = torch.zeros(*num.shape, n_k + 1, dtype=torch.bool)
        hit.scatter_(-1, torch.where(listed, idx, n_k), True)  # the rest go to a spare column
        kinds[hit[..., :n_k]] = code
    return kinds


@dataclass(frozen=True)
class BlockSparsity:
    """Shares of a ``BlockMask``'s blocks by kind, over all batches and heads.

    Attributes:
        skipped, partial, full: Shares in [0, 1] (they sum to 1).
        blocks: Number of blocks counted (``B * H * Q blocks * K blocks``).
        block_size: ``(q, kv)`` block size.
    """

    skipped: float
    partial: float
    full: float
    blocks: int
    block_size: tuple[int, int]

    def __str__(self) -> str:
        return (
            f"{self.blocks} blocks of {self.block_size[0]}x{self.block_size[1]}: skipped {self.skipped:.1%}, "
            f"full {self.full:.1%}, partial {self.partial:.1%}"
        )


def block_sparsity(bm) -> BlockSparsity:
    """Shares of skipped, partial and full blocks of a ``BlockMask`` (see :func:`block_kinds`)."""
    kinds = block_kinds(bm)
    n = kinds.numel()
    share = lambda code: int((kinds == code).sum()) / n
    return BlockSparsity(share(SKIPPED), share(PARTIAL), share(FULL), n, tuple(bm.BLOCK_SIZE))
