"""``ExperimentConfig``: one pretraining run of the static-vs-dynamic experiment.

A run is fully described by its config: the data (text source, tokenizer, sequence length),
the masking condition, then three nested groups, :class:`ModelConfig` (the encoder's size),
:class:`OptimConfig` (epochs, batch, AdamW and its schedule) and :class:`ProbeConfig` (the
downstream fine-tuning), and the runtime (device, precision). Named presets (nanoGPT style,
:mod:`.presets`) give sizes that fit a machine; every field can be overridden::

    ExperimentConfig.from_preset("cpu-tiny").replace(seed=3, model={"hidden": 64}, optim={"epochs": 4})
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

from ..masking import MaskingConfig

__all__ = ["ExperimentConfig", "ModelConfig", "OptimConfig", "ProbeConfig"]

Condition = Literal["static", "dynamic"]

_CONDITIONS = ("static", "dynamic")
_TOKENIZERS = ("trained", "default")
_ATTN = ("eager", "sdpa")

# "auto" (CUDA if present), "cpu", "mps", "cuda" or "cuda:<index>".
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")
DEVICE_FORMS = "auto, cpu, cuda, cuda:0 (any GPU index) or mps"

# Seeds feed torch.manual_seed after mixing (seed * 1_000_003 + epoch for the data order),
# which must stay below 2**64: one 32-bit range for every seed keeps all of them valid.
SEED_LIMIT = 2**32


def _at_least_one(group: object, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(group, name) < 1:
            raise ValueError(f"{type(group).__name__}.{name} must be >= 1; got {getattr(group, name)}.")


def _check_seed(where: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where} must be an int in [0, 2**32); got {type(value).__name__} {value!r}.")
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{where} must be in [0, 2**32) (= {SEED_LIMIT}); got {value}. Pick a smaller seed.")


def check_device(device) -> None:
    """Refuse anything but a device name the experiment takes (:data:`DEVICE_FORMS`).

    Only the form is checked: ``"cuda:7"`` is a valid name on a machine without a GPU.

    Raises:
        TypeError: ``device`` is not a str.
        ValueError: It is not one of the forms.
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a str: {DEVICE_FORMS}; got {type(device).__name__} {device!r}.")
    if _DEVICE.fullmatch(device) is None:
        raise ValueError(f"device must be {DEVICE_FORMS}; got {device!r}.")


def _optional_at_least_one(where: str, value) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{where} must be >= 1 or None (no cap); got {value}.")


@dataclass(frozen=True)
class ModelConfig:
    """Size of the BERT encoder (its MLM head is tied to the embeddings).

    Attributes:
        n_layers, hidden, heads, intermediate: Layers, hidden width, attention heads, and the
            feed-forward width.
        dropout: Hidden and attention dropout.
    """

    n_layers: int = 2
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _at_least_one(self, ("n_layers", "hidden", "heads", "intermediate"))
        if self.hidden % self.heads:
            raise ValueError(f"ModelConfig.hidden ({self.hidden}) must be divisible by heads ({self.heads}).")


@dataclass(frozen=True)
class OptimConfig:
    """How long and how the model is trained: AdamW, linear warmup then linear decay to zero.

    Attributes:
        epochs: Passes over the training data (RoBERTa's static baseline: 40, each static mask
            seen 4 times with ``dupe_factor=10``).
        max_steps: Cap on optimizer steps; the LR schedule is fitted to the capped length.
        batch_size: Sequences per optimizer step (global, over all ranks).
        lr, weight_decay, betas, warmup_fraction, grad_clip: AdamW and its schedule.
    """

    epochs: int = 40
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_fraction: float = 0.06
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))  # JSON gives lists
        _at_least_one(self, ("epochs", "batch_size"))
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"OptimConfig.max_steps must be >= 1 or None; got {self.max_steps}.")


