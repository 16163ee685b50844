"""Fingerprints of runs: what determines a run's numbers, stored with its checkpoints and results.

A run folder is only ever continued or reused by the run that wrote it. Resuming a
checkpoint, or reusing a ``results.json``, with another config (another condition, seed,
batch size, data...) would silently mix two experiments: the curves of one under the name of
the other. So every checkpoint and every result stores a fingerprint, and a mismatch is
refused with the fields that differ.

A fingerprint is ``{"sha256": hex, "fields": {dotted name: value}}``: every field of the
config except the purely cosmetic or runtime ones (:data:`NOT_FINGERPRINTED`), plus the
identity of the data (source sha256, token cache key, sizes). The probe fields count only
for a result that holds a probe. The code version (git commit) is deliberately left out: a
fix elsewhere in the package must not orphan every checkpoint; the commit is recorded in
the provenance instead.
"""

from __future__ import annotations

import hashlib
import json

from .config import ExperimentConfig
from .errors import ExperimentError

__all__ = ["RunMismatchError", "run_fingerprint"]

# Fields that do not change a run's numbers: the preset's name (a label), the seeds a
# ``compare`` loops over (each run has its own ``seed``), the device (a runtime choice; a
# checkpoint records the device *type* it was trained on and refuses another, see
# checkpoint.py).
NOT_FINGERPRINTED = frozenset({"preset", "seeds", "device"})
# What identifies the packed token ids (PretrainingData.meta, also kept in results' "data").
DATA_KEYS = ("source_sha256", "cache_key", "train_sequences", "validation_sequences", "vocab_size")
# The baseline probe (an untrained encoder) depends on the architecture, the tokenizer and
# the probe only: not on the condition, seed, masking or optimisation of any run.
_BASELINE_PREFIXES = ("model.", "probe.", "data.source_sha256", "data.cache_key", "data.vocab_size")
_BASELINE_FIELDS = {"seq_len", "tokenizer", "vocab_size", "attn_implementation", "bf16"}

# Fields added to the config after fingerprints were first stored, with the value every run
# before them had. A stored fingerprint without such a field matches a current one holding
# that value: the run was made with exactly that behaviour.
ADDED_FIELDS = {"masking.corruption_per": "token"}
# Version of how mask_batch draws masks for a given config: a change that alters masks of an
# unchanged config (issue 12: [UNK] became selectable, so fixed evaluation masks over text with
# [UNK] differ) bumps it, so a run of the older engine is neither resumed nor reused as if it
# were this one. Fingerprints without the field (schemas v1, v2 and early v3) are engine 1.
MASKING_ENGINE = 2
_ENGINE_FIELD = "masking_engine"
_ENGINE_NOTE = {1: "engine 1: [UNK] was never selected for prediction"}

FRESH_HINT = (
    "To start this run from scratch, use another output folder, or pass --fresh on the command "
    "line (fresh=True in Python), which discards the folder's checkpoint and results."
)


class RunMismatchError(ExperimentError, ValueError):
    """A run folder holds a checkpoint or result of another config than the one asked for."""


def _flatten(value, prefix: str, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = value
    return out


def _finish(fields: dict) -> dict:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "fields": dict(sorted(fields.items()))}


def run_fingerprint(config: ExperimentConfig, data_meta: dict, *, probe: bool) -> dict:
    """Fingerprint of everything that determines a run's results.

    Args:
        config: The run's config.
        data_meta: ``PretrainingData.meta`` (or a result's ``"data"``): the keys of
            :data:`DATA_KEYS` that are present are included.
        probe: Include the probe fields (for a result that holds a probe).

    Returns:
        ``{"sha256": 64 hex chars, "fields": {"condition": ..., "optim.batch_size": ...,
        "data.source_sha256": ...}}``, JSON-ready.
    """
    cfg = config.to_dict()
    fields = _flatten({k: v for k, v in cfg.items() if k not in NOT_FINGERPRINTED}, "", {})
    if not probe:
        fields = {k: v for k, v in fields.items() if not k.startswith("probe.")}
    fields.update({f"data.{k}": data_meta[k] for k in DATA_KEYS if k in data_meta})
    fields[_ENGINE_FIELD] = MASKING_ENGINE
    return _finish(fields)


def baseline_fingerprint(config: ExperimentConfig, data_meta: dict) -> dict:
    """Fingerprint of the baseline probe (an untrained encoder): architecture, tokenizer, probe."""
    fields = run_fingerprint(config, data_meta, probe=True)["fields"]
    return _finish(
        {k: v for k, v in fields.items() if k in _BASELINE_FIELDS or k.startswith(_BASELINE_PREFIXES)}
    )


def record_fingerprint(record: dict) -> dict:
    """The fingerprint of a result record: stored (schema v3) or rebuilt from its config and data.

    Records written before fingerprints existed (schemas v1, v2) hold the config and the data
    identity they were run with, so their fingerprint is rebuilt from those.
    """
    if isinstance(record.get("fingerprint"), dict):
        return record["fingerprint"]
    config = ExperimentConfig.from_dict(record["config"])
    fields = run_fingerprint(config, record.get("data", {}), probe=record.get("probe") is not None)["fields"]
    del fields[_ENGINE_FIELD]  # written before the field existed: engine 1, like a stored one without it
    return _finish(fields)


def differences(stored: dict, current: dict) -> list[str]:
    """``"name: stored X, now Y"`` for every field that differs between two fingerprints."""
    a, b = dict(stored.get("fields", {})), current.get("fields", {})
    missing = "(absent)"
    if _ENGINE_FIELD in b:
        a.setdefault(_ENGINE_FIELD, 1)
    out = []
    for name in sorted(set(a) | set(b)):
        old, new = a.get(name, missing), b.get(name, missing)
        if old == new or (name not in a and name in ADDED_FIELDS and new == ADDED_FIELDS[name]):
            continue
        note = f" ({_ENGINE_NOTE[old]})" if name == _ENGINE_FIELD and old in _ENGINE_NOTE else ""
        out.append(f"{name}: stored {old!r}, now {new!r}{note}")
    return out


def check_fingerprint(stored: dict, current: dict, *, what: str) -> None:
    """Raise :class:`RunMismatchError` naming the differing fields if the fingerprints differ.

    Args:
        stored: The fingerprint found on disk.
        current: The fingerprint of the run asked for.
        what: The file or folder holding ``stored`` (named in the message).
    """
    if stored.get("sha256") == current.get("sha256"):
        return
    diff = differences(stored, current)
    if not diff and set(current.get("fields", {})) - set(stored.get("fields", {})):
        return  # only fields added since, at the value the stored run had (ADDED_FIELDS)
    diff = diff or ["(same fields, different hash: written by another version)"]
    raise RunMismatchError(
        f"{what} was written by a run with another config; refusing to mix the two. "
        f"Differences:\n  " + "\n  ".join(diff) + f"\n{FRESH_HINT}"
    )
