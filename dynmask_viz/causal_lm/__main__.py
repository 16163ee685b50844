"""Command line of the small causal LM.

Examples::

    python -m dynmask_viz.causal_lm train --preset tiny --out data/models/causal_lm_tiny --threads 1
    python -m dynmask_viz.causal_lm train --preset fast --out /tmp/causal_lm_fast    # CI, seconds
    python -m dynmask_viz.causal_lm train --preset tiny --steps 300 --out /tmp/lm    # shorter
"""

from __future__ import annotations

import argparse
import sys

from .._threads import intra_op_threads
from .config import PRESETS


def _whole(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}; got {value}")
        return value

    return parse


def _threads(text: str):
    return None if text == "auto" else _whole(1)(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dynmask_viz.causal_lm", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("train", help="train a preset, score it and write the model folder")
    run.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    run.add_argument("--out", required=True, help="model folder to write (replaced atomically)")
    run.add_argument("--steps", type=_whole(1), default=None, help="override the preset's steps")
    run.add_argument("--seed", type=_whole(0), default=None, help="override the preset's seed")
    run.add_argument("--device", default=None, help="override the preset's device (cpu, cuda, auto)")
    run.add_argument(
        "--threads",
        type=_threads,
        default=1,
        help="intra-op threads: a whole number >= 1 or 'auto' (unchanged); default 1, as the "
        "other trainers of small models (a busy 2-core machine waits at every join otherwise)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .runner import train_to_folder

    config = PRESETS[args.preset]
    for name in ("steps", "seed", "device"):
        if getattr(args, name) is not None:
            config = config.replace(**{name: getattr(args, name)})
    command = " ".join(["python -m dynmask_viz.causal_lm", *(sys.argv[1:] if argv is None else argv)])
    try:
        with intra_op_threads(args.threads):
            record = train_to_folder(
                config,
                args.out,
                preset=args.preset,
                log=lambda line: print(line, flush=True),
                command=command,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    m = record["metrics"]
    print(
        f"held-out loss {m['loss']:.3f} (perplexity {m['perplexity']:.1f}), top-1 {m['top1_accuracy']:.1%}; "
        f"unigram: loss {m['unigram']['loss']:.3f}, top-1 {m['unigram']['top1_accuracy']:.1%}; "
        f"{record['wall_time_s']:.0f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
