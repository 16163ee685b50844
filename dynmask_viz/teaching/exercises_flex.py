"""Checks for the exercises of chapter 10 (FlexAttention: block masks, compile cost, keep tables).

Same contract as every check (:mod:`.checks`): each ``check_*`` returns a
:class:`~dynmask_viz.teaching.checks.CheckResult`, truthy when the answer is right, and never
raises on a wrong, missing (``None`` / ``...``) or malformed answer. The expected answer is
computed inside the check from its other arguments (sizes), so a notebook cell never shows it,
nor how the mask_mod exercise's target is built (:func:`mask_mod_target` gives it to draw); a
wrong other argument raises a ``ValueError`` naming it.

Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

import dis
import inspect
import math
import types
import warnings

import torch

from ..attention_masks import MaskRule, block_sparsity, causal
from .checks import CheckResult, as_number, is_close, is_missing, no_answer, not_yet, passed

__all__ = ["check_causal_skipped_share", "check_mask_mod", "check_table_mib", "mask_mod_target"]

SHARE_TOL = 0.005
MIB = 2**20
WINDOW, SINK = 3, 0  # the mask_mod exercise: a causal window of 3 keys (self included) and key 0
_NAME_LOADS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_GLOBALS"}
WRITE_IT = "def my_mask_mod(b, h, q_idx, kv_idx): return comparisons of q_idx and kv_idx joined by & and |."


def _positive_ints(fn: str, **values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{fn}({name}=...) must be an int >= 1; got {value!r}.")


def _fraction(answer) -> tuple[float | None, CheckResult | None]:
    if isinstance(answer, str) and answer.strip().endswith("%"):
        return None, not_yet("That is a percentage: give it as a fraction.", "0.25, not 25 %.")
    value = as_number(answer)
    if value is None:
        return None, not_yet(f"Expected a number between 0 and 1, got {answer!r}.")
    return value, None


def check_causal_skipped_share(answer, *, length: int, block_size: int) -> CheckResult:
    """Share of the blocks of ``causal()``'s ``BlockMask`` that FlexAttention skips.

    Args:
        answer: A fraction in [0, 1] (within 0.005).
        length: Queries and keys.
        block_size: FlexAttention's block side.
    """
    _positive_ints("check_causal_skipped_share", length=length, block_size=block_size)
    if is_missing(answer):
        return no_answer("a share between 0 and 1")
    value, problem = _fraction(answer)
    if problem is not None:  # (a CheckResult that is not ok is falsy)
        return problem
    s = block_sparsity(causal().block_mask(1, 1, length, block_size=block_size))
    n = math.ceil(length / block_size)
    close = lambda target: is_close(value, target, SHARE_TOL)
    if close(s.skipped):
        return passed(
            f"{n} x {n} = {n * n} blocks; the {n * (n - 1) // 2} above the diagonal hold only "
            f"later keys, so {s.skipped:.4f} are skipped. The {n} diagonal blocks are partial "
            f"(mask_mod runs there), the rest full: the share tends to 1/2 only as blocks shrink."
        )
    if 1.0 < value <= 100.0 and is_close(value / 100.0, s.skipped, SHARE_TOL):
        return not_yet("That looks like a percentage: give it as a fraction.")
    if close(0.5):
        return not_yet(
            "Half of the *pairs* are blocked, but a block is skipped only if all its pairs are.",
            "The blocks on the diagonal mix allowed and blocked pairs: they are computed.",
        )
    if close(1 - s.skipped):
        return not_yet("That is the share of blocks that are *computed* (full or partial).")
    if close(s.partial):
        return not_yet("That is the share of diagonal (partial) blocks.", "Count the blocks above them.")
    return not_yet(
        f"{value:g} is not it (within {SHARE_TOL}).",
        f"Count the blocks: {length} tokens in blocks of {block_size} per side; which hold no allowed pair?",
    )


def mask_mod_target(length: int = 12) -> torch.Tensor:
    """The mask the mask_mod exercise asks for, to draw: the notebook shows it, not how it is built.

    Args:
        length: Queries and keys, an int >= 1.

    Returns:
        bool ``[length, length]``, True = may attend: each query sees itself, the
        ``WINDOW - 1`` keys before it and key ``SINK``, never a later key.
    """
    _positive_ints("mask_mod_target", length=length)
    q, k = torch.arange(length).view(length, 1), torch.arange(length).view(1, length)
    return ((q >= k) & (q - k < WINDOW)) | ((k == SINK) & (q >= k))


def _names_used(code) -> set[str]:
    """Global and closure names a function's code loads, nested lambdas and comprehensions
    included (not attribute names: ``q_idx.T`` must not match a global ``T``)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _NAME_LOADS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _borrowed(answer) -> str | None:
    """What ``answer`` takes ready-made instead of computing the mask itself, or None.

    Looks at the values its code can reach by name (globals, closure, defaults): a
    :class:`MaskRule`, anything from ``dynmask_viz`` (the catalogue's factories), or a stored
    mask (a tensor with more than one element, e.g. the notebook's ``target``).
    """
    code = getattr(answer, "__code__", None)
    if code is None:
        return None
    scope = dict(getattr(answer, "__globals__", {}))
    cells = getattr(answer, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, cells):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # a closure cell not yet filled
            continue
    defaults = list(getattr(answer, "__defaults__", None) or ())
    defaults += list((getattr(answer, "__kwdefaults__", None) or {}).values())
    reached = [(name, scope[name]) for name in sorted(_names_used(code)) if name in scope]
    for name, value in reached + [("a default argument", value) for value in defaults]:
        home = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        from_package = isinstance(home, str) and home.split(".")[0] == "dynmask_viz"
        if isinstance(value, MaskRule) or (from_package and not isinstance(value, torch.Tensor)):
            return f"It uses `{name}` from dynmask_viz (the catalogue)"
        if isinstance(value, torch.Tensor) and value.numel() > 1:
            return f"It reads the stored tensor `{name}` instead of computing the mask"
    return None


