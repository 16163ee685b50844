"""Every condition x seed, one record file per run: atomic, resumable, refused when stale.

``out/runs/{condition}_seed{seed}.json`` is written (atomically) when a run ends; a rerun skips
the runs whose record has the same fingerprint (config, condition, rule, seed, engine), and
refuses a record of another config unless ``fresh`` (nothing is overwritten silently). A crash
loses at most the run in progress. The seed-0 baseline model is kept (its trained tensors in
float16, ``model_full_seed0/``) for the chapter's interactive view.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from .._device import pick_device, pick_precision
from .._threads import intra_op_threads
from ..experiments.checkpoint import run_lock
from ..experiments.errors import ExperimentError
from ..experiments.results import git_commit, provenance, write_json
from .config import CONDITIONS, FinetuneConfig, build_rule
from .data import load_finetune_data
from .results import read_record, write_summary
from .train import build_classifier, finetune

__all__ = ["ENGINE", "MODEL_FOLDER", "StaleRunError", "load_trained", "run_all", "run_fingerprint"]

ENGINE = 1  # bump when the training or scoring code changes what a run computes
MODEL_FOLDER = "model_full_seed0"


class StaleRunError(ExperimentError):
    """A record in the folder was made with another config (or engine)."""


def run_fingerprint(config: FinetuneConfig, condition: str, seed: int) -> dict:
    """What a run's numbers depend on.

    The config as it runs: ``bf16`` is whether mixed precision is really used (on CUDA only),
    with ``precision: "fp16+GradScaler"`` added where a GPU without fast bf16 runs fp16 (the
    key is absent otherwise, so the records of bf16 and fp32 runs keep their fingerprint), the
    device type replaces the device string, and ``eval_batch_size`` stays (the random rule's
    test pattern is keyed by the slot in the batch). Threads change only the timing.
    """
    cfg = config.to_dict()
    device = pick_device(config.device)
    precision = pick_precision(device, config.bf16)
    cfg["device"] = device.type
    cfg["bf16"] = precision != "fp32"
    if precision == "fp16+GradScaler":
        cfg["precision"] = precision
    return {
        "config": cfg,
        "condition": condition,
        "rule": build_rule(condition, seed).name,
        "seed": seed,
        "engine": ENGINE,
    }


def _trained_tensors(model) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().to("cpu", torch.float16).contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }


def save_trained(model, folder: Path, meta: dict) -> None:
    """The parameters that trained (float16 safetensors) and what rebuilds the model.

    Both files are written into a new folder that then replaces ``folder``: a crash leaves the
    old pair or the new one, never a mix.
    """
    import shutil

    from safetensors.torch import save_file

    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_trained_tensors(model), str(tmp / "trained.safetensors"))
    write_json(tmp / "meta.json", meta)
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_trained(folder: str | Path):
    """The seed-0 baseline kept by :func:`run_all`: the offline encoder plus its trained tensors.

    Returns:
        ``(model, meta)``, the model in eval mode on the CPU with full attention installed
        (install another layer mask to look at a rule).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "trained.safetensors").is_file():
        raise FileNotFoundError(f"No trained model in {folder}: expected trained.safetensors and meta.json.")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    config = FinetuneConfig(**meta["config"])
    model = build_classifier(
        config.replace(device="cpu"), build_rule(meta["condition"], meta["seed"]), seed=meta["seed"]
    )
    tensors = load_file(str(folder / "trained.safetensors"))
    params = dict(model.named_parameters())
    wrong = sorted(set(tensors) - set(params))
    if wrong:
        raise ValueError(
            f"{folder}: tensors {wrong[:3]} are not in the model; it was saved by another version."
        )
    with torch.no_grad():
        for name, t in tensors.items():
            params[name].copy_(t.float())
    return model.eval(), meta


def run_all(
    config: FinetuneConfig,
    out: str | Path,
    *,
    conditions: Iterable[str] = tuple(CONDITIONS),
    seeds: Iterable[int] = range(5),
    fresh: bool = False,
    preset: str | None = None,
    log=print,
    threads: int | str = "auto",
) -> dict:
    """Fine-tune every condition with every seed into ``out``; summarise.

    Args:
        threads: Intra-op threads while the runs train and score; the caller's count comes back
            after. ``"auto"``: one thread on a CPU, where a step is many small ops that wait at
            every join for a thread a busy machine has descheduled (chapter 07's two live runs took
            303 s and 249 s on 2 threads next to busy processes, 67 s and 47 s on one thread
            next to a busy process); the caller's setting on a GPU. An int >= 1: that many.

    Returns:
        The summary (:func:`~dynmask_viz.mask_finetuning.results.summarize`) with provenance.
    """
    out = Path(out)
    conditions, seeds = list(conditions), list(seeds)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"Unknown conditions {unknown}; choose from {list(CONDITIONS)}.")
    if "full" not in conditions:
        conditions.insert(0, "full")  # every comparison is paired with the baseline
    (out / "runs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # The commit whose code runs: taken now, as the checkout may change during a long run.
    commit = git_commit()
    with run_lock(out), _run_threads(config, threads):
        from ..hf.loading import load_tokenizer

        data = None
        for seed in seeds:
            for condition in conditions:
                path = out / "runs" / f"{condition}_seed{seed}.json"
                fingerprint = run_fingerprint(config, condition, seed)
                if path.is_file() and not fresh:
                    stored = read_record(path).get("fingerprint")
                    if stored == fingerprint:
                        log(f"{condition} seed {seed}: done before, kept")
                        continue
                    raise StaleRunError(
                        f"{path} was made with another config ({_diff(stored, fingerprint)}); "
                        "pass --fresh to redo it, or choose another --out."
                    )
                data = data or load_finetune_data(config, load_tokenizer())
                t0 = time.perf_counter()
                model, record = finetune(config, condition, seed, data)
                record["fingerprint"] = fingerprint
                record["provenance"] = {
                    **provenance(pick_device(config.device), time.perf_counter() - t0),
                    "git_commit": commit,
                    "precision": record["precision"],
                }
                if condition == "full" and seed == 0:  # the chapter's model: seed 0 only
                    save_trained(
                        model,
                        out / MODEL_FOLDER,
                        {"config": config.to_dict(), "condition": condition, "seed": seed},
                    )
                write_json(path, record)
                log(
                    f"{condition} seed {seed}: accuracy {record['test_accuracy']:.3f}, kept "
                    f"{record['share_kept']:.2f}, {time.perf_counter() - t0:.0f} s"
                )
        meta = {
            "preset": preset,
            "config": config.to_dict(),
            "provenance": {
                **provenance(pick_device(config.device), time.perf_counter() - started),
                "git_commit": commit,
            },
        }
        return write_summary(out, meta)


def _run_threads(config: FinetuneConfig, threads: int | str) -> intra_op_threads:
    if threads == "auto":
        return intra_op_threads(1 if pick_device(config.device).type == "cpu" else None)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f'threads must be "auto" or an int >= 1 (intra-op threads); got {threads!r}.')
    return intra_op_threads(threads)


def _diff(stored: dict | None, current: dict) -> str:
    if not isinstance(stored, dict):
        return "no fingerprint"
    keys = sorted(set(stored) | set(current))
    return "; ".join(
        f"{k}: stored {stored.get(k)!r}, now {current.get(k)!r}"
        for k in keys
        if stored.get(k) != current.get(k)
    )
