"""Checkpoints that appear whole or not at all, verified before they are resumed.

A checkpoint is a folder: ``model.safetensors``, ``optimizer.pt`` (optimizer, scheduler, RNG
states), ``state.json`` (step, curves) and ``manifest.json`` (size and sha256 of those three,
the run's fingerprint and runtime). Writing one never touches the current checkpoint until
the new one is complete:

1. write every file into ``checkpoint.tmp-<pid>/``, the manifest last, and fsync them;
2. if ``checkpoint/`` exists: drop any ``checkpoint.previous/`` (the current one is whole),
   then rename ``checkpoint/`` to ``checkpoint.previous/``;
3. rename ``checkpoint.tmp-<pid>/`` to ``checkpoint/``;
4. remove ``checkpoint.previous/``.

A kill at any point leaves a whole ``checkpoint/``, or (between 2 and 3) no ``checkpoint/``
but a whole ``checkpoint.previous/``, from which training replays exactly (every random
choice is keyed). :func:`find_checkpoint` takes the first of the two that exists, and
:func:`read_checkpoint` verifies its manifest before anything is loaded. Leftovers of killed
writes (``checkpoint.tmp-*``, ``.*.tmp`` files of atomic writes) are removed by
:func:`clean_leftovers` when a run starts in the folder, under the folder's lock
(:func:`run_lock`) so that no live writer's files are touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

from .errors import ExperimentError, RunLockedError
from .fingerprint import FRESH_HINT
from .results import write_json

__all__ = ["CheckpointError"]

FORMAT = "dynmask-viz/checkpoint/v1"
CURRENT, PREVIOUS, TMP_PREFIX, DISCARD_PREFIX = (
    "checkpoint",
    "checkpoint.previous",
    "checkpoint.tmp-",
    "discard-",
)
FILES = ("model.safetensors", "optimizer.pt", "state.json")
_LOCKS: dict = {}  # folder -> its FileLock


class CheckpointError(ExperimentError, RuntimeError):
    """A checkpoint or result file is damaged, incomplete or of an unknown format."""


@contextlib.contextmanager
def run_lock(out_dir: str | Path):
    """Hold the run folder's lock (re-entrant in this process): one writer per folder at a time.

    Raises:
        RunLockedError: If another process holds it (the message names the folder; a
            ``RuntimeError``).
    """
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    # One FileLock per folder and process: its counter makes nested holds (run_experiment,
    # then train) re-entrant, where a second FileLock on the same file would wait for the first.
    lock = _LOCKS.setdefault(str(out_dir), FileLock(str(out_dir / ".lock"), timeout=0))
    try:
        lock.acquire()
    except Timeout:
        raise RunLockedError(
            f"Another process is writing to {out_dir} (it holds {out_dir / '.lock'}); "
            "wait for it to finish or use another output folder."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (POSIX), to the disk: a rename must not outrun its data."""
    if path.is_dir() and os.name != "posix":
        return  # folders cannot be opened for fsync on Windows
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(out_dir: Path, writers: dict, state: dict, meta: dict) -> Path:
    """Write a checkpoint atomically (see the module docstring) and return its folder.

    Args:
        out_dir: The run folder.
        writers: ``{"model.safetensors": f, "optimizer.pt": g}``: callables writing that file
            to the path they are given.
        state: The loop state (written as ``state.json``).
        meta: Stored in the manifest: ``step``, ``fingerprint``, ``runtime``.
    """
    tmp = out_dir / f"{TMP_PREFIX}{os.getpid()}"
    if tmp.exists():  # our own leftover (an exception in an earlier save of this process)
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, write in writers.items():
        write(tmp / name)
    write_json(tmp / "state.json", state)
    files = {}
    for name in FILES:
        _fsync(tmp / name)
        files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)}
    write_json(tmp / "manifest.json", {"format": FORMAT, **meta, "files": files})  # last: marks it whole
    _fsync(tmp / "manifest.json")
    _fsync(tmp)
    current, previous = out_dir / CURRENT, out_dir / PREVIOUS
    if current.exists():
        if previous.exists():
            shutil.rmtree(previous)  # redundant: the current checkpoint is whole
        os.replace(current, previous)
    os.replace(tmp, current)
    _fsync(out_dir)
    if previous.exists():
        shutil.rmtree(previous)
    return current


