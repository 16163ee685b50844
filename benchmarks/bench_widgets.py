"""Interactive widget latency: what a slider move costs, end to end (PNG ready to send).

Targets (the widgets must feel instant in a class), median over the repeats, on the offline default
model (all-MiniLM-L6-v2, 6 layers x 12 heads) and a 64-token text:
  * AttentionExplorer, layer/head change (cached passes, no forward): < 100 ms;
  * AttentionExplorer, mask change that needs a forward pass (a new random_drop seed): < 250 ms;
  * MaskingExplorer, epoch slider: < 100 ms.
These are absolute times by design (a human waits on them), so the record also keeps the machine,
the torch thread count and the load average; the raw forward pass is reported as a reference.

Run: ``make bench`` or ``python benchmarks/bench_widgets.py [--repeats N] [--threads N] [--no-record]``.
``--threads N`` sets torch's thread count for the raw forward reference (the explorer uses one
thread for its updates by default, see ``AttentionExplorer(threads=...)``): on a CPU shared with
other jobs, several threads oversubscribe the cores and a forward pass can take 10x longer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from _harness import write_record

from dynmask_viz.hf import load_model, load_tokenizer
from dynmask_viz.widgets import AttentionExplorer, MaskingExplorer

TEXT = (
    "Anarchism is a political philosophy and movement that is skeptical of all justifications for "
    "authority and seeks to abolish the institutions it claims maintain unnecessary coercion and "
    "hierarchy, typically including the state and capitalism. Anarchism advocates for the "
    "replacement of the state with stateless societies and voluntary free associations."
)
TOKENS = 64


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    """Median milliseconds of ``fn(i)`` over ``repeats`` calls (``i`` = call number)."""
    for i in range(warmup):
        fn(-1 - i)
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--no-record", action="store_true", help="do not write data/results/bench_widgets.json"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) first (default: torch's own choice)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model(), load_tokenizer()
    explorer = AttentionExplorer(TEXT, model, tokenizer, rule="causal", max_length=TOKENS)
    n = len(explorer.state.tokens)
    if n != TOKENS:
        print(f"the benchmark text must reach {TOKENS} tokens; got {n}", file=sys.stderr)
        return 1
    encoded = tokenizer(TEXT, truncation=True, max_length=TOKENS, return_tensors="pt")

    def raw_forward(i):
        with torch.no_grad():
            model(**encoded, output_attentions=True)

    def layer_head(i):
        calls = explorer.forward_calls
        explorer.set(layer=i % 6, head=(5 * i) % 12)
        assert explorer.forward_calls == calls, "a layer/head change ran the model"

    def new_mask(i):
        calls = explorer.forward_calls
        explorer.set(rule="random_drop", mask_seed=1000 + i)  # never seen before: one forward
        assert explorer.forward_calls == calls + 1

    masking = MaskingExplorer(seed=0, epochs=10)
    results = {
        "tokens": n,
        "torch_threads": torch.get_num_threads(),  # for the raw forward reference
        "explorer_threads": explorer.threads,
        "load_average_1min": os.getloadavg()[0],
        "raw_forward_ms": median_ms(raw_forward, args.repeats),
        "attention_layer_head_ms": median_ms(layer_head, args.repeats),
        "attention_forward_ms": median_ms(new_mask, args.repeats),
        "masking_epoch_ms": median_ms(lambda i: masking.set(epoch=i % 10), args.repeats),
    }
    targets = [
        ("AttentionExplorer layer/head change (no forward)", "attention_layer_head_ms", 100),
        ("AttentionExplorer mask change with a forward pass", "attention_forward_ms", 250),
        ("MaskingExplorer epoch slider", "masking_epoch_ms", 100),
    ]
    print(
        f"bench_widgets: {n} tokens, torch threads {results['torch_threads']}, "
        f"load average {results['load_average_1min']:.1f}, raw forward {results['raw_forward_ms']:.1f} ms"
    )
    ok = True
    for label, key, target in targets:
        passed = results[key] < target
        ok &= passed
        print(
            f"  [{'PASS' if passed else 'FAIL'}] {label}: {results[key]:.1f} ms median (target < {target} ms)"
        )
    results["targets_ms"] = {key: target for _, key, target in targets}
    results["passed"] = ok
    path = write_record("bench_widgets", results, record=not args.no_record)
    if path:
        print(f"recorded in {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
