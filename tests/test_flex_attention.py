"""FlexAttention for every catalogue rule: the keep table of ``random_drop`` (bit-identical to
``.dense``), flex_attention equal to SDPA with the dense mask, block kinds against a reference
computed from the dense mask, and every rule compiling in bounded time (in a subprocess with
a hard per-rule timeout, so a regression fails instead of hanging CI). True = may attend.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from _flex_helpers import catalogue
from torch.nn.attention.flex_attention import create_mask

from dynmask_viz.attention_masks import (
    MaskError,
    MaskRule,
    causal,
    flex,
    per_document,
    random_drop,
    sliding_window,
)
from dynmask_viz.attention_masks.flex import (
    BLOCK_KINDS,
    block_kinds,
    block_sparsity,
    check_flex,
    flex_mask_mod,
)

B, H, L = 2, 2, 12
RULES = catalogue(B, H, L)
TABULATED = {"random_drop", "random_drop_shared_heads", "causal_and_random_drop"} | {
    "not_random_drop_or_padding",
    "per_document_random_drop",
}
# Per rule, compile + first run, on 2 slow shared cores. Measured: 13-26 s for the first compile
# of a process, about 4-10 s for later rules, 0.2-0.5 s from Inductor's cache; 80-144 s in all.
COMPILE_BOUND_S = 120.0


def _qkv(batch=B, heads=H, length=L, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, heads, length, dim, generator=g) for _ in range(3))


def _reference_kinds(dense: torch.Tensor, block: int) -> torch.Tensor:
    """Block kinds from the dense mask: all False -> skipped, all True -> full, else partial
    (the part of a ragged last block past the sequence counts as False)."""
    b, h, q, k = dense.shape
    nq, nk = -(-q // block), -(-k // block)
    padded = torch.zeros(b, h, nq * block, nk * block, dtype=torch.bool)
    padded[..., :q, :k] = dense
    blocks = padded.view(b, h, nq, block, nk, block)
    some, every = blocks.any(-1).any(-2), blocks.all(-1).all(-2)
    return torch.where(every, 2, torch.where(some, 1, 0)).to(torch.int8)


def test_tabulate_marks_random_drop_and_every_composition_containing_it():
    assert {name for name, rule in RULES.items() if rule.tabulate} == TABULATED
    drop = random_drop(0.1, 0)
    ids = torch.tensor([[0, 0, 1, 1]])
    composed = (causal() & drop, drop | causal(), ~drop, per_document(drop, ids))
    for rule in (*composed, (drop & causal()).for_decoder()):
        assert rule.tabulate, rule.name
    assert not (causal() & sliding_window(3)).tabulate


@pytest.mark.parametrize("name", sorted(RULES))
def test_flex_mask_mod_is_bit_identical_to_dense(name):
    rule = RULES[name]
    mod = flex_mask_mod(rule, B, H, L)
    dense = rule.dense(B, H, L, L)
    assert (mod is not rule) == rule.tabulate  # only tabulate rules get a table
    assert torch.equal(mod.dense(B, H, L, L), dense)
    assert torch.equal(create_mask(mod, B, H, L, L, device="cpu"), dense)  # the vmap path flex uses
    # The block mask reads the same table: its blocks are the dense mask's blocks.
    bm = rule.block_mask(B, H, L, block_size=4)
    assert torch.equal(block_kinds(bm), _reference_kinds(dense, 4))
    if rule.tabulate:
        assert bm.mask_mod.name == f"{rule.name} [table]"


def test_the_table_fixes_its_sizes_and_says_which_one_differs():
    mod = (causal() & random_drop(0.2, 5)).flex_mask_mod(2, 3, 8, 6)
    assert mod.params["shape"] == (2, 3, 8, 6) and mod.params["bytes"] == 2 * 3 * 8 * 6
    wrong = {
        "batch=2": (1, 3, 8, 6),
        "heads=3": (2, 4, 8, 6),
        "q_len=8": (2, 3, 9, 6),
        "kv_len=6": (2, 3, 8, 8),
    }
    for dim, sizes in wrong.items():
        with pytest.raises(MaskError, match=dim):
            mod.dense(*sizes)
    # A rule shared by all heads keeps one head in its table, usable with any head count.
    shared = random_drop(0.3, 1, per_head=False).flex_mask_mod(1, 4, 8)
    assert shared.params["shape"] == (1, 1, 8, 8)
    assert torch.equal(shared.dense(1, 5, 8, 8), random_drop(0.3, 1, per_head=False).dense(1, 5, 8, 8))
    with pytest.raises(TypeError, match="flex_mask_mod"):
        flex_mask_mod(lambda b, h, q, k: q >= k, 1, 1, 4)


@pytest.mark.parametrize("name", sorted(RULES))
def test_flex_attention_equals_sdpa_with_the_dense_mask(name):
    q, k, v = _qkv()
    result = check_flex(RULES[name], q, k, v, block_size=4)
    assert result, str(result)
    assert result.out.shape == (B, H, L, 8)


def test_empty_rows_give_zeros_in_flex_and_sdpa():
    rule = RULES["not_random_drop_or_padding"] & causal() & sliding_window(1)  # only self, if kept
    q, k, v = _qkv()
    result = check_flex(rule, q, k, v, block_size=4)
    empty = ~rule.dense(B, H, L, L).any(-1)
    assert result and result.empty_rows == int(empty.sum()) > 0
    assert bool((result.out[empty] == 0).all())


def test_check_flex_reports_a_flex_mask_that_differs_from_the_dense_one():
    # Under vmap (create_block_mask) the indices are 0-d: this rule is causal there, and
    # anti-causal when broadcast by .dense. The check must catch the difference.
    two_faced = MaskRule("two_faced", fn=lambda b, h, q, k: (q >= k) if q.ndim == 0 else (q <= k))
    result = check_flex(two_faced, *_qkv(), block_size=4)
    assert not result and result.max_abs_diff > 1e-3
    assert "DIFFERENT" in str(result)


def test_block_sparsity_of_causal_at_1024_tokens():
    s = block_sparsity(causal().block_mask(1, 1, 1024, block_size=128))
    # 8 x 8 blocks: 28 below the diagonal (full), 8 on it (partial), 28 above (skipped).
    assert (s.skipped, s.full, s.partial, s.blocks) == (28 / 64, 28 / 64, 8 / 64, 64)
    assert BLOCK_KINDS == ("skipped", "partial", "full")
    assert "skipped 43.8%" in str(s)


# ---- every rule compiles in bounded time ----------------------------------------------------

_COMPILE_SCRIPT = """
import json, sys, time
sys.path[:0] = [{tests!r}]
import torch
torch.set_num_threads(1)
from _flex_helpers import catalogue
from dynmask_viz.attention_masks.flex import check_flex
length, heads = 128, 2
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, heads, length, 16, generator=g) for _ in range(3))
for name, rule in catalogue(2, heads, length).items():
    torch._dynamo.reset()  # a fresh Dynamo cache per rule: no recompile limit, a real compile
    print("START", name, flush=True)
    start = time.perf_counter()
    result = check_flex(rule, q, k, v, block_size=64, compiled=True)
    seconds = time.perf_counter() - start
    done = dict(rule=name, seconds=seconds, ok=bool(result), diff=result.max_abs_diff)
    print("DONE", json.dumps(done), flush=True)
