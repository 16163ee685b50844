"""What a layer mask costs per training step: the mask fine-tuning experiment's rules vs eager attention.

One training step (forward, backward, AdamW) of the experiment's classifier (the offline MiniLM,
top 2 layers trained, the ``cpu`` preset) on one batch of 32 real Rotten Tomatoes reviews, in one
run, quiet and next to one CPU-bound neighbour process, with torch's default threads:
  * transformers' own eager attention, no layer mask, is the baseline;
  * every condition of the experiment, its rule put in every layer by ``install_layer_mask``.

The masks are dense (every score is computed, the dropped ones set to ``finfo.min``), so no rule
can be faster than the baseline; choosing the keys adds work. Target: each rule's step costs at
most 1.5x the baseline's (DMA's, which also trains its scorers through the frozen layers, 2.5x).

Run: ``make bench`` or ``python benchmarks/bench_layer_masks.py [--repeats N] [--conditions quiet
busy] [--no-record]``.
"""

from __future__ import annotations

import sys

import torch
from _harness import CONDITIONS, check, condition, finish, machine, time_interleaved
from _harness import parser as bench_parser

from dynmask_viz.experiments import probe_splits
from dynmask_viz.hf import FullAttention, load_tokenizer
from dynmask_viz.hf.layer_masks import TokenKeep
from dynmask_viz.mask_finetuning import CONDITIONS as RULES
from dynmask_viz.mask_finetuning import PRESETS, build_classifier, build_rule

BATCH = 32
TARGET, LEARNED_TARGET = 1.5, 2.5


def batch(tokenizer, max_len: int) -> dict:
    texts = probe_splits(0).train[0][:BATCH]
    return dict(tokenizer(texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt"))


def step_fn(model, inputs: dict, labels: torch.Tensor, extra: dict):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)  # tiny: the weights hardly move between repeats

    def step():
        loss = torch.nn.functional.cross_entropy(model(**inputs, **extra).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> int:
    parser = bench_parser(__doc__, "bench_layer_masks", repeats=5)
    args = parser.parse_args(argv)
    config = PRESETS["cpu"]
    tokenizer = load_tokenizer()
    inputs = batch(tokenizer, config.max_len)
    labels = torch.tensor(probe_splits(0).train[1][:BATCH])
    tokens = [tokenizer.convert_ids_to_tokens(row) for row in inputs["input_ids"].tolist()]
    print(
        f"bench_layer_masks: {BATCH} reviews padded to {inputs['input_ids'].shape[1]} tokens, "
        f"{machine()['cpu']}, {machine()['cores']} cores, torch threads {torch.get_num_threads()}"
    )
    plain = build_classifier(config, FullAttention(), seed=0)
    plain.set_attn_implementation("eager")  # transformers' own attention: the baseline
    fns = {"eager": step_fn(plain.train(), inputs, labels, {})}
    for name in RULES:
        rule = build_rule(name, 0)
        model = build_classifier(config, rule, seed=0).train()
        extra = {"mask_draw": 1}
        if isinstance(rule, TokenKeep):
            extra["key_keep"] = torch.tensor([rule.keep_row(row, tokenizer) for row in tokens])
        fns[name] = step_fn(model, inputs, labels, extra)
    results = {}
    for cond in args.conditions:
        print(f"\n[{cond}] {CONDITIONS[cond]}")
        with condition(cond):
            t = time_interleaved(fns, repeats=args.repeats, warmup=2)
        ratios = {name: t[name] / t["eager"] for name in RULES}
        print(f"  {'step':<18}{'s / step':>10}{'x eager':>10}")
        for name, seconds in t.items():
            print(f"  {name:<18}{seconds:>10.3f}{seconds / t['eager']:>10.2f}")
        met = [
            check(
                f"{name} step vs eager",
                ratios[name],
                LEARNED_TARGET if RULES[name].build(0).learned else TARGET,
                higher_is_better=False,
            )
            for name in RULES
        ]
        results[cond] = {
            "what": CONDITIONS[cond],
            "seconds_per_step": t,
            "ratios": ratios,
            "targets_met": all(met),
        }
    ok = all(r["targets_met"] for r in results.values())
    return finish(
        "bench_layer_masks",
        {
            "batch": BATCH,
            "padded_length": int(inputs["input_ids"].shape[1]),
            "conditions": results,
            "targets_met": ok,
        },
        ok=ok,
        record=not args.no_record,
    )


if __name__ == "__main__":
    sys.exit(main())
