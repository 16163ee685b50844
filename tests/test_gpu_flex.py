"""Compiled FlexAttention on CUDA against SDPA with the dense mask (GPU-marked: skipped without
CUDA; run by ``tools/gpu_check.py`` on a lent GPU). On the CPU the same rules are checked by
tests/test_flex_attention.py; here the Triton kernels Inductor builds for a GPU are.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import torch
from _flex_helpers import catalogue

from dynmask_viz.attention_masks.flex import block_sparsity, check_flex

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

B, H, L, D = 2, 4, 512, 64
# Structural rules, a data rule, the keep-table rules (random_drop and a composition with it).
NAMES = ("causal", "sliding_window", "document", "padding", "random_drop", "causal_and_random_drop")


def _finding(**fields) -> None:
    path = os.environ.get("DYNMASK_GPU_FINDINGS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": "gpu_flex", **fields}) + "\n")


@pytest.mark.parametrize("name", NAMES)
def test_compiled_flex_attention_on_cuda_equals_sdpa(name):
    rule = catalogue(B, H, L, device="cuda")[name]  # data rules from tensors on the GPU
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, L, D, device="cuda", generator=g) for _ in range(3))
    began = time.perf_counter()
    result = check_flex(rule, q, k, v, block_size=128, compiled=True, atol=2e-3, rtol=2e-3)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    from dynmask_viz.attention_masks.flex import block_mask

    sparsity = block_sparsity(block_mask(rule, B, H, L, L, "cuda"))
    _finding(
        rule=name,
        ok=bool(result),
        max_abs_diff=result.max_abs_diff,
        first_call_s=round(seconds, 2),
        sparsity=str(sparsity),
    )
    assert result, str(result)