@dataclass(frozen=True)
class ProbeConfig:
    """The downstream probe: fine-tune the encoder on Rotten Tomatoes (the SST-2 analogue).

    Attributes:
        seeds: Fine-tuning seeds (the median test accuracy is reported).
        epochs, lr, batch_size, max_len: Fine-tuning.
        train_limit: Cap on training snippets (None: the whole train split).
        split_seed: Seed of the fixed stratified train/dev/test split.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 3
    lr: float = 2e-4
    batch_size: int = 32
    max_len: int = 64
    train_limit: int | None = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(self.seeds))  # JSON gives lists
        _at_least_one(self, ("epochs", "batch_size", "max_len"))
        if not self.seeds:
            raise ValueError("ProbeConfig.seeds must hold at least one fine-tuning seed; got ().")
        for seed in self.seeds:
            _check_seed("ProbeConfig.seeds", seed)
        _check_seed("ProbeConfig.split_seed", self.split_seed)
        _optional_at_least_one("ProbeConfig.train_limit", self.train_limit)


_GROUPS = {"model": ModelConfig, "optim": OptimConfig, "probe": ProbeConfig}
# The flat names of configs written before the groups existed (results.json of earlier runs).
_LEGACY = {
    **{f.name: ("model", f.name) for f in fields(ModelConfig)},
    **{f.name: ("optim", f.name) for f in fields(OptimConfig)},
    **{f"probe_{f.name}": ("probe", f.name) for f in fields(ProbeConfig)},
}


def _group(kind: str, value) -> object:
    cls = _GROUPS[kind]
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise TypeError(
            f"ExperimentConfig.{kind} must be a {cls.__name__} or a dict; got {type(value).__name__}."
        )
    known = [f.name for f in fields(cls)]
    unknown = set(value) - set(known)
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} fields {sorted(unknown)}; known: {known}.")
    return cls(**value)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one pretraining run (and its downstream probe).

    Attributes:
        preset: Name of the preset this config came from (for the record only).
        condition: ``"static"`` (BERT: ``dupe_factor`` masks per sequence, cycled) or
            ``"dynamic"`` (RoBERTa: a fresh mask every epoch).
        seed: Run seed: model init, data order, dropout and the training masks. Every seed
            field (``seed``, ``seeds``, ``split_seed``, ``eval_mask_seed``, the probe's) is an
            int in ``[0, 2**32)``.
        seeds: Seeds a ``compare`` runs (per condition).
        source: ``"wiki"`` (the 104 cleaned Wikipedia articles) or a folder of ``.txt`` files
            (one document per file).
        tokenizer: ``"trained"``: a WordPiece vocabulary of ``vocab_size`` learnt on the
            training split only; ``"default"``: the offline bert-base-uncased WordPiece (30,522).
        vocab_size: Size of the trained vocabulary.
        seq_len: Length of every packed sequence, ``[CLS]`` and ``[SEP]`` included.
        validation_fraction: Share of documents held out for validation (split by document).
        split_seed: Seed of the document split (fixed across runs: all runs see the same split).
        train_fraction: Share of the training sequences used (< 1: data-poor regime).
        limit_sequences: Cap on training (and validation) sequences (>= 1, or None), for tests
            and smoke runs.
        masking: What is selected and how it is corrupted (default: RoBERTa's 15%, 80/10/10).
        dupe_factor: Distinct masks per sequence for ``static`` (BERT: 10).
        eval_mask_seed: Seed of the fixed validation masks (the same for every run and epoch).
        fresh_mask_epoch: Mask index never used in training, for the memorization gap.
        gap_sequences: Training sequences on which the memorization gap is measured.
        eval_sequences: Cap on validation sequences evaluated each epoch (None: all).
        model: The encoder's size (:class:`ModelConfig`).
        optim: Epochs, batch and optimiser (:class:`OptimConfig`).
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or
            ``"mps"``; any other name is refused.
        bf16: bf16 autocast (used on CUDA only).
        compile: ``torch.compile`` the model.
        attn_implementation: ``"sdpa"`` (fast; training never needs attention weights) or
            ``"eager"``.
        probe: The downstream probe (:class:`ProbeConfig`).
    """

    preset: str = "custom"
    condition: Condition = "dynamic"
    seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)
    # data
    source: str = "wiki"
    tokenizer: str = "trained"
    vocab_size: int = 8192
    seq_len: int = 128
    validation_fraction: float = 0.1
    split_seed: int = 0
    train_fraction: float = 1.0
    limit_sequences: int | None = None
    # masking
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    dupe_factor: int = 10
    eval_mask_seed: int = 20_240_601
    fresh_mask_epoch: int = 10_000
    gap_sequences: int = 256
    eval_sequences: int | None = None
    # model and optimisation
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    # runtime
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    attn_implementation: str = "sdpa"
    # downstream probe
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def __post_init__(self) -> None:
        for kind in _GROUPS:  # dicts (from JSON or replace) become their dataclass
            object.__setattr__(self, kind, _group(kind, getattr(self, kind)))
        if isinstance(self.masking, dict):
            object.__setattr__(self, "masking", MaskingConfig(**self.masking))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.condition not in _CONDITIONS:
            raise ValueError(f"condition must be one of {_CONDITIONS}; got {self.condition!r}.")
        if self.tokenizer not in _TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {_TOKENIZERS}; got {self.tokenizer!r}.")
        check_device(self.device)
        if self.attn_implementation not in _ATTN:
            raise ValueError(f"attn_implementation must be one of {_ATTN}; got {self.attn_implementation!r}.")
        if self.seq_len < 8:
            raise ValueError(f"seq_len must be >= 8 ([CLS] + text + [SEP]); got {self.seq_len}.")
        for name in ("seed", "split_seed", "eval_mask_seed"):
            _check_seed(name, getattr(self, name))
        for seed in self.seeds:
            _check_seed("seeds", seed)
        _optional_at_least_one("limit_sequences", self.limit_sequences)
        _optional_at_least_one("eval_sequences", self.eval_sequences)
        _at_least_one(self, ("dupe_factor", "gap_sequences"))
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1); got {self.validation_fraction}.")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1]; got {self.train_fraction}.")
        if self.fresh_mask_epoch < max(self.optim.epochs, self.dupe_factor):
            raise ValueError(
                f"fresh_mask_epoch ({self.fresh_mask_epoch}) must exceed every mask index used in "
                f"training (optim.epochs={self.optim.epochs}), or the 'fresh' masks were trained on."
            )

    def replace(self, **changes) -> ExperimentConfig:
        """Copy with some fields changed (validated again).

        ``model``, ``optim`` and ``probe`` take a dict of the fields to change (the others are
        kept) or a whole dataclass; ``masking`` takes a ``MaskingConfig`` or a dict of all its
        fields. A flat name of a grouped field (``n_layers``, ``epochs``, ``probe_seeds``...) is
        refused with the name to use instead.
        """
        moved = sorted(set(changes) & set(_LEGACY))
        if moved:
            hints = ", ".join(f"{name} -> {_LEGACY[name][0]}={{{_LEGACY[name][1]!r}: ...}}" for name in moved)
            raise ValueError(f"ExperimentConfig fields are grouped now: {hints}.")
        for kind in _GROUPS:
            if isinstance(changes.get(kind), dict):
                changes[kind] = replace(getattr(self, kind), **changes[kind])
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready nested dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped.

        Also reads the flat configs of runs recorded before the groups existed
        (``n_layers``, ``epochs``, ``probe_seeds``... at the top level).
        """
        data = dict(data)
        groups: dict[str, dict] = {kind: dict(data.pop(kind, {}) or {}) for kind in _GROUPS}
        for name in [n for n in data if n in _LEGACY]:
            kind, inner = _LEGACY[name]
            groups[kind][inner] = data.pop(name)
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"Unknown ExperimentConfig fields: {sorted(unknown)}.")
        return cls(**data, **groups)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> ExperimentConfig:
        """A named preset (see :data:`~dynmask_viz.experiments.PRESETS`) with fields overridden."""
        from .presets import PRESETS

        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.") from None
        return base.replace(**overrides)
