"""The two fill-in-the-blank models the project commits: static and dynamic masking, same otherwise.

The MLM half of the course needs a model that predicts, and no registry package ships
BERT-family weights with a masked-LM head. So the project pretrains two with its own runner
(:func:`~dynmask_viz.experiments.run_experiment`, preset ``fill-mask``): one with BERT's static
masking (``dupe_factor`` 10 masks per sequence, cycled over 40 epochs: each mask seen 4 times)
and one with RoBERTa's dynamic masking (a fresh mask every epoch), the same in everything else
(seed, so init, data order and validation masks). :func:`pretrain_to_folder` trains one and
writes a Hugging Face folder that :func:`dynmask_viz.hf.load_mlm` loads:

* ``model.safetensors`` (fp16: half the bytes; loaded back as float32) and ``config.json``;
* ``tokenizer.json`` and ``tokenizer_config.json`` (the WordPiece learnt on the training split);
* ``provenance.json``: data, config, commit, device, versions, wall time, the held-out metrics
  of the *saved* weights with the unigram floor beside them, and the command that rebuilds it.

The folder is written next to the target and renamed into place, so a killed run leaves the
previous model whole.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch

from .._device import pick_device
from ..hf.loading import quiet_progress_bars
from ..masking import CORRUPTION_NAMES, IGNORE_INDEX, KEPT, MASKED, RANDOM, mask_batch
from .baselines import unigram_baseline
from .checkpoint import find_checkpoint
from .config import ExperimentConfig
from .data import PretrainingData, load_pretraining_data
from .model import count_parameters, load_pretrained_mlm
from .results import device_name, git_commit, versions
from .runner import run_experiment

__all__ = [
    "CONDITIONS",
    "MODELS_DIR",
    "committed_data",
    "heldout_metrics",
    "model_dir",
    "parse_overrides",
    "pretrain_to_folder",
    "rebuild_command",
    "training_sequences",
    "training_setup",
]

CONDITIONS = ("static", "dynamic")
MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
PRESET = "fill-mask"


def model_dir(condition: str) -> Path:
    """``data/models/mlm_<condition>`` of the repository checkout.

    Raises:
        ValueError: ``condition`` is not ``"static"`` or ``"dynamic"``.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be 'static' or 'dynamic'; got {condition!r}.")
    return MODELS_DIR / f"mlm_{condition}"


def set_flags(overrides: dict | None) -> list[str]:
    """``FIELD=VALUE`` texts for ``--set`` that give ``overrides`` (inverse of :func:`parse_overrides`)."""
    flags = []
    for key, value in sorted((overrides or {}).items()):
        if isinstance(value, dict):
            flags += [f"{key}.{inner}={json.dumps(v)}" for inner, v in sorted(value.items())]
        else:
            flags.append(f"{key}={json.dumps(value)}")
    return flags


def parse_overrides(items: list[str]) -> dict:
    """``["vocab_size=4096", "optim.lr=0.003"]`` -> ``{"vocab_size": 4096, "optim": {"lr": 0.003}}``.

    Values are read as JSON (numbers, true/false, null, lists), else kept as text.

    Raises:
        ValueError: An item without ``=``.
    """
    overrides: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes FIELD=VALUE (e.g. optim.lr=0.003); got {item!r}.")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        group, dot, name = key.partition(".")
        if dot:
            overrides.setdefault(group, {})[name] = value
        else:
            overrides[key] = value
    return overrides


def rebuild_command(
    condition: str, out: str | os.PathLike, device: str = "auto", overrides: dict | None = None
) -> str:
    """The command line that rebuilds a model folder (changes to the preset as ``--set`` flags)."""
    flags = "".join(f" --set {shlex.quote(flag)}" for flag in set_flags(overrides))
    return (
        f"python -m dynmask_viz.experiments pretrain-model --condition {condition} --out {out} "
        f"--device {device}{flags}"
    )


def _ids_sha256(ids: torch.Tensor) -> str:
    return hashlib.sha256(ids.to(torch.int32).contiguous().numpy().tobytes()).hexdigest()


