"""A small causal language model the project trains and commits (a GPT-2 from transformers' classes).

Trained on the offline Wikipedia articles with the pretraining experiment's article split, a
byte-level BPE learnt on the training articles, next-token prediction (``labels=input_ids``).
The committed model (``data/models/causal_lm_tiny``, the ``tiny`` preset) is what
:func:`dynmask_viz.hf.load_causal_lm` loads by default; chapter 09 generates with it step by step.

Public API:
    CausalLMConfig, PRESETS: the run settings and their sizes (``fast`` for CI, ``tiny``).
    load_causal_lm_data, train_bpe: the articles, the tokenizer, the token streams.
    build_model, train, evaluate, unigram_baseline: one run and its scores.
    train_to_folder, rebuild_command: a run into a model folder with its provenance.

Command line: ``python -m dynmask_viz.causal_lm train --preset tiny --out data/models/causal_lm_tiny``.
"""

from .config import PRESETS, CausalLMConfig
from .data import EOS, CausalLMData, load_causal_lm_data, train_bpe
from .runner import rebuild_command, train_to_folder
from .train import build_model, evaluate, lr_at, train, unigram_baseline

__all__ = [
    "EOS",
    "PRESETS",
    "CausalLMConfig",
    "CausalLMData",
    "build_model",
    "evaluate",
    "load_causal_lm_data",
    "lr_at",
    "rebuild_command",
    "train",
    "train_bpe",
    "train_to_folder",
    "unigram_baseline",
]
