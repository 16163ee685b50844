"""Fill-mask speed: the committed models on one intra-op thread vs torch's default threads.

``fill_mask_view`` (and ``FillMaskExplorer``, which calls it) runs the models on one thread by
default (``threads=1``). A forward pass of one 128-token row through a 4-layer, 256-wide model is
a few hundred small ops; with torch's default threads next to a busy process, every op waits
at its join for the thread the machine has descheduled. Chapter 02 checks the committed
memorization numbers with 512 such views: in a Jupyter kernel next to one busy process it took
573 s on two threads and 43 s on one (2026-12-01, 2 cores of an AMD EPYC).

Targets, on the committed static and dynamic models and training rows fed as in training (each
view runs both models), in one run, interleaved, each condition with torch's default threads:
  * busy (one CPU-bound neighbour process): one thread >= 1.5x as fast as the default threads;
  * quiet: one thread at most 1.5x as slow (a speed-up >= 0.67x) as the default threads (what it costs when
    the machine is idle).

Run: ``make bench`` or ``python benchmarks/bench_fill_mask.py [--repeats N] [--conditions quiet busy]
[--no-record]``.
"""

from __future__ import annotations

import sys

import torch
from _harness import CONDITIONS, check, condition, finish, machine, time_interleaved
from _harness import parser as bench_parser

from dynmask_viz.analysis import draw_training_input, fill_mask_view
from dynmask_viz.experiments.fill_mask_models import training_sequences, training_setup
from dynmask_viz.hf import load_mlm
from dynmask_viz.masking import MaskingVocab

ROWS = 4  # views per timed call: rows 0-3, each under the trained mask 9


def main(argv=None) -> int:
    parser = bench_parser(__doc__, "bench_fill_mask", repeats=10)
    args = parser.parse_args(argv)
    static, tokenizer = load_mlm("static")
    models = {"static": static, "dynamic": load_mlm("dynamic")[0]}
    rows, setup = training_sequences("static"), training_setup("static")
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    inputs = [
        (
            rows[i],
            *draw_training_input(
                rows[i], vocab, setup["masking"], seed=setup["mask_seed"], mask_epoch=9, example_id=i
            ),
        )
        for i in range(ROWS)
    ]
    default_threads = torch.get_num_threads()
    print(
        f"bench_fill_mask: {ROWS} views of {rows.shape[1]} tokens x 2 models, {machine()['cpu']}, "
        f"{machine()['cores']} cores, torch default threads {default_threads}"
    )

    def views(threads):
        for ids, masked, fed in inputs:
            fill_mask_view(models, tokenizer, ids, masked, fed_ids=fed, threads=threads)

    fns = {"one_thread": lambda: views(1), "default_threads": lambda: views(None)}
    targets = {  # condition -> (label, ratio default/one, target, higher is better)
        "busy": ("one thread vs default threads, speed-up", 1.5, True),
        "quiet": ("one thread vs default threads, speed-up (0.67x: at most 1.5x slower)", 0.67, True),
    }
    results, ok = {}, True
    for name in args.conditions:
        print(f"\n[{name}] {CONDITIONS[name]}")
        with condition(name):
            t = time_interleaved(fns, repeats=args.repeats, warmup=1)
        speedup = t["default_threads"] / t["one_thread"]
        for path, seconds in t.items():
            print(f"  {path:<16}{seconds / ROWS * 1000:>9.1f} ms per view")
        label, goal, up = targets[name]
        met = check(label, speedup, goal, higher_is_better=up)
        ok &= met
        results[name] = {
            "what": CONDITIONS[name],
            "ms_per_view": {k: v / ROWS * 1000 for k, v in t.items()},
            "speedup_one_thread": speedup,
            "target": goal,
            "target_met": met,
        }
    return finish(
        "bench_fill_mask",
        {"views": ROWS, "default_threads": default_threads, "conditions": results, "targets_met": ok},
        ok=ok,
        record=not args.no_record,
    )


if __name__ == "__main__":
    sys.exit(main())
