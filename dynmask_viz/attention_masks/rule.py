"""``MaskRule``: a named, composable FlexAttention ``mask_mod`` (empty rows: :mod:`.empty`).

Boolean convention: everything here returns bool tensors where ``True`` = *the query may
attend to the key*. A rule is a pure function of broadcastable index tensors
``(b, h, q_idx, kv_idx)``; it only uses tensor ops (no Python branching on tensor values), so
the same rule can be

* materialized densely by broadcasting ``arange`` tensors (:meth:`MaskRule.dense`), and
* handed to ``torch.nn.attention.flex_attention.create_mask`` / ``create_block_mask``, which
  call it under ``torch.vmap`` with 0-d index tensors (:meth:`MaskRule.block_mask`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from ._decoder import decoder_combination, decoder_view

MaskMod = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

# Operator precedence, used only to parenthesize composed names ("(a | b) & c").
_PREC_OR, _PREC_AND, _PREC_NOT, _PREC_ATOM = 0, 1, 2, 3
_DIMS = ("batch", "heads", "q_len", "kv_len")
TABLE_SOURCE = "the keep table of flex_mask_mod"  # the source of a table's size constraints


class MaskError(ValueError):
    """A mask (or the data used to build one) that is malformed or would be silently misread."""


@dataclass(frozen=True, eq=False)
class MaskRule:
    """A FlexAttention-style ``mask_mod`` with a readable name. ``True`` = may attend.

    Build rules with the factories of :mod:`dynmask_viz.attention_masks` and combine them with
    ``&``, ``|`` and ``~`` (or :func:`and_rules`, :func:`or_rules`, :func:`not_rule`).
    ``eq=False`` keeps identity hashing, which FlexAttention's ``BlockMask`` relies on.

    Attributes:
        name: Display name, e.g. ``"causal & sliding_window(w=4)"``.
        fn: ``fn(b, h, q_idx, kv_idx) -> bool tensor`` of the broadcast shape of the indices.
        params: Parameters for display (never read by ``fn``).
        sizes: Size constraints ``(dim, size, source)`` from data the rule was built on, e.g.
            ``("kv_len", 8, "padding")``; ``dim`` is one of batch, heads, q_len, kv_len.
            Batch/head data of size 1 broadcasts and records no constraint.
        per_head: Whether the rule can differ between heads (then a ``[B, H, Q, K]``
            materialization is needed instead of ``[B, 1, Q, K]``).
        device: Device of the data the rule was built on (``None`` for pure index rules).
        precedence: Operator precedence of the top-level operation, for naming only.
        absolute: Whether the rule reads ``q_idx``/``kv_idx`` as absolute positions in the text
            (``prefix_lm``, ``global_tokens`` by position), not only their difference
            (``causal``, ``sliding_window``) or slots of the data it was built on. With left
            padding such a rule must be evaluated at each text's own positions
            (:meth:`reads_slots` tells whether it also reads per-slot data).
        looks_ahead: Whether the rule lets queries attend to later keys *on purpose*
            (``prefix_lm``, ``sliding_window(causal=False)``, ``global_tokens``; kept by
            ``&`` and ``|`` when any part has it, dropped by ``~``). On a decoder,
            ``to_hf_mask`` then applies :meth:`for_decoder` instead of adding the model's
            causal mask, so ``prefix_lm(4)`` gives GPT-2 a prefix-LM mask. ``full`` and data
            rules (``document``, ``keep_tokens``...) restrict nothing in time: a decoder stays
            causal under them.
        decoder_fn: How a causal model applies a combined rule that looks ahead (see
            :meth:`for_decoder`); None: ``fn`` itself for a rule that looks ahead, ``fn & causal``
            for one that does not.
        tabulate: Whether FlexAttention reads the rule from a keep table computed by
            :meth:`dense` instead of compiling ``fn`` (:func:`~.flex.flex_mask_mod`):
            ``random_drop``, whose hash Inductor would inline into an exponentially large
            kernel. Kept by ``&``, ``|``, ``~`` and ``per_document`` when any part has it.
    """

    name: str
    fn: MaskMod = field(repr=False)
    params: dict = field(default_factory=dict)
    sizes: tuple[tuple[str, int, str], ...] = ()
    per_head: bool = False
    device: torch.device | None = None
    precedence: int = field(default=_PREC_ATOM, repr=False)
    absolute: bool = False
    looks_ahead: bool = False
    decoder_fn: MaskMod | None = field(default=None, repr=False, compare=False)
    tabulate: bool = False

    def __call__(
        self, b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor
    ) -> torch.Tensor:
        """Evaluate the rule; True = query ``q_idx`` may attend to key ``kv_idx``.

        Args:
            b, h, q_idx, kv_idx: Integer index tensors that broadcast together (0-d under
                ``create_mask``'s vmap, e.g. ``[B,1,1,1]``, ``[1,H,1,1]``, ``[1,1,Q,1]`` and
                ``[1,1,1,K]`` in :meth:`dense`).

        Returns:
            bool tensor of the broadcast shape (possibly smaller, e.g. ``[1,1,Q,K]``).
        """
        return self.fn(b, h, q_idx, kv_idx)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"MaskRule({self.name!r})"

    def __and__(self, other: MaskRule) -> MaskRule:
        return and_rules(self, other) if isinstance(other, MaskRule) else NotImplemented

    def __or__(self, other: MaskRule) -> MaskRule:
        return or_rules(self, other) if isinstance(other, MaskRule) else NotImplemented

    def __invert__(self) -> MaskRule:
        return not_rule(self)

    def for_decoder(self) -> MaskRule:
        """The rule as a causal model (GPT-2...) applies it, causality included; True = may attend.

        Only the parts that look ahead on purpose see later keys: every other part is causal,
        as the decoder is without a rule. So ``document(ids) | prefix_lm(2)`` is causal within
        each document plus the 2-token prefix, and ``prefix_lm(4) & padding(m)`` keeps the
        prefix (``&`` only removes keys). A rule that does not look ahead gets ``& causal``.
        """
        fn = decoder_view(self)
        return replace(self, name=f"{self.name} (decoder)", fn=fn, decoder_fn=fn)

    @property
    def reads_slots(self) -> bool:
        """Whether the rule reads per-token data (``[.., L]`` tensors) indexed by slot."""
        return any(dim in ("q_len", "kv_len") for dim, _, _ in self.sizes)

    def check_sizes(self, batch: int, heads: int, q_len: int, kv_len: int) -> None:
        """Raise :class:`MaskError` if the rule's data does not fit these sizes."""
        actual = dict(zip(_DIMS, (batch, heads, q_len, kv_len)))
        for dim, size, source in self.sizes:
            if actual[dim] != size:
                rebuild = (
                    "make a new table for these sizes"
                    if source == TABLE_SOURCE
                    else ("rebuild the rule from tensors of the inputs you attend over")
                )
                raise MaskError(
                    f"{source} was built from data with {dim}={size}, but the mask is being "
                    f"materialized with {dim}={actual[dim]}. {rebuild.capitalize()}, or pass {dim}={size}."
                )

    def _resolve_device(self, device: torch.device | str | None) -> torch.device:
        if device is None:
            return self.device or torch.device("cpu")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise MaskError(
                f"device must be a torch.device or a name like 'cpu' or 'cuda:0'; got {device!r}."
            ) from None
        # A data rule reads its tensors inside fn: asked for on another device, it would index
        # them with indices of that device (an error deep in FlexAttention, seen on CUDA).
        own = self.device
        if own is not None and (
            own.type != dev.type or (None not in (own.index, dev.index) and own.index != dev.index)
        ):
            raise MaskError(
                f"{self.name} was built from tensors on {own}, but is asked for on {dev}. Build the "
                f"rule from tensors on {dev} (e.g. padding(attention_mask.to('{dev}'))), or leave "
                "device=None to use the data's device."
            )
        return dev

    def _sizes(self, batch, heads, q_len, kv_len, minimum: int = 0) -> tuple[int, int, int, int]:
        """Validated sizes (``kv_len=None`` means ``q_len``), checked against the rule's data."""
        kv_len = q_len if kv_len is None else kv_len
        sizes = dict(zip(_DIMS, (batch, heads, q_len, kv_len)))
        for dim, value in sizes.items():  # the dims are named like the parameters
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{self.name}: {dim} must be an int >= {minimum}; got {value!r}.")
            if value < minimum:
                raise MaskError(f"{self.name}: {dim} must be an int >= {minimum}; got {value}.")
        out = tuple(int(v) for v in sizes.values())
        self.check_sizes(*out)
        return out

    def dense(
        self,
        batch: int,
        heads: int,
        q_len: int,
        kv_len: int | None = None,
        device: torch.device | str | None = None,
        *,
        starts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Materialize the rule by broadcasting ``arange`` tensors. True = may attend.

        Args:
            batch, heads, q_len: Sizes of the mask, ints >= 0.
            kv_len: Number of keys, an int >= 0; defaults to ``q_len`` (self-attention).
            device: Defaults to the device of the rule's data, else CPU.
            starts: Optional int ``[batch]``: the slot of each example's first real token
                (left padding). An :attr:`absolute` rule is then evaluated at each text's own
                positions ``slot - start`` (slots before the start read as position 0: they
                are padding, blocked by the padding mask anyway), so a left-padded text gets
                the mask it gets alone. Other rules ignore it (``causal`` and
                ``sliding_window`` depend only on ``q - k``; data rules are read by slot).

        Returns:
            bool ``[batch, heads, q_len, kv_len]`` (contiguous, safe to modify).
        """
        batch, heads, q_len, kv_len = self._sizes(batch, heads, q_len, kv_len)
        dev = self._resolve_device(device)
        b, h, q, k = (
            torch.arange(n, device=dev).view(*(n if i == d else 1 for i in range(4)))
            for d, n in enumerate((batch, heads, q_len, kv_len))
        )
        if starts is not None and (
            not isinstance(starts, torch.Tensor)
            or tuple(starts.shape) != (batch,)
            or starts.is_floating_point()
            or starts.dtype == torch.bool
            or bool((starts < 0).any())
        ):
            raise MaskError(
                f"starts must be None or a non-negative int tensor [batch={batch}] (the first "
                f"real slot of each example); got {starts!r}."
            )
        if starts is not None and self.absolute and bool(starts.any()):
            if self.reads_slots:
                raise MaskError(
                    f"{self.name} reads absolute positions and per-slot data at once, so with "
                    "left padding it is ambiguous which to shift. Pad on the right "
                    "(tokenizer.padding_side = 'right'), or give the positions as per-slot data "
                    "too, e.g. global_tokens(bool [B, L] flags) built from the padded batch."
                )
            shift = starts.to(dev).view(batch, 1, 1, 1)
            q, k = (q - shift).clamp_min(0), (k - shift).clamp_min(0)
        out = self.fn(b, h, q, k)
        if out.dtype != torch.bool:
            raise MaskError(f"rule {self.name!r} returned {out.dtype}; a mask_mod returns bool.")
        return torch.broadcast_to(out, (batch, heads, q_len, kv_len)).contiguous()

    def flex_mask_mod(self, batch: int, heads: int, q_len: int, kv_len: int | None = None, device=None):
        """The ``mask_mod`` to give ``flex_attention`` / ``create_block_mask`` for these sizes.

        The rule itself, or, for a :attr:`tabulate` rule, a rule reading a keep table built
        here (bool ``[batch, heads or 1, q_len, kv_len]``, ``batch * heads * q_len * kv_len``
        bytes, valid for these sizes only). See :func:`~.flex.flex_mask_mod`.
        """
        from .flex import flex_mask_mod

        return flex_mask_mod(self, batch, heads, q_len, kv_len, device)

    def block_mask(
        self,
        batch: int,
        heads: int,
        q_len: int,
        kv_len: int | None = None,
        device: torch.device | str | None = None,
        block_size: int = 128,
    ):
        """A FlexAttention ``BlockMask`` of the rule (True = may attend), built with
        ``create_block_mask`` on :meth:`flex_mask_mod` (so a :attr:`tabulate` rule reads its
        keep table). See :func:`~.flex.block_mask` for the arguments.
        """
        from .flex import block_mask

        return block_mask(self, batch, heads, q_len, kv_len, device, block_size)


def _wrap(rule: MaskRule, precedence: int) -> str:
    return f"({rule.name})" if rule.precedence < precedence else rule.name


def _combine(rules: tuple[MaskRule, ...], op: str) -> MaskRule:
    if not rules or not all(isinstance(r, MaskRule) for r in rules):
        raise TypeError(f"{op}_rules expects one or more MaskRule objects; got {rules!r}.")
    if len(rules) == 1:
        return rules[0]
    fns = tuple(r.fn for r in rules)
    prec, sym = (_PREC_AND, " & ") if op == "and" else (_PREC_OR, " | ")

    def fn(b, h, q_idx, kv_idx):
        out = fns[0](b, h, q_idx, kv_idx)
        for f in fns[1:]:
            out = (out & f(b, h, q_idx, kv_idx)) if op == "and" else (out | f(b, h, q_idx, kv_idx))
        return out

    return MaskRule(
        name=sym.join(_wrap(r, prec) for r in rules),
        fn=fn,
        params={op: tuple(r.name for r in rules)},
        sizes=tuple(c for r in rules for c in r.sizes),
        per_head=any(r.per_head for r in rules),
        device=next((r.device for r in rules if r.device is not None), None),
        precedence=prec,
        absolute=any(r.absolute for r in rules),
        looks_ahead=any(r.looks_ahead for r in rules),
        decoder_fn=decoder_combination(rules, op),
        tabulate=any(r.tabulate for r in rules),
    )


def and_rules(*rules: MaskRule) -> MaskRule:
    """Intersection: a pair is allowed (True) only if every rule allows it. Same as ``a & b``."""
    return _combine(rules, "and")


def or_rules(*rules: MaskRule) -> MaskRule:
    """Union: a pair is allowed (True) if any rule allows it. Same as ``a | b``."""
    return _combine(rules, "or")


def not_rule(rule: MaskRule) -> MaskRule:
    """Complement: allowed (True) exactly where ``rule`` blocks. Same as ``~rule``."""
    if not isinstance(rule, MaskRule):
        raise TypeError(f"not_rule expects a MaskRule; got {type(rule).__name__}.")
    fn = rule.fn
    return MaskRule(
        name=f"~{_wrap(rule, _PREC_NOT)}",
        fn=lambda b, h, q, k: ~fn(b, h, q, k),
        params={"not": rule.name},
        sizes=rule.sizes,
        per_head=rule.per_head,
        device=rule.device,
        precedence=_PREC_NOT,
        absolute=rule.absolute,
        # The complement of a look-ahead rule is no rule that looks ahead on purpose (~prefix_lm
        # is "only later keys"): on a decoder it is taken within causality, like any rule.
        looks_ahead=False,
        tabulate=rule.tabulate,
    )
