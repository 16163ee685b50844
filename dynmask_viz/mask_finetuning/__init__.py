"""Does ignoring "irrelevant" words help? Fine-tuning with dynamic attention masks, measured.

The offline encoder is fine-tuned on Rotten Tomatoes with a layer mask on in every layer, while
training and while scoring: full attention (baseline), stopword and punctuation drop, top-k keys
(k = 4, 16), a probability threshold, random key drop (p = 0.1), and a learned Dynamic Mask
Attention (Shi et al. 2025). Five seeds per condition, paired with the baseline.

Public API:
    FinetuneConfig, PRESETS: the run settings and their sizes (``fast`` for CI, ``cpu``, ``gpu``).
    CONDITIONS, build_rule: the conditions compared and their layer masks.
    load_finetune_data: the fixed Rotten Tomatoes examples, encoded (with stopword keep rows).
    finetune, evaluate, build_classifier: one run; scoring under any rule.
    run_all, load_trained: every condition x seed into a folder (resumable); the kept baseline.
    load_records, read_record, summarize, summary_markdown: the result files;
        bootstrap_interval (medians), t_interval (paired differences).

Command line: ``python -m dynmask_viz.mask_finetuning --help``.
"""

from .config import CONDITIONS, PRESETS, Condition, FinetuneConfig, build_rule
from .data import FinetuneData, load_finetune_data
from .results import bootstrap_interval, load_records, read_record, summarize, summary_markdown, t_interval
from .runner import MODEL_FOLDER, StaleRunError, load_trained, run_all, run_fingerprint
from .train import build_classifier, evaluate, finetune

__all__ = [
    "CONDITIONS",
    "MODEL_FOLDER",
    "PRESETS",
    "Condition",
    "FinetuneConfig",
    "FinetuneData",
    "StaleRunError",
    "bootstrap_interval",
    "build_classifier",
    "build_rule",
    "evaluate",
    "finetune",
    "load_finetune_data",
    "load_records",
    "load_trained",
    "read_record",
    "run_all",
    "run_fingerprint",
    "summarize",
    "summary_markdown",
    "t_interval",
]