"""


def run_with_deadlines(script: str, bound_s: float, env: dict, log: Path) -> list[dict]:
    """Run ``script``; each ``START name`` line must be followed by ``DONE {json}`` within
    ``bound_s`` seconds, else the process is killed and the test fails naming the rule."""
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
    lines: queue.Queue = queue.Queue()
    reader = lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)]
    threading.Thread(target=reader, daemon=True).start()
    done, current, started = [], None, time.monotonic()
    try:
        while True:
            wait = bound_s - (time.monotonic() - started) if current else 600.0
            try:
                line = lines.get(timeout=max(wait, 0.0))
            except queue.Empty:
                pytest.fail(f"{current} did not compile and run within {bound_s:g} s (killed); stderr: {log}")
            if line is None:
                break
            if line.startswith("START "):
                current, started = line.split()[1], time.monotonic()
            elif line.startswith("DONE "):
                done.append(json.loads(line[5:]))
                current = None
    finally:
        proc.kill()
        proc.wait()
    if proc.returncode not in (0, -9) or current:
        tail = log.read_text()[-2000:]
        pytest.fail(f"the compile subprocess failed (exit {proc.returncode}) at {current}: {tail}")
    return done


def test_every_catalogue_rule_compiles_in_bounded_time(tmp_path):
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"), "OMP_NUM_THREADS": "1"}
    script = _COMPILE_SCRIPT.format(tests=str(Path(__file__).parent))
    done = run_with_deadlines(script, COMPILE_BOUND_S, env, tmp_path / "stderr.txt")
    times = {d["rule"]: round(d["seconds"], 1) for d in done}
    print("compile + first run, s:", times)
    assert set(times) == set(catalogue(2, 2, 128))
    bad = [d for d in done if not d["ok"]]
    assert not bad, f"compiled flex_attention differs from SDPA + dense mask: {bad}"


def test_the_deadline_kills_a_compile_that_hangs(tmp_path):
    # The guard itself: a "rule" that takes longer than its bound fails the test, named.
    script = "import time\nprint('START slow_rule', flush=True)\ntime.sleep(60)\n"
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="slow_rule did not compile"):
        run_with_deadlines(script, 1.0, dict(os.environ), tmp_path / "err.txt")
    assert time.monotonic() - start < 30


def test_check_flex_silences_only_the_eager_path_notice():
    import torch.nn.attention.flex_attention as flex_module

    q, k, v = _qkv()
    flex_module._WARNINGS_SHOWN.discard("flex_attention_performance")  # it warns once a process
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_flex(causal(), q, k, v, block_size=4)


def test_check_flex_compiled_shows_the_notice_of_a_fallback_to_the_eager_path(monkeypatch):
    # Past Dynamo's recompile limit the compiled function runs the eager path, whose notice is
    # then the one Python warning of the fallback: check_flex(compiled=True) must not hide it.
    import torch.nn.attention.flex_attention as flex_module

    monkeypatch.setattr(flex, "compiled_flex_attention", lambda: flex_module.flex_attention)
    flex_module._WARNINGS_SHOWN.discard("flex_attention_performance")
    with pytest.warns(UserWarning, match="flex_attention called without torch.compile"):
        assert check_flex(causal(), *_qkv(), block_size=4, compiled=True)


def test_compiled_flex_attention_lifts_the_recompile_limit_during_each_call_only(monkeypatch):
    # A stand-in for the compiled kernel reads the limit in force inside the call (no compile).
    # The outer limits are set with config.patch: pytest's monkeypatch would delete the config
    # entry on undo (it finds no instance attribute to restore) and hide it for later tests.
    config, seen = torch._dynamo.config, []

    def kernel(*args, fail=False, **kwargs):
        seen.append(config.recompile_limit)
        if fail:
            raise RuntimeError("compile failed")
        return args

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: kernel)
    run = flex.compiled_flex_attention.__wrapped__()  # a new one: not the process's cached one
    assert run.compiled is kernel
    with config.patch(recompile_limit=8):
        assert run(1, 2) == (1, 2)
        assert seen == [flex.RECOMPILE_LIMIT] and config.recompile_limit == 8
        with pytest.raises(RuntimeError, match="compile failed"):
            run(fail=True)
        assert seen[-1] == flex.RECOMPILE_LIMIT and config.recompile_limit == 8
    with config.patch(recompile_limit=500):  # a higher limit is kept
        run()
        assert seen[-1] == 500 and config.recompile_limit == 500
