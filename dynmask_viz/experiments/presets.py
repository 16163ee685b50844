"""Named sizes of the pretraining experiment (nanoGPT style): one for 2 CPU cores, one for a GPU,
one for more time. ``ExperimentConfig.from_preset(name, **overrides)`` starts from one."""

from __future__ import annotations

from .config import ExperimentConfig, ModelConfig, OptimConfig, ProbeConfig

__all__ = ["PRESETS"]

PRESETS: dict[str, ExperimentConfig] = {
    # 2 CPU cores, ~3-4 minutes per run (probe included). Data-poor regime: 10% of the
    # training text (~1,070 sequences of 64 tokens), 20 epochs; with dupe_factor 5 each static
    # mask is seen 4 times, RoBERTa's ratio (40 epochs x 10 masks). A 4k vocabulary and
    # 64-token sequences keep the step cheap; the model is far too small for absolute numbers.
    # The probe fine-tunes once per pretrained model (one seed, one epoch on all 10k training
    # snippets): with 1,000 snippets no model, pretrained or not, beat the majority class.
    "cpu-tiny": ExperimentConfig(
        preset="cpu-tiny",
        vocab_size=4096,
        seq_len=64,
        train_fraction=0.1,
        dupe_factor=5,
        eval_sequences=256,
        gap_sequences=128,
        model=ModelConfig(n_layers=2, hidden=128, heads=2, intermediate=256),
        optim=OptimConfig(epochs=20, batch_size=32, lr=2e-3),
        probe=ProbeConfig(seeds=(0,), epochs=1, train_limit=None, max_len=64, lr=5e-4),
        bf16=False,
        attn_implementation="eager",  # CPU: eager measured 1.2-4x faster than sdpa (padded probe batches)
    ),
    # One H100/H200 in minutes: BERT-small-ish encoder, all the text, RoBERTa's 40-epoch regime.
    "gpu": ExperimentConfig(
        preset="gpu",
        train_fraction=1.0,
        dupe_factor=10,
        seq_len=256,
        model=ModelConfig(n_layers=4, hidden=256, heads=4, intermediate=1024),
        optim=OptimConfig(epochs=40, batch_size=128, lr=1e-3),
        probe=ProbeConfig(seeds=(0, 1, 2, 3, 4), epochs=3),
        bf16=True,
        compile=True,
        attn_implementation="sdpa",
    ),
    # The two fill-in-the-blank models the project commits (data/models/mlm_static, mlm_dynamic):
    # the gpu preset's encoder on 128-token sequences (more, shorter sequences: 4x the optimizer
    # steps, and the explorers show sentences, not pages), RoBERTa's 40 epochs with BERT's
    # dupe_factor 10, so each static mask is seen 4 times. ~5.4 M parameters, 11 MB in fp16.
    # Eager (no torch.compile): a model this small compiles for longer than it trains.
    "fill-mask": ExperimentConfig(
        preset="fill-mask",
        train_fraction=1.0,
        dupe_factor=10,
        seq_len=128,
        vocab_size=8192,
        gap_sequences=512,
        model=ModelConfig(n_layers=4, hidden=256, heads=4, intermediate=1024),
        optim=OptimConfig(epochs=40, batch_size=64, lr=1e-3),
        probe=ProbeConfig(seeds=(0,), epochs=3),
        bf16=True,
        compile=False,
        attn_implementation="sdpa",
    ),
    # More time: BERT-medium-ish, 512-token sequences, bert-base vocabulary.
    "large": ExperimentConfig(
        preset="large",
        train_fraction=1.0,
        dupe_factor=10,
        seq_len=512,
        tokenizer="default",
        model=ModelConfig(n_layers=8, hidden=512, heads=8, intermediate=2048),
        optim=OptimConfig(epochs=40, batch_size=128, lr=5e-4),
        probe=ProbeConfig(seeds=(0, 1, 2, 3, 4), epochs=3, max_len=128),
        bf16=True,
        compile=True,
        attn_implementation="sdpa",
    ),
}