@torch.no_grad()
def heldout_metrics(
    model, data: PretrainingData, config: ExperimentConfig, *, batch_size: int = 64, device=None
) -> dict:
    """Masked-token loss, top-1 and top-5 accuracy on the fixed validation masks, with the floor.

    The validation masks are the experiment's (``eval_mask_seed``, row index, mask epoch 0,
    80/10/10 corruption), over *all* validation sequences: held-out articles, never trained on.

    Args:
        model: A ``BertForMaskedLM`` (any dtype; scored in float32 logits).
        data: The run's data (its validation split and vocabulary).
        config: The run's config (masking and evaluation seed).
        batch_size: Sequences per forward.
        device: Where to score (default: the model's device).

    Returns:
        ``{"loss", "top1_accuracy", "top5_accuracy", "predictions", "top1_by_corruption",
        "unigram"}``: ``top1_by_corruption`` splits the accuracy by what the input held at the
        target (``"[MASK]"``, ``"random"``, ``"kept"``: the original token, visible); the unigram
        entry is :func:`~dynmask_viz.experiments.baselines.unigram_baseline` of the same positions.
    """
    device = device or next(model.parameters()).device
    val = data.validation
    batch = mask_batch(
        val,
        data.vocab,
        config.masking,
        seed=config.eval_mask_seed,
        example_ids=torch.arange(len(val)),
        mask_epoch=0,
    )
    was_training = model.training
    model.eval()
    loss, top1, top5, count = 0.0, 0, 0, 0
    by_kind = {code: [0, 0] for code in (MASKED, RANDOM, KEPT)}  # corruption -> [correct, count]
    for i in range(0, len(val), batch_size):
        ids = batch.input_ids[i : i + batch_size].to(device)
        labels = batch.labels[i : i + batch_size].to(device)
        logits = model(input_ids=ids).logits.float()  # [b, L, V]
        picked = labels != IGNORE_INDEX
        kinds = batch.corruption[i : i + batch_size].to(device)[picked]  # [P]
        logits, targets = logits[picked], labels[picked]  # [P, V], [P]
        loss += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
        best = logits.topk(5, dim=-1).indices  # [P, 5]
        hit = best[:, 0] == targets
        top1 += int(hit.sum())
        top5 += int((best == targets[:, None]).any(-1).sum())
        count += len(targets)
        for code, tally in by_kind.items():
            tally[0] += int(hit[kinds == code].sum())
            tally[1] += int((kinds == code).sum())
    model.train(was_training)
    floor = unigram_baseline(data.train, val, data.vocab, config.masking, seed=config.eval_mask_seed)
    return {
        "loss": loss / count,
        "top1_accuracy": top1 / count,
        "top5_accuracy": top5 / count,
        "predictions": count,
        # 80/10/10: a tenth of the targets stay visible in the input ("kept"), so the overall
        # accuracy includes copying them; the [MASK] positions alone say what context gives.
        "top1_by_corruption": {
            CORRUPTION_NAMES[code]: {"accuracy": c / max(n, 1), "predictions": n}
            for code, (c, n) in by_kind.items()
        },
        "unigram": {k: floor[k] for k in ("loss", "accuracy", "predictions")},
    }