def check_mask_mod(answer, *, length: int = 12) -> CheckResult:
    """A ``mask_mod(b, h, q_idx, kv_idx)`` the student wrote, whose mask is :func:`mask_mod_target`.

    The exercise asks for the function written from index comparisons: a :class:`MaskRule`, a
    function calling the catalogue (``causal()``, ``sliding_window``, ...) or one reading a stored
    mask (the drawn ``target``) is turned down with a message saying so. Evaluated twice: by
    broadcasting index tensors (like ``MaskRule.dense``) and under ``torch.vmap`` with 0-d
    indices (``create_mask``, as ``create_block_mask`` does).

    Args:
        answer: A function ``(b, h, q_idx, kv_idx) -> bool tensor``.
        length: Queries and keys of the target, an int >= 1.
    """
    from torch.nn.attention.flex_attention import create_mask

    _positive_ints("check_mask_mod", length=length)
    target, n = mask_mod_target(length), length
    if is_missing(answer):
        return no_answer("a function mask_mod(b, h, q_idx, kv_idx) returning a bool tensor")
    if isinstance(answer, MaskRule):
        return not_yet(
            f"That is a MaskRule ({answer.name}): this exercise asks you to write the mask_mod yourself.",
            WRITE_IT,
        )
    if not callable(answer):
        return not_yet(f"Expected a function, got {type(answer).__name__}.", WRITE_IT)
    borrowed = _borrowed(answer)
    if borrowed is not None:
        return not_yet(f"{borrowed}: this exercise asks you to write the mask_mod yourself.", WRITE_IT)
    q, k = torch.arange(n).view(n, 1), torch.arange(n).view(1, n)
    try:
        dense = answer(torch.tensor(0), torch.tensor(0), q, k)
        if is_missing(dense):  # the notebook's placeholder function returns None
            return no_answer("a mask_mod that returns a bool tensor (it returns None)")
        dense = torch.as_tensor(dense)
    except Exception as exc:  # the student's code: any error is feedback, never a crash
        return not_yet(f"Calling it on index tensors raised {type(exc).__name__}: {exc}".strip()[:300])
    if dense.dtype != torch.bool:
        return not_yet(
            f"It returned {dense.dtype}; a mask_mod returns bool.", "Use comparisons (q_idx >= kv_idx)."
        )
    try:
        dense = torch.broadcast_to(dense, (n, n))
    except RuntimeError:
        return not_yet(f"It returned shape {tuple(dense.shape)}, not one that broadcasts to [{n}, {n}].")
    if torch.equal(dense, ~target):
        return not_yet("It is inverted: True must mean *may attend*.")
    if not torch.equal(dense, target):
        if torch.equal(dense, target.T):
            return not_yet(
                "Rows and columns are swapped.", "Rows are queries (q_idx), columns keys (kv_idx)."
            )
        wrong = (dense != target).nonzero().tolist()
        q0, k0 = wrong[0]
        should = "may attend" if bool(target[q0, k0]) else "must be blocked"
        return not_yet(
            f"{len(wrong)} of {n * n} pairs differ; first: query {q0}, key {k0} {should}.",
            "Compare with the picture of the target row by row.",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vmapped = create_mask(answer, 1, 1, n, n, device="cpu")[0, 0]
    except Exception as exc:
        return not_yet(
            f"Right on index tensors, but FlexAttention's vmap call fails ({type(exc).__name__}).",
            "No Python if/and/or on tensor values: use &, |, ~ and torch.where.",
        )
    if not torch.equal(vmapped, target):
        return not_yet(
            "Right when broadcast, different under vmap.", "Use only tensor ops, no Python branching."
        )
    return passed(f"Your mask_mod gives the target's {int(target.sum())} allowed pairs, also under vmap.")


def check_table_mib(answer, *, batch: int, heads: int, q_len: int, kv_len: int | None = None) -> CheckResult:
    """MiB of the keep table ``flex_mask_mod`` builds for a per-head rule (one byte a bool).

    Args:
        answer: Size in MiB (2**20 bytes; within 1 %).
        batch, heads, q_len: Sizes of the attention.
        kv_len: Keys; default ``q_len``.
    """
    kv_len = q_len if kv_len is None else kv_len
    _positive_ints("check_table_mib", batch=batch, heads=heads, q_len=q_len, kv_len=kv_len)
    if is_missing(answer):
        return no_answer("a size in MiB")
    value = as_number(answer)
    if value is None or value <= 0:
        return not_yet(f"Expected a positive number of MiB, got {answer!r}.")
    cells = batch * heads * q_len * kv_len
    expected = cells / MIB
    near = lambda target: abs(value - target) <= 0.01 * target
    if near(expected):
        return passed(f"{batch} x {heads} x {q_len} x {kv_len} bools, one byte each: {expected:g} MiB.")
    if near(cells / 1e6):
        return not_yet("That is in MB (10**6 bytes).", "A MiB is 2**20 = 1,048,576 bytes.")
    if near(expected / 8):
        return not_yet("A torch bool takes a byte, not a bit.")
    if near(expected * 4):
        return not_yet("The table holds bools (1 byte), not float32 (4 bytes).")
    if near(expected / heads) or near(expected / batch):
        return not_yet("A per-head rule keeps one table row per example *and* per head.")
    return not_yet(f"{value:g} MiB is not it.", "One byte per (example, head, query, key).")
