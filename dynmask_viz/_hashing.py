"""The one counter hash of the package: random numbers that are pure functions of coordinates.

Used for MLM masks keyed by (seed, example, epoch) (:mod:`dynmask_viz.masking`) and for the
``random_drop`` attention rule keyed by (seed, batch, head, query, key)
(:mod:`dynmask_viz.attention_masks`). Three implementations of MurmurHash3's ``fmix32``, each
tested bit for bit against the plain-Python reference :func:`fmix32_py`:

* :func:`fmix32_py`: Python ints, the reference (and the seed keys).
* :func:`fmix32_`: in place on ``int32`` tensors, the fast path of the masking engine.
* :func:`fmix32_int64`: out of place on ``int64`` tensors holding values in ``[0, 2**32)``,
  with multiplications split in 16-bit halves so no intermediate overflows: safe under
  ``vmap`` and FlexAttention compilation, which may hand ``mask_mod`` int32 indices.

Why not ``torch.Generator``? A generator is *state*: the mask an example gets would depend on
how many numbers were drawn before it (batch composition, order, DataLoader worker, rank).
Here every random number is a hash of its coordinates, so the same example in the same mask
epoch gets the same mask wherever and whenever it is processed, on any device.

Representation: 32-bit words are held in ``int32`` tensors (torch has no CPU shifts for
``uint32``). Multiplication wraps modulo 2**32, which is exactly the unsigned arithmetic the
hash needs; right shifts are made logical by masking off the sign-extended bits. Half the
memory traffic of int64 makes the whole pass about twice as fast. ``tests`` check every
function bit for bit against a plain-Python reference.
"""

from __future__ import annotations

import functools

import torch

MASK32 = 0xFFFFFFFF
_SIGN = -(1 << 31)  # the int32 with only the sign bit set
_GOLDEN = 0x9E3779B1  # odd constant spreading consecutive counters over 32 bits
_C1, _C2 = 0x85EBCA6B, 0xC2B2AE35  # MurmurHash3 fmix32 multipliers

# Distinct salts so that the streams used for different decisions are independent.
STREAM_SELECT = 0x5EEC7A11
STREAM_CORRUPT = 0x0BAD5EED
STREAM_REPLACE = 0x7E57AB1E
STREAM_SPAN = 0x5BA115AA
STREAM_COUNT = 0xC0047ED5  # fairseq's per-sequence U[0, 1) of count="fairseq"
_SALT_SEED, _SALT_EPOCH = 0x243F6A88, 0x03707344


def seed_key(seed: int) -> int:
    """A 32-bit key from any Python int seed (reduced to 64 bits, both halves mixed in)."""
    seed &= (1 << 64) - 1
    return fmix32_py(fmix32_py(seed ^ _SALT_SEED) ^ (seed >> 32))


def as_int32(value: int) -> int:
    """The int32 with the same 32 bits as the unsigned ``value`` (for tensor constants)."""
    value &= MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def fmix32_py(value: int) -> int:
    """MurmurHash3's 32-bit finaliser on a Python int (the reference the tensors must match)."""
    value &= MASK32
    value ^= value >> 16
    value = (value * _C1) & MASK32
    value ^= value >> 13
    value = (value * _C2) & MASK32
    return value ^ (value >> 16)


def fmix32_(x: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser, in place, on an int32 tensor. A bijection on 32 bits.

    Args:
        x: int32 tensor (any shape); overwritten.

    Returns:
        ``x``, hashed.
    """
    x ^= (x >> 16) & 0xFFFF
    x.mul_(as_int32(_C1))
    x ^= (x >> 13) & 0x7FFFF
    x.mul_(as_int32(_C2))
    x ^= (x >> 16) & 0xFFFF
    return x


def _mul32_int64(x: torch.Tensor, c: int) -> torch.Tensor:
    # x * c mod 2**32 in two 16-bit halves, so no intermediate exceeds 2**49 (no int64 overflow).
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & MASK32


def fmix32_int64(x: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser, out of place, on int64 values in ``[0, 2**32)``.

    Slower than :func:`fmix32_` but free of in-place ops and int32 wrap-around, so it traces
    and compiles (``vmap``, FlexAttention ``mask_mod``).

    Args:
        x: int64 tensor (any shape), values in ``[0, 2**32)``.

    Returns:
        int64 tensor of the same shape, values in ``[0, 2**32)``.
    """
    x = x ^ (x >> 16)
    x = _mul32_int64(x, _C1)
    x = x ^ (x >> 13)
    x = _mul32_int64(x, _C2)
    return x ^ (x >> 16)


# Distinct odd salts so that the four coordinates of an attention entry enter differently.
_COORD_SALTS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)


def coordinate_hash(seed: int, b, h, q, k) -> torch.Tensor:
    """Counter-based hash of ``(seed, b, h, q, k)`` to uniform ints in ``[0, 2**32)``.

    A pure function of its coordinates (no generator state), so dense and FlexAttention
    evaluation, any batching and any device give the same numbers.

    Args:
        seed: Any Python int.
        b, h, q, k: Integer index tensors (broadcastable): batch, head, query, key.

    Returns:
        int64 tensor of the broadcast shape of the indices.
    """
    x = seed_key(seed)
    for coord, salt in zip((b, h, q, k), _COORD_SALTS, strict=True):
        # int64 first: compiled FlexAttention kernels may pass int32 indices.
        x = fmix32_int64(((coord.to(torch.int64) + salt) & MASK32) ^ x)
    return x