def pretrain_to_folder(
    condition: str,
    out: str | os.PathLike,
    *,
    device: str = "auto",
    threads: int | str = "auto",
    overrides: dict | None = None,
    progress: bool = False,
    keep_run: bool = False,
) -> dict:
    """Pretrain one fill-mask model with the experiment's runner and write its model folder.

    Args:
        condition: ``"static"`` or ``"dynamic"``.
        out: The model folder (e.g. :func:`model_dir`); replaced atomically at the end.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... (the run's ``ExperimentConfig.device``).
        threads: Intra-op CPU threads while training (see :func:`run_experiment`).
        overrides: Fields changed from the ``fill-mask`` preset, as for
            :meth:`ExperimentConfig.from_preset` (groups as dicts); recorded, and written into
            the rebuild command as ``--set`` flags.
        progress: Show the training bar.
        keep_run: Keep the run folder (``out`` + ``.run``, with curves and checkpoint) after
            the export; by default it is deleted once the model folder is in place.

    Returns:
        The provenance written to ``out/provenance.json``.
    """
    import transformers

    if condition not in CONDITIONS:
        raise ValueError(f"condition must be 'static' or 'dynamic'; got {condition!r}.")
    overrides = dict(overrides or {})
    static = condition == "static"
    config = ExperimentConfig.from_preset(PRESET, condition=condition, device=device, **overrides)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_dir = out.parent / f".{out.name}.run"
    data = load_pretraining_data(config)
    start = time.perf_counter()
    record = run_experiment(config, run_dir, probe=False, data=data, progress=progress, threads=threads)
    wall = time.perf_counter() - start
    torch_device = pick_device(config.device)
    mlm = load_pretrained_mlm(config, data.tokenizer, find_checkpoint(run_dir) / "model.safetensors")

    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        # Stored in fp16 (half the bytes); the config keeps the architecture, loaders read float32.
        mlm.config.attn_implementation = "eager"
        with quiet_progress_bars():
            mlm.half().save_pretrained(tmp, safe_serialization=True)
            data.tokenizer.save_pretrained(tmp)
            # Score what is committed: the fp16 weights as load_mlm returns them (float32).
            saved = transformers.BertForMaskedLM.from_pretrained(
                tmp, dtype=torch.float32, attn_implementation="eager"
            )
        metrics = heldout_metrics(saved.to(torch_device), data, config)
        epochs = record["epochs"]
        provenance = {
            "what": (
                f"a small BERT masked-LM pretrained with {condition} masking on the offline Wikipedia "
                "articles (dynmask_viz.experiments.fill_mask_models)"
            ),
            "condition": condition,
            "preset": PRESET,
            "config": config.to_dict(),
            "parameters": count_parameters(saved),
            "storage_dtype": "float16",
            "training": {
                "mask_seed": config.seed,
                "dupe_factor": config.dupe_factor if static else None,
                "epochs": config.optim.epochs,
                "times_each_mask_seen": config.optim.epochs // config.dupe_factor if static else 1,
                "fresh_mask_epoch": config.fresh_mask_epoch,
                "steps": record["steps"]["step"][-1],
            },
            "data": {
                "source": "enwiki (dynmask_viz.assets.corpus.load_wiki_articles), split by article",
                "source_sha256": data.meta["source_sha256"],
                "train_sequences": len(data.train),
                "validation_sequences": len(data.validation),
                "seq_len": config.seq_len,
                "train_ids_sha256": _ids_sha256(data.train),
                "validation_titles": data.meta["validation_titles"],
            },
            "metrics": {
                "heldout": metrics,
                "final_epoch": {k: epochs[-1][k] for k in ("val_loss", "val_accuracy", "memorization_gap")},
                "curves": {
                    k: [e[k] for e in epochs]
                    for k in ("val_loss", "val_accuracy", "trained_mask_loss", "fresh_mask_loss")
                },
            },
            "device": device_name(torch_device),
            "precision": record.get("runtime", {}).get("precision")
            or ("bf16" if config.bf16 and torch_device.type == "cuda" else "fp32"),
            "wall_time_s": round(wall, 1),
            "versions": versions(),
            "git_commit": os.environ.get("DYNMASK_VIZ_COMMIT") or git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "overrides": overrides,
            "rebuild_command": rebuild_command(condition, out, device, overrides=overrides),
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        old = out.parent / f".{out.name}.{os.getpid()}.old"
        if out.exists():
            os.replace(out, old)  # rename, not delete: a crash right here leaves the old folder
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return provenance


def _provenance(folder: Path) -> dict:
    path = folder / "provenance.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {folder} is not a model folder written by pretrain_to_folder. "
            f"Rebuild it with `{rebuild_command(folder.name.removeprefix('mlm_'), folder)}`."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def training_setup(condition: str = "static", folder: str | os.PathLike | None = None) -> dict:
    """How a committed model's training masks were drawn (to redraw "a mask it trained on").

    Returns:
        ``{"mask_seed", "dupe_factor", "masking" (MaskingConfig), "fresh_mask_epoch", "epochs"}``.
        The training mask of sequence ``i`` at epoch ``e`` (0-based) is ``mask_batch(ids[[i]],
        vocab, masking, seed=mask_seed, example_ids=[i], mask_epoch=m)`` with
        ``m = e % dupe_factor`` (static) or ``m = e`` (dynamic; ``dupe_factor`` is None).
    """
    prov = _provenance(Path(folder) if folder is not None else model_dir(condition))
    return {
        "mask_seed": prov["training"]["mask_seed"],
        "dupe_factor": prov["training"]["dupe_factor"],
        "masking": ExperimentConfig.from_dict(prov["config"]).masking,
        "fresh_mask_epoch": prov["training"]["fresh_mask_epoch"],
        "epochs": prov["training"]["epochs"],
    }


def committed_data(condition: str = "static", folder: str | os.PathLike | None = None) -> PretrainingData:
    """The packed rows (training and held-out) of a committed model, with its own tokenizer.

    Rebuilt from the offline articles with the model's own config and its own
    ``tokenizer.json`` (learning the vocabulary again would not give the same one: the
    ``tokenizers`` trainer is not deterministic, see ``data.train_wordpiece``), and checked
    against the sha256 its provenance recorded, so a mask drawn for training row ``i`` is the
    mask it trained on and the held-out rows are those its metrics were measured on.

    Raises:
        ValueError: The rebuilt rows differ from the recorded ones (another corpus, or a
            ``tokenizers`` version that splits text differently); the message says what to do.
    """
    folder = Path(folder) if folder is not None else model_dir(condition)
    prov = _provenance(folder)
    config = ExperimentConfig.from_dict(prov["config"]).replace(device="cpu")
    tokenizer_json = (folder / "tokenizer.json").read_text(encoding="utf-8")
    data = load_pretraining_data(config, tokenizer_json=tokenizer_json)
    if _ids_sha256(data.train) != prov["data"]["train_ids_sha256"]:
        raise ValueError(
            f"The training rows rebuilt for {folder} differ from the ones it was trained on "
            "(another corpus, or a tokenizers version that splits the text differently), so its "
            f"training masks cannot be redrawn. Rebuild the model with `{prov.get('rebuild_command')}`."
        )
    return data


def training_sequences(condition: str = "static", folder: str | os.PathLike | None = None) -> torch.Tensor:
    """``[N, L]`` int64 packed training rows of a committed model (row index = example id),
    as :func:`committed_data` rebuilds and checks them."""
    return committed_data(condition, folder).train
