"""The one counter hash (dynmask_viz._hashing): every tensor variant, bit for bit against the
plain-Python reference, and the two users (MLM masks, random_drop) keyed through it."""

from __future__ import annotations

import torch

from dynmask_viz._hashing import (
    MASK32,
    coordinate_hash,
    coordinate_hash_py,
    fmix32_,
    fmix32_int64,
    fmix32_py,
    seed_key,
    to_unsigned,
)
from dynmask_viz.attention_masks import random_drop


def _words(n: int = 5000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 2**32, (n,), generator=gen)
    values[:4] = torch.tensor([0, 1, 2**31, 2**32 - 1])
    return values


def test_tensor_hash_matches_python_reference_bit_for_bit():
    values = _words()
    hashed = to_unsigned(fmix32_((values & 0xFFFFFFFF).to(torch.int32)))  # int32 wraps around
    assert hashed.tolist() == [fmix32_py(v) for v in values.tolist()]


def test_int64_hash_matches_python_reference_bit_for_bit():
    values = _words()
    hashed = fmix32_int64(values)
    assert hashed.dtype == torch.int64 and int(hashed.min()) >= 0 and int(hashed.max()) <= MASK32
    assert hashed.tolist() == [fmix32_py(v) for v in values.tolist()]
    assert torch.equal(values, _words())  # out of place: the input is untouched


def test_coordinate_hash_matches_python_reference_bit_for_bit():
    gen = torch.Generator().manual_seed(1)
    coords = [torch.randint(0, 300, (400,), generator=gen) for _ in range(4)]
    for seed in (0, 7, -3, 2**40 + 5):
        expected = [coordinate_hash_py(seed, *map(int, c)) for c in zip(*coords, strict=True)]
        assert coordinate_hash(seed, *coords).tolist() == expected
        # int32 indices (what compiled FlexAttention may pass) give the same words
        assert coordinate_hash(seed, *(c.to(torch.int32) for c in coords)).tolist() == expected


def test_seed_key_mixes_both_halves_of_a_64_bit_seed():
    assert seed_key(1) != seed_key(1 + 2**32) and seed_key(-1) == seed_key(2**64 - 1)


def test_random_drop_is_the_coordinate_hash_against_its_cut():
    rule = random_drop(0.3, seed=11)
    dense = rule.dense(2, 3, 5, 7)
    b, h, q, k = torch.meshgrid(*(torch.arange(n) for n in (2, 3, 5, 7)), indexing="ij")
    cut = round(0.3 * 2**32)
    expected = torch.tensor(
        [
            coordinate_hash_py(11, *map(int, x)) >= cut
            for x in zip(b.flatten(), h.flatten(), q.flatten(), k.flatten(), strict=True)
        ]
    ).reshape(2, 3, 5, 7)
    assert torch.equal(dense, expected)
