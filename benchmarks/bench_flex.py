"""FlexAttention on CPU: compiled flex_attention with a rule's BlockMask vs SDPA with its dense mask.

At 2,048 tokens (batch 1, 4 heads of 64, float32), in one run, quiet and next to one CPU-bound
neighbour process, on ``--threads`` intra-op threads (default 1):
  * SDPA with the dense bool mask is the baseline (it computes every score);
  * compiled ``flex_attention`` with the rule's ``BlockMask`` skips the blocks with no allowed
    pair: ``causal`` (47 % of the blocks at 2,048) and ``sliding_window(256)`` (82 %);
  * for information: SDPA ``is_causal`` (a fused causal kernel, no mask tensor), and
    ``causal & random_drop(0.1)``, which FlexAttention reads from a keep table (no block is
    full, so every computed block applies the mask), and each rule's compile time.

Targets: flex >= 1.5x the baseline for causal and >= 4x for the window, in both conditions.

Run: ``make bench`` or ``python benchmarks/bench_flex.py [--repeats N] [--threads T]
[--conditions quiet busy] [--no-record]``.
"""

from __future__ import annotations

import sys
import time
import warnings

import torch
from _harness import CONDITIONS, check, condition, finish, machine, time_interleaved
from _harness import parser as bench_parser

from dynmask_viz.attention_masks import (
    block_sparsity,
    causal,
    compiled_flex_attention,
    random_drop,
    sliding_window,
)

LENGTH, HEADS, HEAD_DIM = 2048, 4, 64
RULES = {
    "causal": causal(),
    "window_256": sliding_window(256),
    "causal_random_drop": causal() & random_drop(0.1, 0),
}
TARGETS = {  # ratio name -> (label, target, higher is better)
    "causal": ("causal: flex_attention vs SDPA + bool mask", 1.5, True),
    "window_256": ("sliding_window(256): flex_attention vs SDPA + bool mask", 4.0, True),
}


def main(argv=None) -> int:
    parser = bench_parser(__doc__, "bench_flex", repeats=10)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, LENGTH, HEAD_DIM, generator=g) for _ in range(3))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    flex = compiled_flex_attention()
    fns, compile_s, skipped = {}, {}, {}
    for name, rule in RULES.items():
        bm = rule.block_mask(1, HEADS, LENGTH)
        dense = rule.dense(1, HEADS, LENGTH, LENGTH)
        skipped[name] = block_sparsity(bm).skipped
        start = time.perf_counter()
        flex(q, k, v, block_mask=bm)  # compiles
        compile_s[name] = time.perf_counter() - start
        fns[f"flex_{name}"] = lambda bm=bm: flex.compiled(q, k, v, block_mask=bm)
        fns[f"sdpa_mask_{name}"] = lambda m=dense: sdpa(q, k, v, attn_mask=m)
    fns["sdpa_is_causal"] = lambda: sdpa(q, k, v, is_causal=True)
    print(
        f"bench_flex: {LENGTH} tokens, {HEADS} heads of {HEAD_DIM}, {machine()['cpu']}, "
        f"{machine()['cores']} cores, {args.threads} thread(s)"
    )
    for name in RULES:
        print(f"  {name}: compile + first run {compile_s[name]:.1f} s, {skipped[name]:.0%} of blocks skipped")
    results = {}
    for cond in args.conditions:
        print(f"\n[{cond}] {CONDITIONS[cond]}")
        with condition(cond):
            t = time_interleaved(fns, repeats=args.repeats, warmup=2)
        for path, seconds in t.items():
            print(f"  {path:<28}{seconds * 1e3:>10.1f} ms (median)")
        ratios = {name: t[f"sdpa_mask_{name}"] / t[f"flex_{name}"] for name in RULES}
        ratios["causal_vs_is_causal"] = t["sdpa_is_causal"] / t["flex_causal"]
        print(f"  (info) causal flex vs SDPA is_causal: {ratios['causal_vs_is_causal']:.2f}x")
        print(
            f"  (info) causal & random_drop (keep table) vs SDPA + mask: {ratios['causal_random_drop']:.2f}x"
        )
        met = [
            check(label, ratios[key], goal, higher_is_better=up) for key, (label, goal, up) in TARGETS.items()
        ]
        results[cond] = {"what": CONDITIONS[cond], "seconds": t, "ratios": ratios, "targets_met": all(met)}
    ok = all(r["targets_met"] for r in results.values())
    payload = {
        "length": LENGTH,
        "heads": HEADS,
        "head_dim": HEAD_DIM,
        "threads": args.threads,
        "compile_seconds": compile_s,
        "skipped_block_share": skipped,
        "conditions": results,
        "targets_met": ok,
    }
    return finish("bench_flex", payload, ok=ok, record=not args.no_record)


if __name__ == "__main__":
    sys.exit(main())
