"""The static-vs-dynamic masking pretraining experiment (a miniature of RoBERTa section 4.1, Table 1).

Public API:
    ExperimentConfig: one run, its groups ModelConfig, OptimConfig, ProbeConfig.
    PRESETS: sizes for a CPU (``cpu-tiny``), one GPU (``gpu``) and more time (``large``).
    load_pretraining_data, probe_splits: packed Wikipedia sequences (split by article) and the
        fixed stratified Rotten Tomatoes split of the downstream probe.
    build_mlm, SparseMLM: a small BERT MLM (seeded init) and its sparse-head training forward.
    train: our loop (masking on the device, keyed order, exact resume, DDP-ready).
    run_probe: fine-tune the encoder on Rotten Tomatoes, median test accuracy over seeds.
    linear_probe: a logistic regression on the frozen encoder's mean-pooled features (seconds).
    sweep, load_sweep_lines, write_sweep_summary, summarize_sweep: static with k masks per
        sequence for several k, and dynamic, paired seeds; means and paired differences with
        95% t-intervals.
    run_experiment, compare: pretrain + probe; both conditions x seeds + summary.
    load_run, load_runs, validate_run, summarize, ROBERTA_TABLE1: the result files.
    run_fingerprint, RunMismatchError, CheckpointError: what ties a run folder to its config,
        and the refusals when a folder cannot be reused or resumed.
    ExperimentError: base of every expected, user-caused error (those two included, a damaged
        results.json, a locked folder, too little data): its message says what to do.

Command line: ``python -m dynmask_viz.experiments --help``.
"""

from .checkpoint import CheckpointError
from .config import ExperimentConfig, ModelConfig, OptimConfig, ProbeConfig
from .data import PretrainingData, ProbeSplits, load_pretraining_data, probe_splits
from .errors import ExperimentError
from .fingerprint import RunMismatchError, run_fingerprint
from .linear_probe import linear_probe
from .model import SparseMLM, build_mlm, count_parameters, load_pretrained_mlm
from .presets import PRESETS
from .probe import run_probe
from .results import ROBERTA_TABLE1, load_run, load_runs, summarize, summary_markdown, validate_run
from .runner import compare, run_experiment
from .sweep import load_sweep_lines, sweep, write_sweep_summary
from .sweep_stats import summarize_sweep
from .train import epoch_permutation, step_example_ids, train

__all__ = [
    "CheckpointError",
    "ExperimentError",
    "PRESETS",
    "ROBERTA_TABLE1",
    "RunMismatchError",
    "ExperimentConfig",
    "ModelConfig",
    "OptimConfig",
    "ProbeConfig",
    "PretrainingData",
    "ProbeSplits",
    "SparseMLM",
    "build_mlm",
    "load_pretrained_mlm",
    "compare",
    "count_parameters",
    "epoch_permutation",
    "linear_probe",
    "load_pretraining_data",
    "load_run",
    "load_runs",
    "load_sweep_lines",
    "probe_splits",
    "run_experiment",
    "run_fingerprint",
    "run_probe",
    "step_example_ids",
    "summarize",
    "summarize_sweep",
    "summary_markdown",
    "sweep",
    "train",
    "validate_run",
    "write_sweep_summary",
]
