"""Command line of the dynamic attention-mask fine-tuning experiment.

Examples::

    python -m dynmask_viz.mask_finetuning run --preset cpu --out data/results/mask_finetuning_cpu
    python -m dynmask_viz.mask_finetuning run --preset fast --seeds 0 --out /tmp/maskft   # CI, < 1 min
    python -m dynmask_viz.mask_finetuning run --preset gpu --out $OUT/mask_finetuning_gpu
    python -m dynmask_viz.mask_finetuning summary data/results/mask_finetuning_cpu
    # what the CPU design costs: the baseline with every layer training, and with all the data
    python -m dynmask_viz.mask_finetuning run --preset cpu --conditions full --trainable-layers all \
        --out data/results/mask_finetuning_cpu_all-layers

A rerun into the same folder skips the runs already recorded with the same config (resume
after a crash); records of another config are refused unless --fresh.
"""

from __future__ import annotations

import argparse
import sys

from ..experiments.__main__ import _int_at_least
from ..experiments.errors import ExperimentError
from .config import CONDITIONS, PRESETS
from .results import load_records, summarize, summary_markdown


def _threads(text: str):
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _count_or_all(text: str):
    """argparse type: ``all`` (None in the config) or a whole number >= 1."""
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 or 'all'; got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dynmask_viz.mask_finetuning", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="fine-tune every condition x seed (resumable), then summarise")
    run.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    run.add_argument("--out", required=True, help="result folder (runs/, summary.json, summary.md)")
    run.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS))
    run.add_argument("--seeds", nargs="+", type=_int_at_least(0, 2**16), default=[0, 1, 2, 3, 4])
    run.add_argument(
        "--train-examples",
        type=_count_or_all,
        default=False,
        help="override the preset's (a number or 'all')",
    )
    run.add_argument(
        "--trainable-layers",
        type=_count_or_all,
        default=False,
        help="override the preset's top layers that train (a number or 'all')",
    )
    run.add_argument("--device", default=None, help="override the preset's device (cpu, cuda, auto)")
    run.add_argument(
        "--threads",
        type=_threads,
        default="auto",
        help="intra-op threads (default: auto, one on a CPU, unchanged on a GPU)",
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="redo the runs asked for, also those already recorded (with this config or another)",
    )
    show = sub.add_parser("summary", help="print the summary table of a result folder")
    show.add_argument("folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "summary":
            print(summary_markdown(summarize(load_records(args.folder))), end="")
            return 0
        from .runner import run_all

        config = PRESETS[args.preset]
        if args.device is not None:
            config = config.replace(device=args.device)
        for name in ("train_examples", "trainable_layers"):  # False: not given
            if getattr(args, name) is not False:
                config = config.replace(**{name: getattr(args, name)})
        summary = run_all(
            config,
            args.out,
            conditions=args.conditions,
            seeds=args.seeds,
            fresh=args.fresh,
            preset=args.preset,
            threads=args.threads,
        )
        print(summary_markdown(summary), end="")
        return 0
    except (ExperimentError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
