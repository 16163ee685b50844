"""Pretraining speed: our loop (masking on the device, sparse MLM head) vs the HF Trainer.

Same model (the preset's BERT MLM, same seed), same packed Wikipedia sequences, same device,
same batch size and AdamW. The baseline is ``transformers.Trainer`` with
``DataCollatorForLanguageModeling`` (masking in the DataLoader, full-vocabulary head). Both are
timed per optimizer step (after a warm-up), in alternating blocks so both see the same machine
noise, twice: on a quiet machine and next to one CPU-bound neighbour process that the benchmark
starts and stops itself. Our loop runs under the runner's thread setting (``threads="auto"``:
one intra-op thread for the small CPU presets); for information it is also timed on torch's
own thread count. Target, in both conditions: our training tokens/s >= 1.5x the Trainer's.

Both loops run in the precision a run would use (:func:`dynmask_viz._device.pick_precision`):
bf16 autocast on CUDA GPUs with fast bf16, fp16 autocast + GradScaler on older ones, fp32 on a
CPU. On CUDA the model FLOPs utilisation is printed and recorded: the loop's model FLOPs per
token, counted from the architecture (:func:`training_flops_per_token`: forward x 3, the
vocabulary head on the masked tokens only), times tokens/s, divided by (a) the datasheet dense
peak of the precision used and (b) a matmul ceiling measured in the same run and precision.
An fp32 run is compared with the fp32 (or TF32, if enabled) peak, never with the bf16 one.

Run: ``python benchmarks/bench_training.py [--preset cpu-tiny] [--steps 12] [--blocks 2]
[--conditions quiet busy] [--no-compile] [--out PATH] [--no-record]``. The record goes to
``--out``, else ``$DYNMASK_BENCH_DIR/bench_training.json``, else ``data/results/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch
from _harness import CONDITIONS, check, condition, write_record
from _harness import parser as bench_parser
from _mfu import datasheet_peak, matmul_ceiling, peak_key, training_flops_per_token

from dynmask_viz._device import autocast, grad_scaler, pick_device, pick_precision
from dynmask_viz.experiments import (
    ExperimentConfig,
    SparseMLM,
    build_mlm,
    count_parameters,
    load_pretraining_data,
)
from dynmask_viz.experiments.threads import run_threads
from dynmask_viz.experiments.train import epoch_permutation, step_example_ids
from dynmask_viz.masking import make_masking


def ours(config, data, device, steps: int) -> list[float]:
    """Seconds per step of our loop (the body of ``train``: keyed order, device masking)."""
    mlm = build_mlm(config, len(data.tokenizer), seed=0).to(device)
    model = SparseMLM(mlm, torch.compile(mlm.bert) if config.compile else None)
    opt = torch.optim.AdamW(mlm.parameters(), lr=config.optim.lr)
    masking = make_masking(config.condition, config.masking, seed=0, dupe_factor=config.dupe_factor)
    train_ids = data.train.to(device)
    perm = epoch_permutation(0, 0, len(train_ids))
    precision = pick_precision(device, config.bf16)
    scaler = grad_scaler(device, precision)  # fp16 only, as in train()
    times = []
    for step in range(steps + 2):  # 2 warm-up steps
        _sync(device)
        start = time.perf_counter()
        ids = step_example_ids(
            perm, step % (len(train_ids) // config.optim.batch_size), config.optim.batch_size
        ).to(device)
        batch = masking(train_ids[ids], data.vocab, epoch=0, example_ids=ids)
        with autocast(device, precision):
            loss_sum, _, n = model(batch.input_ids, batch.labels)
        if scaler is None:  # no clipping here, as before: the loop's cost without its extras
            (loss_sum / n).backward()
            opt.step()
        else:
            scaler.scale(loss_sum / n).backward()
            scaler.step(opt)
            scaler.update()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        times.append(time.perf_counter() - start)
    return times[2:]


def hf_trainer(config, data, device, steps: int) -> list[float]:
    """Seconds per step of ``Trainer`` + ``DataCollatorForLanguageModeling``."""
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            _sync(device)
            stamps.append(time.perf_counter())

    features = [{"input_ids": row.tolist()} for row in data.train]
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=config.optim.batch_size,
            max_steps=steps + 3,
            learning_rate=config.optim.lr,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            bf16=pick_precision(device, config.bf16) == "bf16",
            fp16=pick_precision(device, config.bf16) == "fp16+GradScaler",
            use_cpu=device.type == "cpu",
            seed=0,
            torch_compile=config.compile,
        )
        collator = DataCollatorForLanguageModeling(
            data.tokenizer, mlm_probability=config.masking.mlm_probability
        )
        trainer = Trainer(
            model=build_mlm(config, len(data.tokenizer), seed=0),
            args=args,
            train_dataset=features,
            data_collator=collator,
            callbacks=[Clock()],
        )
        trainer.train()
    return [b - a for a, b in zip(stamps[2:], stamps[3:])]  # step durations after 2 warm-up steps


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config, data, device, args) -> dict:
    """Median step time of each contender in one condition, in alternating blocks; printed."""
    samples: dict[str, list[float]] = {"ours": [], "ours_torch_threads": [], "hf_trainer": []}
    for _ in range(args.blocks):
        with run_threads(config, "auto"):  # what train() runs under
            threads = torch.get_num_threads()
            samples["ours"] += ours(config, data, device, args.steps)
        samples["ours_torch_threads"] += ours(config, data, device, args.steps)
        samples["hf_trainer"] += hf_trainer(config, data, device, args.steps)
    tokens_per_step = config.optim.batch_size * config.seq_len
    step_s = {name: statistics.median(v) for name, v in samples.items()}
    tps = {name: tokens_per_step / s for name, s in step_s.items()}
    labels = {
        "ours": f"ours ({threads} thread{'s' * (threads > 1)}, auto)",
        "ours_torch_threads": f"ours ({torch.get_num_threads()} threads, torch's)",
        "hf_trainer": f"HF Trainer ({torch.get_num_threads()} threads)",
    }
    for name in samples:
        print(f"  {labels[name]:<30} {1000 * step_s[name]:8.1f} ms/step  {tps[name]:10.0f} tokens/s")
    ratio = tps["ours"] / tps["hf_trainer"]
    print(
        f"  (info) ours on torch's {torch.get_num_threads()} threads vs the Trainer: "
        f"{tps['ours_torch_threads'] / tps['hf_trainer']:.2f}x; a step with auto takes "
        f"{step_s['ours'] / step_s['ours_torch_threads']:.2f}x the time of one on torch's threads"
    )
    ok = check("our loop vs Trainer + DataCollatorForLanguageModeling (tokens/s)", ratio, 1.5)
    return {
        "what": CONDITIONS[args.current],
        "ours_threads": threads,
        "median_step_s": step_s,
        "tokens_per_s": tps,
        "ratio": ratio,
        "pass": ok,
        "timed_steps": {k: len(v) for k, v in samples.items()},
    }


def report_mfu(results: dict, device, precision: str, flops_per_token: float) -> dict:
    """Add ``mfu_<contender>`` (vs the datasheet peak of ``precision``) and ``mfu_ceiling_<contender>``
    (vs the matmul ceiling measured now) to every condition; print them; the method's record."""
    tf32 = precision == "fp32" and torch.backends.cuda.matmul.allow_tf32
    gpu = torch.cuda.get_device_name(device)
    peak = datasheet_peak(gpu, precision, tf32=tf32)
    ceiling = matmul_ceiling(device, precision)
    key = peak_key(precision, tf32=tf32)
    print(
        f"\nMFU ({gpu}, {precision}): model FLOPs {flops_per_token / 1e6:.2f} M/token; datasheet dense "
        f"{key} peak {'unknown' if peak is None else f'{peak / 1e12:.0f} TFLOP/s'}; measured "
        f"{key} matmul ceiling {ceiling / 1e12:.0f} TFLOP/s"
    )
    for cname, cond in results["conditions"].items():
        for k, tps in cond["tokens_per_s"].items():
            achieved = flops_per_token * tps
            cond[f"tflops_{k}"] = achieved / 1e12
            cond[f"mfu_ceiling_{k}"] = achieved / ceiling
            if peak is not None:
                cond[f"mfu_{k}"] = achieved / peak
            print(
                f"  [{cname}] {k}: {achieved / 1e12:.1f} TFLOP/s = "
                f"{'' if peak is None else f'{100 * achieved / peak:.1f}% of the datasheet peak, '}"
                f"{100 * achieved / ceiling:.1f}% of the measured ceiling"
            )
    return {
        "method": "training_flops_per_token x tokens/s (forward x 3, head on the masked tokens only)",
        "flops_per_token": flops_per_token,
        "precision": precision,
        "peak_key": key,
        "datasheet_peak_flops": peak,
        "measured_matmul_ceiling_flops": ceiling,
        "gpu": gpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, "bench_training")
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per block")
    parser.add_argument("--blocks", type=int, default=2, help="alternating blocks per contender")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile both contenders (default: the preset's setting)",
    )
    parser.add_argument(
        "--out", default=None, help="record file (default: $DYNMASK_BENCH_DIR or data/results)"
    )
    args = parser.parse_args(argv)

    config = ExperimentConfig.from_preset(args.preset, device="auto")
    if args.compile is not None:
        config = config.replace(compile=args.compile)
    device = pick_device(config.device)
    precision = pick_precision(device, config.bf16)
    data = load_pretraining_data(config)
    params = count_parameters(build_mlm(config, len(data.tokenizer), seed=0))["parameters"]
    flops = training_flops_per_token(config, vocab_size=len(data.tokenizer))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"preset {args.preset}: {params:,} parameters, batch {config.optim.batch_size} x {config.seq_len}, "
        f"device {device} ({name}), precision {precision}, compile {config.compile}, "
        f"torch threads {torch.get_num_threads()}\n"
        f"model FLOPs per training token: {flops['total'] / 1e6:.2f} M (encoder "
        f"{flops['encoder'] / 1e6:.2f}, attention {flops['attention'] / 1e6:.2f}, head on the "
        f"masked tokens {flops['head'] / 1e6:.2f}; 6 x parameters would say {6 * params / 1e6:.2f})"
    )
    results = {
        "preset": args.preset,
        "device": str(device),
        "device_name": name,
        "precision": precision,
        "compile": config.compile,
        "parameters": params,
        "flops_per_token": flops,
        "tokens_per_step": config.optim.batch_size * config.seq_len,
        "target": 1.5,
        "conditions": {},
    }
    for name in args.conditions:
        print(f"\n[{name}] {CONDITIONS[name]}")
        args.current = name
        with condition(name):
            results["conditions"][name] = measure(config, data, device, args)
    ok = all(r["pass"] for r in results["conditions"].values())
    results["pass"] = ok
    if device.type == "cuda":
        results["mfu"] = report_mfu(results, device, precision, flops["total"])
    path = write_record("bench_training", results, record=not args.no_record, out=args.out)
    if path:
        print(f"recorded {path}")
    print("target met in every condition" if ok else "FAILED: a target was missed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
