"""``ExperimentConfig``: one pretraining run of the static-vs-dynamic experiment, with presets.

A run is fully described by its config: the data (text source, tokenizer, sequence length),
the masking condition, the model size, the optimisation and the downstream probe. Presets
(nanoGPT style) give sizes that fit a machine; every field can be overridden.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

from ..masking import MaskingConfig

Condition = Literal["static", "dynamic"]

_CONDITIONS = ("static", "dynamic")
_TOKENIZERS = ("trained", "default")
_ATTN = ("eager", "sdpa")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one pretraining run (and its downstream probe).

    Attributes:
        preset: Name of the preset this config came from (for the record only).
        condition: ``"static"`` (BERT: ``dupe_factor`` masks per sequence, cycled) or
            ``"dynamic"`` (RoBERTa: a fresh mask every epoch).
        seed: Run seed: model init, data order, dropout and the training masks.
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
        limit_sequences: Cap on training (and validation) sequences, for tests and smoke runs.
        masking: What is selected and how it is corrupted (default: RoBERTa's 15%, 80/10/10).
        dupe_factor: Distinct masks per sequence for ``static`` (BERT: 10).
        eval_mask_seed: Seed of the fixed validation masks (the same for every run and epoch).
        fresh_mask_epoch: Mask index never used in training, for the memorization gap.
        gap_sequences: Training sequences on which the memorization gap is measured.
        eval_sequences: Cap on validation sequences evaluated each epoch (None: all).
        n_layers, hidden, heads, intermediate: Size of the BERT encoder.
        dropout: Hidden and attention dropout.
        epochs: Passes over the training data (RoBERTa's static baseline: 40, each static mask
            seen 4 times with ``dupe_factor=10``).
        max_steps: Cap on optimizer steps; the LR schedule is fitted to the capped length.
        batch_size: Sequences per optimizer step (global, over all ranks).
        lr, weight_decay, betas, warmup_fraction, grad_clip: AdamW with linear warmup then
            linear decay to zero.
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        bf16: bf16 autocast (used on CUDA only).
        compile: ``torch.compile`` the model.
        attn_implementation: ``"sdpa"`` (fast; training never needs attention weights) or
            ``"eager"``.
        probe_seeds: Fine-tuning seeds of the downstream probe (the median is reported).
        probe_epochs, probe_lr, probe_batch_size, probe_max_len: Probe fine-tuning.
        probe_train_limit: Cap on probe training snippets (None: the whole train split).
        probe_split_seed: Seed of the fixed stratified train/dev/test split.
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
    # model
    n_layers: int = 2
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    dropout: float = 0.1
    # optimisation
    epochs: int = 40
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_fraction: float = 0.06
    grad_clip: float = 1.0
    # runtime
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    attn_implementation: str = "sdpa"
    # downstream probe
    probe_seeds: tuple[int, ...] = (0, 1, 2)
    probe_epochs: int = 3
    probe_lr: float = 2e-4
    probe_batch_size: int = 32
    probe_max_len: int = 64
    probe_train_limit: int | None = None
    probe_split_seed: int = 0

    def __post_init__(self) -> None:
        if self.condition not in _CONDITIONS:
            raise ValueError(f"condition must be one of {_CONDITIONS}; got {self.condition!r}.")
        if self.tokenizer not in _TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {_TOKENIZERS}; got {self.tokenizer!r}.")
        if self.attn_implementation not in _ATTN:
            raise ValueError(f"attn_implementation must be one of {_ATTN}; got {self.attn_implementation!r}.")
        if self.seq_len < 8:
            raise ValueError(f"seq_len must be >= 8 ([CLS] + text + [SEP]); got {self.seq_len}.")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads}).")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1]; got {self.train_fraction}.")
        for name in ("epochs", "batch_size", "dupe_factor", "probe_epochs", "probe_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None; got {self.max_steps}.")
        if self.fresh_mask_epoch < max(self.epochs, self.dupe_factor):
            raise ValueError(
                f"fresh_mask_epoch ({self.fresh_mask_epoch}) must exceed every mask index used in "
                f"training (epochs={self.epochs}), or the 'fresh' masks were trained on."
            )

    def replace(self, **changes) -> ExperimentConfig:
        """Copy with some fields changed (validated again). ``masking`` may be a dict."""
        if isinstance(changes.get("masking"), dict):
            changes["masking"] = MaskingConfig(**changes["masking"])
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error, not silently dropped)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown ExperimentConfig fields: {sorted(unknown)}.")
        data = dict(data)
        if isinstance(data.get("masking"), dict):
            data["masking"] = MaskingConfig(**data["masking"])
        for name in ("seeds", "probe_seeds", "betas"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> ExperimentConfig:
        """A named preset (see :data:`PRESETS`) with fields overridden."""
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.") from None
        return base.replace(**overrides)


PRESETS: dict[str, ExperimentConfig] = {
    # 2 CPU cores, ~3-4 minutes per run (probe included). Data-poor regime: 10% of the
    # training text (~1,070 sequences of 64 tokens), 20 epochs; with dupe_factor 5 each static
    # mask is seen 4 times, RoBERTa's ratio (40 epochs x 10 masks). A 4k vocabulary and
    # 64-token sequences keep the step cheap; the model is far too small for absolute numbers.
    # The probe fine-tunes once per pretrained model (one seed, one epoch on all 10k training
    # snippets): with 1,000 snippets no model, pretrained or not, beat the majority class.
    "cpu-tiny": ExperimentConfig(
        preset="cpu-tiny", vocab_size=4096, seq_len=64, train_fraction=0.1, epochs=20,
        dupe_factor=5, n_layers=2, hidden=128, heads=2, intermediate=256, batch_size=32, lr=2e-3,
        eval_sequences=256, gap_sequences=128, probe_seeds=(0,), probe_epochs=1,
        probe_train_limit=None, probe_max_len=64, probe_lr=5e-4, bf16=False,
        attn_implementation="eager",  # CPU: eager measured 1.2-4x faster than sdpa (padded probe batches)
    ),
    # One H100/H200 in minutes: BERT-small-ish encoder, all the text, RoBERTa's 40-epoch regime.
    "gpu": ExperimentConfig(
        preset="gpu", train_fraction=1.0, epochs=40, dupe_factor=10, n_layers=4, hidden=256,
        heads=4, intermediate=1024, seq_len=256, batch_size=128, lr=1e-3, bf16=True, compile=True,
        attn_implementation="sdpa", probe_seeds=(0, 1, 2, 3, 4), probe_epochs=3,
    ),
    # More time: BERT-medium-ish, 512-token sequences, bert-base vocabulary.
    "large": ExperimentConfig(
        preset="large", train_fraction=1.0, epochs=40, dupe_factor=10, n_layers=8, hidden=512,
        heads=8, intermediate=2048, seq_len=512, batch_size=128, lr=5e-4, tokenizer="default",
        bf16=True, compile=True, attn_implementation="sdpa", probe_seeds=(0, 1, 2, 3, 4),
        probe_epochs=3, probe_max_len=128,
    ),
}
