"""Attention extraction latency on the offline default model (issue 3).

Targets, for a 64-token input on CPU: forward pass + extraction under 50 ms median, and a
cached repeat (same text and mask, e.g. a widget changing only the layer) under 5 ms.

Run: ``make bench`` or ``python benchmarks/bench_attention.py [--repeats N] [--no-record]``.
"""

from __future__ import annotations

import argparse
import sys

from _harness import machine, time_interleaved, write_record

from dynmask_viz.assets.corpus import iter_sentences, load_wiki_articles
from dynmask_viz.attention_masks import sliding_window
from dynmask_viz.hf import extract_attention, load_model, load_tokenizer

LENGTH = 64


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    model, tokenizer = load_model(), load_tokenizer()
    text = " ".join(s for _, s in zip(range(8), iter_sentences(load_wiki_articles())))
    n_tokens = len(tokenizer(text, truncation=True, max_length=LENGTH)["input_ids"])
    assert n_tokens == LENGTH, n_tokens
    rule = sliding_window(7, causal=False)  # 7 tokens on each side, 15 keys
    t = time_interleaved(
        {
            "forward_extract": lambda: extract_attention(
                model, tokenizer, text, max_length=LENGTH, use_cache=False
            ),
            "forward_extract_masked": lambda: extract_attention(
                model, tokenizer, text, rule, max_length=LENGTH, use_cache=False
            ),
            "cached_repeat": lambda: extract_attention(model, tokenizer, text, rule, max_length=LENGTH),
        },
        repeats=args.repeats,
    )
    ms = {name: seconds * 1e3 for name, seconds in t.items()}
    print(f"bench_attention: {LENGTH} tokens, all-MiniLM-L6-v2 (6 layers x 12 heads), {machine()['cpu']}")
    for name, value in ms.items():
        print(f"  {name:<26}{value:>8.2f} ms (median)")
    targets = {"forward_extract": 50.0, "forward_extract_masked": 50.0, "cached_repeat": 5.0}
    ok = True
    for name, limit in targets.items():
        passed = ms[name] < limit
        ok &= passed
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {ms[name]:.2f} ms (target < {limit:g} ms)")
    write_record(
        "bench_attention",
        {"tokens": LENGTH, "median_ms": ms, "targets_ms": targets, "targets_met": ok},
        record=not args.no_record,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