def coordinate_hash_py(seed: int, b: int, h: int, q: int, k: int) -> int:
    """:func:`coordinate_hash` of one entry with Python ints (the reference for tests)."""
    x = seed_key(seed)
    for coord, salt in zip((b, h, q, k), _COORD_SALTS, strict=True):
        x = fmix32_py(((coord + salt) & MASK32) ^ x)
    return x


def to_unsigned(x: torch.Tensor) -> torch.Tensor:
    """int32 hash words as int64 values in ``[0, 2**32)`` (for ranking and modulo)."""
    return x.to(torch.int64) & MASK32


def below(u: torch.Tensor, p: float) -> torch.Tensor:
    """Bernoulli(p) from uniform 32-bit words: True where ``unsigned(u) < p * 2**32``."""
    threshold = round(p * (MASK32 + 1))
    if threshold >= MASK32 + 1:
        return torch.ones_like(u, dtype=torch.bool)
    # Flipping the sign bit maps unsigned order onto signed order.
    return (u ^ _SIGN) < threshold - (1 << 31)


def example_stream_keys(
    seed: int, example_ids: torch.Tensor, mask_epoch: int | torch.Tensor, streams: tuple[int, ...]
) -> torch.Tensor:
    """32-bit keys of several random streams for each example, from ``(seed, id, mask_epoch)``.

    Two hash rounds: ``(id, seed)``, then ``(that, epoch, stream)``. Each round is a bijection
    of its varying input, so distinct ids (for a seed) and distinct epochs (for an id and a
    stream) never share a key. All streams are hashed in one pass because per-op overhead,
    not arithmetic, dominates on ``[B]`` tensors.

    Args:
        seed: Experiment seed, any Python int (reduced to 64 bits).
        example_ids: ``[B]`` int64 ids in ``[0, 2**32)``.
        mask_epoch: int or ``[B]`` int64 tensor: which of the example's masks to draw.
        streams: Stream salts (``STREAM_SELECT``, ...).

    Returns:
        ``[len(streams), B]`` int32 keys.
    """
    ids = example_ids.to(torch.int64)
    key = fmix32_((ids ^ seed_key(seed)).to(torch.int32))
    epoch = torch.as_tensor(mask_epoch, dtype=torch.int64, device=ids.device).expand_as(ids)
    salts = torch.tensor([s ^ _SALT_EPOCH for s in streams], dtype=torch.int64, device=ids.device)
    mixed = ((epoch[None, :] * _GOLDEN + salts[:, None]) & MASK32).to(torch.int32)
    return fmix32_(key[None, :] ^ mixed)


def rehash(u: torch.Tensor, salt: int) -> torch.Tensor:
    """A second independent-looking word from a hash word (out of place)."""
    return fmix32_(u ^ as_int32(salt))


def keyed_uniform32(keys: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """Hash ``(key, counter)`` pairs to uniform 32-bit words, by broadcasting.

    Args:
        keys: int32 keys, e.g. ``[B, 1]``.
        counters: integer counters (positions, word or span ids), e.g. ``[B, L]``; reduced
            mod 2**32 (negative counters are fine).

    Returns:
        int32 tensor of the broadcast shape (32 uniform bits, see :func:`below`).
    """
    return fmix32_(keys.to(torch.int32) ^ (counters.to(torch.int32) * as_int32(_GOLDEN)))


@functools.lru_cache(maxsize=32)
def _position_weights(length: int, device: str) -> torch.Tensor:
    """``[L]`` fixed pseudo-random odd int64 weights, one per position (cached per length)."""
    hashed = [fmix32_py(i ^ 0x27D4EB2F) << 32 | fmix32_py(i ^ 0x165667B1) | 1 for i in range(length)]
    return torch.tensor([as_int64(h) for h in hashed], dtype=torch.int64, device=device)


def as_int64(value: int) -> int:
    """The int64 with the same 64 bits as the unsigned ``value``."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def content_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Example ids from token content, for features that carry no id.

    A weighted sum of the ids (one fixed odd 64-bit weight per position, wrapping around),
    then hashed. Padding is ignored and positions are counted from the first real token, so
    the id of a sequence is the same whatever it is batched or padded with. Identical
    sequences share an id (and therefore their masks).

    Args:
        input_ids: ``[B, L]`` token ids.
        attention_mask: ``[B, L]``, 1/True on real tokens.

    Returns:
        ``[B]`` int64 ids in ``[0, 2**32)``.
    """
    real = attention_mask.to(torch.bool)
    weights = _position_weights(input_ids.shape[1], str(input_ids.device))
    if bool(real[:, 0].all()):
        weights = weights.expand_as(input_ids)
    else:  # left padding: weight by position counted from the first real token
        weights = weights[(real.to(torch.int64).cumsum(1) - 1).clamp(min=0)]
    total = (torch.where(real, input_ids.to(torch.int64), 0) * weights).sum(1)
    folded = (total ^ (total >> 32) ^ real.sum(1)) & MASK32
    return to_unsigned(fmix32_(folded.to(torch.int32)))
