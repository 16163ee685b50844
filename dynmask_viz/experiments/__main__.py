"""Command line of the static-vs-dynamic pretraining experiment.

Examples::

    python -m dynmask_viz.experiments run --preset cpu-tiny --condition static --seed 0 \\
        --out data/results/pretraining_cpu-tiny/static_seed0
    python -m dynmask_viz.experiments compare --preset cpu-tiny --seeds 0 1 2 \\
        --out data/results/pretraining_cpu-tiny
    python -m dynmask_viz.experiments pretrain-model --condition static   # data/models/mlm_static
    torchrun --nproc-per-node 8 -m dynmask_viz.experiments run --preset gpu ...   # DDP
    python -m dynmask_viz.experiments sweep --preset cpu-tiny --dupe-factors 1 2 5 10 \\
        --seeds 0 1 2 3 --workers 1 --threads 1 --out data/results/sweep_cpu-tiny

A run folder is resumed (checkpoint) or reused (finished results) only by the config that
wrote it; another config is refused with the fields that differ. To start over in the same
folder, pass --fresh: it discards the folder's checkpoints and results first.

Expected errors (a refused or damaged run folder, a folder locked by another run, too little
data, an unavailable device) end with a one-line ``error: ...`` and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DEVICE_FORMS, SEED_LIMIT, ExperimentConfig, check_device
from .errors import DeviceError, ExperimentError
from .presets import PRESETS


def _int_at_least(low: int, high: int | None = None):
    """argparse type: an int in ``[low, high)``, refused with the bound otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            bound = f">= {low}" if high is None else f"in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"must be {bound}; got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]; got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0; got {value}")
    return value