def find_checkpoint(out_dir: Path) -> Path | None:
    """The folder to resume from: ``checkpoint/``, else ``checkpoint.previous/``, else None."""
    for name in (CURRENT, PREVIOUS):
        if (out_dir / name).is_dir():
            return out_dir / name
    return None


def _damaged(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is damaged or incomplete ({problem}). The run cannot be resumed from it: delete "
        f"{path.parent} to restart training from step 0. {FRESH_HINT}"
    )


def read_manifest(folder: Path) -> dict:
    """The verified manifest of a checkpoint folder: every file present, sizes and sha256 matching.

    Raises:
        CheckpointError: Naming the file at fault and what to do.
    """
    path = folder / "manifest.json"
    if not path.is_file():
        if (folder / "state.json").is_file():
            raise CheckpointError(
                f"{folder} has no manifest.json: it was written by an older version whose "
                "checkpoints could be torn by a kill, so it cannot be verified. Delete it to "
                f"restart training from step 0. {FRESH_HINT}"
            )
        raise _damaged(path, "missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged(path, f"not a {FORMAT} manifest")
    for name in FILES:
        expected = manifest.get("files", {}).get(name)
        file = folder / name
        if not isinstance(expected, dict) or not file.is_file():
            raise _damaged(file, "missing")
        if file.stat().st_size != expected.get("bytes") or _sha256(file) != expected.get("sha256"):
            raise _damaged(file, "its size or sha256 differs from manifest.json")
    return manifest


def read_state(folder: Path) -> dict:
    """``state.json`` of a verified checkpoint folder."""
    path = folder / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"unreadable: {exc}") from None
    missing = {"step", "epochs", "steps", "wall_s"} - set(state if isinstance(state, dict) else ())
    if missing:
        raise _damaged(path, f"missing keys {sorted(missing)}")
    return state


def load_optimizer_file(folder: Path, device=None) -> dict:
    """``optimizer.pt`` of a verified checkpoint folder (tensors only: ``weights_only=True``).

    Everything is read onto the CPU, whatever ``device`` the run trains on (kept for callers;
    ``Optimizer.load_state_dict`` moves the optimizer state to its parameters' device): the RNG
    states must stay CPU byte tensors, or ``torch.set_rng_state`` refuses them. Mapping them to
    CUDA made every resume on a GPU fail ("RNG state must be a torch.ByteTensor", H200 run).
    """
    path = folder / "optimizer.pt"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, runtime and zip errors alike
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None
    if not isinstance(saved, dict) or not {"optimizer", "scheduler", "rng"} <= set(saved):
        raise _damaged(path, "expected the keys optimizer, scheduler and rng")
    return saved


def clean_leftovers(out_dir: Path) -> list[Path]:
    """Remove what killed writes left in a run folder; returns what was removed.

    That is: temporary checkpoint folders and files of atomic writes, discarded items, and a
    ``checkpoint.previous/`` beside a ``checkpoint/`` (only the latter is ever resumed then).

    Call it only while holding :func:`run_lock`: the files of a live writer would go too.
    """
    removed = []
    if not out_dir.is_dir():
        return removed
    if (out_dir / CURRENT).is_dir() and (out_dir / PREVIOUS).exists():
        shutil.rmtree(out_dir / PREVIOUS)  # redundant beside a whole checkpoint (maybe half removed)
        removed.append(out_dir / PREVIOUS)
    for path in out_dir.iterdir():
        name = path.name
        if path.is_dir() and name.startswith((TMP_PREFIX, DISCARD_PREFIX)):
            shutil.rmtree(path)
        elif path.is_file() and (
            name.startswith(DISCARD_PREFIX) or (name[0] == "." and name.endswith(".tmp"))
        ):
            path.unlink()  # discarded results, or write_text_atomic's ".<name>.<pid>.tmp"
        else:
            continue
        removed.append(path)
    return removed


def discard_run(out_dir: Path) -> None:
    """Delete a run folder's checkpoints and results (``fresh``), each one atomically first.

    Every item is renamed to ``discard-*`` before it is deleted, so a kill midway never
    leaves a half-deleted checkpoint that looks like a checkpoint.
    """
    if not out_dir.is_dir():
        return
    for name in ("results.json", "curves.csv", CURRENT, PREVIOUS):
        if (out_dir / name).exists():
            os.replace(out_dir / name, out_dir / f"{DISCARD_PREFIX}{name}")
    for path in out_dir.glob(f"{DISCARD_PREFIX}*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
