"""Prepare, on a CPU machine, the folder a bare GPU machine needs for ``tools/gpu_check.py``.

The lent GPU machine reaches no registry and has its own python3 (3.12, torch, transformers,
tokenizers, safetensors, numpy, matplotlib, pytest...). What the package needs beyond its
image travels with the working tree in one ignored folder, ``.gpu/`` (name it in ``carry``):

* ``wheels/``: cp312 wheels of the pure dependencies its image lacks (``platformdirs``,
  ``mwparserfromhell``), installed there with ``pip --no-index`` into a temporary folder;
* ``cache/``: the asset-cache files the GPU runs read (the Wikipedia dump and its parsed
  articles, Rotten Tomatoes, and the packed token ids of the GPU presets, so the machine's
  ``tokenizers`` version cannot learn another vocabulary than the one recorded here);
* ``COMMIT``: the commit the results belong to (the copy that travels may have no ``.git``).

Usage (in the repository root, after ``make assets``)::

    python -m tools.gpu_carry            # writes .gpu/, prints its size
    # then, on the GPU machine:  python3 tools/gpu_check.py --out "$OUT"

The working tree and the carried folder together must stay under 64 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".gpu"
# Pure-Python (or cp312-binary) packages the GPU image lacks; pinned like environment.yml resolves.
WHEELS = ("platformdirs==4.14.5", "mwparserfromhell==0.7.2")
ASSETS = ("enwiki", "rotten_tomatoes")
# Configs whose packed token ids the GPU runs read: (preset, changes). The tests use cpu-tiny-
# derived configs; tools/fill_mask_grid.py also tries the fill-mask preset with a 4,096 vocabulary.
CONFIGS = (("cpu-tiny", {}), ("gpu", {}), ("fill-mask", {}), ("fill-mask", {"vocab_size": 4096}))
LIMIT_MIB = 64


def _download_wheels(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [
        f"--platform={p}"
        for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")
    ]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), *WHEELS]
    subprocess.run(cmd, check=True)


def _copy_cache(dest: Path) -> list[str]:
    """Copy the needed cache files; returns the token-cache keys copied."""
    from dynmask_viz import assets
    from dynmask_viz.assets import corpus
    from dynmask_viz.experiments import ExperimentConfig, load_pretraining_data
    from dynmask_viz.experiments.data import cache_key, load_documents

    src = assets.cache_dir()
    for name in ASSETS:
        assets.asset_path(name)  # fetched and checked here, so the copy is complete
        shutil.copytree(src / "assets" / name, dest / "assets" / name, dirs_exist_ok=True)
    corpus.load_wiki_articles()  # writes the parsed-articles cache if missing
    if (src / "corpus").is_dir():
        shutil.copytree(src / "corpus", dest / "corpus", dirs_exist_ok=True)
    keys = []
    _, sha = load_documents("wiki")
    for preset, changes in CONFIGS:
        config = ExperimentConfig.from_preset(preset, **changes)
        load_pretraining_data(config)  # builds the token cache if missing
        key = cache_key(config, sha)
        name = f"pretraining_{key}.pt"
        (dest / "experiments").mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "experiments" / name, dest / "experiments" / name)
        keys.append(f"{preset}{changes or ''}: {key}")
    return keys


def _tree_mib() -> float:
    """Size of what travels besides .gpu/: tracked files and untracked files git does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    files = {ROOT / f for f in out.decode().split("\0") if f}
    return sum(f.stat().st_size for f in files if f.is_file() and ".gpu" not in f.parts) / 2**20


def _size_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=CARRY, help="the folder to write (default .gpu/)")
    args = parser.parse_args(argv)
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    _download_wheels(out / "wheels")
    keys = _copy_cache(out / "cache")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    (out / "COMMIT").write_text(commit + ("-dirty" if dirty.strip() else "") + "\n", encoding="utf-8")
    carried, tree = _size_mib(out), _tree_mib()
    print(f"wrote {out}: {carried:.1f} MiB ({', '.join(keys)})")
    print(f"working tree that travels: {tree:.1f} MiB; together {carried + tree:.1f} of {LIMIT_MIB} MiB")
    if carried + tree > LIMIT_MIB:
        print("error: over the limit: ignore or remove large untracked files first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