def _threads(text: str) -> str | int:
    """argparse type: ``auto`` or an int >= 1 (intra-op threads while training and probing)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be auto or >= 1; got {value}")
    return value


def _device(text: str) -> str:
    """argparse type: a device name (only its form; what the machine has is checked later)."""
    try:
        check_device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {DEVICE_FORMS}; got {text!r}") from None
    return text


def _check_available(device: str) -> None:
    """Refuse a valid device name that this machine does not have, before any data is loaded.

    Raises:
        DeviceError: CUDA or MPS is not available, or there is no GPU of that index.
    """
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda" and not torch.cuda.is_available():
        problem = "CUDA is not available on this machine"
    elif kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        problem = f"this machine has {torch.cuda.device_count()} GPU(s), cuda:0 and up"
    elif kind == "mps" and not torch.backends.mps.is_available():
        problem = "MPS is not available on this machine"
    else:
        return
    raise DeviceError(f"--device {device}: {problem}; use --device cpu or auto (CUDA if present).")


def _config(args) -> ExperimentConfig:
    # Command-line option -> (group or None for a top-level field, field name).
    where = {
        "condition": (None, "condition"),
        "seed": (None, "seed"),
        "limit_sequences": (None, "limit_sequences"),
        "device": (None, "device"),
        "train_fraction": (None, "train_fraction"),
        "epochs": ("optim", "epochs"),
        "max_steps": ("optim", "max_steps"),
        "batch_size": ("optim", "batch_size"),
        "probe_seeds": ("probe", "seeds"),
        "probe_train_limit": ("probe", "train_limit"),
    }
    changes: dict = {}
    for option, (group, name) in where.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if group is None:
            changes[name] = value
        else:
            changes.setdefault(group, {})[name] = value
    if args.no_compile:
        changes["compile"] = False
    return ExperimentConfig.from_preset(args.preset, **changes)


def _run(args, config: ExperimentConfig) -> int:
    if args.command == "sweep":
        from .sweep import sweep

        sweep(  # a sweep cut by --time-budget-s is no error: its summary lists the missing runs
            config,
            args.out,
            dupe_factors=args.dupe_factors,
            seeds=args.seeds,
            workers=args.workers,
            threads=args.threads,
            time_budget_s=args.time_budget_s,
            progress=not args.quiet,
        )
        print((Path(args.out) / "summary.md").read_text(encoding="utf-8"), end="")
        return 0
    if args.command == "compare":
        from .runner import compare

        summary = compare(
            config,
            args.out,
            seeds=args.seeds,
            probe=not args.no_probe,
            progress=not args.quiet,
            fresh=args.fresh,
            threads=args.threads,
        )
        print(json.dumps(summary["conditions"], indent=2))
        return 0

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:  # launched by torchrun: DDP, one process per GPU
        from .distributed import run_distributed

        if args.threads != "auto":
            raise ExperimentError(
                f"--threads {args.threads}: under torchrun every rank uses auto; drop --threads "
                "(it applies to single-process runs)."
            )

        run_distributed(
            config,
            args.out,
            stop_after_steps=args.stop_after,
            progress=not args.quiet,
            probe=not args.no_probe,
            fresh=args.fresh,
        )
        return 0
    from .runner import run_experiment

    record = run_experiment(
        config,
        args.out,
        probe=not args.no_probe,
        stop_after_steps=args.stop_after,
        progress=not args.quiet,
        fresh=args.fresh,
        threads=args.threads,
    )
    print(
        json.dumps(
            {"status": record["status"], "final": record["final"], "probe": record.get("probe")}, indent=2
        )
    )
    return 0


def _pretrain_model(args) -> int:
    from .fill_mask_models import model_dir, parse_overrides, pretrain_to_folder

    out = args.out or model_dir(args.condition)
    try:
        overrides = parse_overrides(args.set or [])
        _check_available(args.device)
        prov = pretrain_to_folder(
            args.condition,
            out,
            device=args.device,
            threads=args.threads,
            overrides=overrides,
            progress=not args.quiet,
        )
    except (ExperimentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"out": str(out), **prov["metrics"]["heldout"], "wall_time_s": prov["wall_time_s"]}, indent=2
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynmask_viz.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    positive, seed = _int_at_least(1), _int_at_least(0, SEED_LIMIT)
    for name in ("run", "compare"):
        p = sub.add_parser(name)
        p.add_argument("--preset", default="cpu-tiny", choices=sorted(PRESETS))
        p.add_argument("--out", required=True, help="run folder (run) or comparison folder (compare)")
        p.add_argument("--epochs", type=positive)
        p.add_argument("--max-steps", type=positive, help="cap on optimizer steps (the schedule fits it)")
        p.add_argument("--limit", dest="limit_sequences", type=positive, help="cap on sequences per split")
        p.add_argument("--train-fraction", type=_fraction, help="data-poor regime: share of training text")
        p.add_argument("--batch-size", type=positive)
        p.add_argument("--device", type=_device, help=f"{DEVICE_FORMS} (default: the preset's)")
        p.add_argument("--probe-seeds", type=seed, nargs="+")
        p.add_argument("--probe-train-limit", type=positive)
        p.add_argument("--no-probe", action="store_true")
        p.add_argument("--no-compile", action="store_true")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--threads",
            type=_threads,
            default="auto",
            help="intra-op threads while training and probing: auto (default: one thread for the small "
            "CPU presets, where more wait on each other on a busy machine; else torch's setting) or N >= 1",
        )
        p.add_argument(
            "--fresh",
            action="store_true",
            help="discard the checkpoints and results in --out first and start over (without it, "
            "a folder written with another config is refused)",
        )
    run = sub.choices["run"]
    run.add_argument("--condition", choices=("static", "dynamic"), default="dynamic")
    run.add_argument("--seed", type=seed, default=0)
    run.add_argument(
        "--stop-after", type=positive, help="checkpoint and stop after this step, >= 1 (resume later)"
    )
    sub.choices["compare"].add_argument("--seeds", type=seed, nargs="+")
    sw = sub.add_parser(
        "sweep",
        help="static with each dupe factor k and dynamic, paired seeds, linear probe (see experiments.sweep)",
    )
    sw.add_argument("--preset", default="cpu-tiny", choices=sorted(PRESETS))
    sw.add_argument("--out", required=True, help="sweep folder (runs.jsonl, summary.json, summary.md, runs)")
    sw.add_argument("--dupe-factors", type=positive, nargs="+", default=[1, 2, 5, 10])
    sw.add_argument("--seeds", type=seed, nargs="+", default=[0, 1, 2, 3])
    sw.add_argument("--workers", type=positive, default=1, help="runs at once, one process each")
    sw.add_argument("--threads", type=positive, default=1, help="intra-op threads per run (CPU)")
    sw.add_argument("--time-budget-s", type=_positive_float, help="no new run starts after this many seconds")
    sw.add_argument("--device", type=_device, help=f"{DEVICE_FORMS} (default: the preset's)")
    sw.add_argument("--epochs", type=positive)
    sw.add_argument("--max-steps", type=positive, help="cap on optimizer steps (the schedule fits it)")
    sw.add_argument("--limit", dest="limit_sequences", type=positive, help="cap on sequences per split")
    sw.add_argument("--probe-train-limit", type=positive, help="cap on the linear probe's training snippets")
    sw.add_argument("--quiet", action="store_true", help="no line per finished run")
    sw.set_defaults(no_compile=True)  # never compiled: a small model compiles longer than it trains
    pm = sub.add_parser(
        "pretrain-model",
        help="pretrain a fill-mask model (preset fill-mask) into a model folder (fill_mask_models)",
    )
    pm.add_argument("--condition", choices=("static", "dynamic"), required=True)
    pm.add_argument("--out", help="model folder (default: data/models/mlm_<condition> of this checkout)")
    pm.add_argument("--device", type=_device, default="auto", help=f"{DEVICE_FORMS} (default: auto)")
    pm.add_argument("--threads", type=_threads, default="auto", help="intra-op CPU threads (auto or N >= 1)")
    pm.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="change a field of the preset, e.g. --set vocab_size=4096 --set optim.lr=0.003 (repeatable)",
    )
    pm.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.command == "pretrain-model":
        return _pretrain_model(args)
    try:
        config = _config(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))  # exits 2 with the usage line, like the checks above
    try:
        _check_available(config.device)
        return _run(args, config)
    except ExperimentError as exc:  # expected and explained; anything else is a bug: traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
