"""Load models and tokenizers: the offline default, local folders, or Hub names when cached.

:func:`load_chinese_tokenizer` gives a Chinese tokenizer the same way: bert-base-chinese's
WordPiece vocabulary offline (the ``zh_vocab`` asset), or a local folder or Hub name.

Safetensors only, never ``trust_remote_code``, eager attention by default (this package
inspects attention weights, which SDPA never materialises in transformers 5). The offline
default is checked against its pinned sha256 before use, so a damaged or tampered file is
refused rather than loaded.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..assets import ASSETS, asset_dir, asset_path, chinese_vocab_path, default_model_dir

__all__ = [
    "CAUSAL_LM_DIR",
    "ModelUnavailableError",
    "load_causal_lm",
    "load_chinese_tokenizer",
    "load_model",
    "load_tokenizer",
    "quiet_progress_bars",
]

# The small causal LM the project trains and commits (dynmask_viz.causal_lm, preset "tiny"). It
# ships with the repository (data/ is not in the wheel), found relative to this package.
CAUSAL_LM_DIR = Path(__file__).resolve().parents[2] / "data" / "models" / "causal_lm_tiny"
_CAUSAL_LM_REBUILD = "python -m dynmask_viz.causal_lm train --preset tiny --out data/models/causal_lm_tiny"
_CAUSAL_DEFAULT = (
    "load_causal_lm() with name_or_path=None (the small GPT-2 committed under data/models/causal_lm_tiny)"
)

_MINILM_DEFAULT = "name_or_path=None or 'minilm' (all-MiniLM-L6-v2, shipped via pip)"
_CHINESE_DEFAULT = (
    "load_chinese_tokenizer() with name_or_path=None (bert-base-chinese's WordPiece vocabulary, "
    "shipped via pip)"
)


class ModelUnavailableError(OSError):
    """A Hub model could not be loaded (no internet and not in the local HF cache)."""


def _resolve(name_or_path: str | os.PathLike | None) -> tuple[str, bool]:
    """Map a user argument to (what to pass to from_pretrained, whether it is a Hub name)."""
    if name_or_path is None or name_or_path == "minilm":
        return str(default_model_dir()), False  # checked against its pins (asset_path)
    local = Path(name_or_path).expanduser()
    if not local.is_dir():
        return str(name_or_path), True
    for name in ASSETS:
        # The cached asset folder given by path gets the same check as the default.
        if local.resolve() == asset_dir(name).resolve():
            return str(asset_path(name)), False
    return str(local), False


@contextlib.contextmanager
def quiet_progress_bars():
    """Hide transformers' progress bars ("Loading weights 0/103") inside the block, then restore.

    transformers 5 draws a tqdm bar on stderr for every ``from_pretrained``; in a notebook it is
    saved into the cell's output. Its ``disable_progress_bar()`` / ``enable_progress_bar()``
    also switch every huggingface_hub bar (and ``enable`` clears per-group settings), so both
    are saved on entry and put back exactly when the block ends, also on an exception:
    transformers' flag and huggingface_hub's ``progress_bar_states`` (the global setting and
    each group's, e.g. after ``huggingface_hub.utils.disable_progress_bars("peft")``).
    """
    from transformers.utils import logging as hf_logging

    hub_states = _hub_progress_bar_states()
    was_enabled, hub_saved = hf_logging.is_progress_bar_enabled(), dict(hub_states)
    with _hub_env_warnings_ignored():
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        with _hub_env_warnings_ignored():
            (hf_logging.enable_progress_bar if was_enabled else hf_logging.disable_progress_bar)()
        # In place: huggingface_hub reads this very dict whenever it creates a bar.
        hub_states.clear()
        hub_states.update(hub_saved)


def _hub_progress_bar_states() -> dict:
    """huggingface_hub's progress-bar settings (``{"_global": bool, group: bool}``), the dict itself.

    huggingface_hub has no public getter for the whole state (``are_progress_bars_disabled``
    answers for one group at a time), so the module's dict is read; ``huggingface_hub.utils.tqdm``
    is the class of the same name, hence ``importlib`` for the module.
    """
    import importlib

    module = importlib.import_module("huggingface_hub.utils.tqdm")
    states = getattr(module, "progress_bar_states", None)
    if not isinstance(states, dict):
        import huggingface_hub

        raise RuntimeError(
            "huggingface_hub.utils.tqdm.progress_bar_states is not a dict in huggingface_hub "
            f"{huggingface_hub.__version__}, so quiet_progress_bars cannot save and restore the Hub's "
            "progress-bar settings: adapt dynmask_viz.hf.loading._hub_progress_bar_states to it."
        )
    return states


@contextlib.contextmanager
def _hub_env_warnings_ignored():
    """Silence the warning huggingface_hub gives when ``HF_HUB_DISABLE_PROGRESS_BARS`` overrides a
    switch: the switch is quiet_progress_bars' own, and the user's settings come back anyway."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Cannot (en|dis)able progress bars")
        yield


def _from_pretrained(loader, name_or_path, *, offline_default: str = _MINILM_DEFAULT, resolve=None, **kwargs):
    """Call ``loader.from_pretrained`` (progress bars hidden) and turn Hub failures into a
    helpful error that names ``offline_default``, the call that works offline."""
    target, is_hub = (resolve or _resolve)(name_or_path)
    try:
        with quiet_progress_bars():
            return loader.from_pretrained(target, trust_remote_code=False, **kwargs)
    except OSError as exc:  # transformers reports offline / not cached / bad repo id this way
        if not is_hub:
            raise
        raise ModelUnavailableError(
            f"Could not load {target!r}: it is not a local folder, and Hub models need internet "
            f"or a warm Hugging Face cache. The offline default is {offline_default}. "
            f"Original error: {exc}"
        ) from exc


def load_tokenizer(name_or_path: str | os.PathLike | None = None):
    """Load a (fast) tokenizer.

    Args:
        name_or_path: None or ``"minilm"`` for the offline default (all-MiniLM-L6-v2, an
            uncased BERT WordPiece tokenizer), a local model folder, or a Hub model name.

    Raises:
        ModelUnavailableError: A Hub name that cannot be loaded (offline, not cached).
        AssetIntegrityError: The offline default (or its cache folder given as a path) has a
            file that does not match its pinned sha256; nothing is loaded from it.
    """
    from transformers import AutoTokenizer  # heavy import: only when a model is wanted

    return _from_pretrained(AutoTokenizer, name_or_path)


def load_chinese_tokenizer(name_or_path: str | os.PathLike | None = None):
    """Load a Chinese (fast) tokenizer: bert-base-chinese's, offline by default.

    The offline default is a ``transformers.BertTokenizerFast`` built from the pinned
    vocabulary (the ``zh_vocab`` asset, checked against its sha256 before use) with
    bert-base-chinese's settings: ``do_lower_case=False`` (its ``tokenizer_config.json``),
    ``tokenize_chinese_chars=True`` (every CJK character is its own word, so one token per
    character), ``model_max_length=512``. Ids: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102,
    [MASK] 103; 21,128 tokens. Cased, as bert-base-chinese's own settings are, while its
    vocabulary holds few upper-case pieces: a word such as "iPhone12" becomes one [UNK];
    lower-casing the text first keeps it (``iphone``, ``##12``).

    Args:
        name_or_path: None (or the ``zh_vocab`` asset folder) for the offline default; a
            local tokenizer folder or a Hub name (e.g. ``"bert-base-chinese"``) goes to
            ``AutoTokenizer.from_pretrained`` as in :func:`load_tokenizer`.

    Raises:
        ModelUnavailableError: A Hub name that cannot be loaded (offline, not cached); the
            message names the offline default.
        AssetIntegrityError: The pinned vocabulary does not match its sha256; nothing is
            loaded from it.
    """
    if name_or_path == "minilm":
        raise ValueError(
            "name_or_path='minilm' is the English offline default (load_tokenizer()); the Chinese "
            "one is load_chinese_tokenizer() with no argument."
        )
    if name_or_path is None or _is_asset_dir(name_or_path, "zh_vocab"):
        from transformers import BertTokenizerFast  # heavy import: only when a tokenizer is wanted

        vocab = chinese_vocab_path()  # checked against its pin here (asset_path)
        # `vocab=` (a path), not `vocab_file=`: transformers 5 ignores `vocab_file` in the
        # constructor and silently builds a 5-token vocabulary.
        return BertTokenizerFast(
            vocab=str(vocab),
            do_lower_case=False,
            tokenize_chinese_chars=True,
            model_max_length=512,
            name_or_path=str(vocab.parent),
        )
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name_or_path, offline_default=_CHINESE_DEFAULT)


def _is_asset_dir(name_or_path: str | os.PathLike, name: str) -> bool:
    local = Path(name_or_path).expanduser()
    return local.is_dir() and local.resolve() == asset_dir(name).resolve()


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    model_class=None,
    attn_implementation: str = "eager",
    dtype=None,
    device=None,
):
    """Load a model in eval mode, from safetensors only and never with remote code.

    Attention defaults to ``"eager"`` because this package inspects attention weights: in
    transformers 5 the SDPA/flash kernels never materialise them, and a forward pass with
    ``output_attentions=True`` then returns ``attentions=()`` (one log line, no error).

    Args:
        name_or_path: As in :func:`load_tokenizer`.
        model_class: A transformers model class; default ``transformers.AutoModel`` (the
            default checkpoint has no MLM head, so that gives a plain ``BertModel``).
        attn_implementation: Passed to ``from_pretrained``.
        dtype: Optional torch dtype (default: transformers' default for the checkpoint).
        device: Optional device to move the model to.

    Raises:
        ModelUnavailableError: A Hub name that cannot be loaded (offline, not cached).
        AssetIntegrityError: The offline default (or its cache folder given as a path) has a
            file, e.g. ``model.safetensors``, that does not match its pinned sha256: it is
            refused, never loaded. Each file is hashed once per process (see
            :mod:`dynmask_viz.assets.integrity`); the message names the repair command.
    """
    if model_class is None:
        from transformers import AutoModel as model_class
    extra = {} if dtype is None else {"dtype": dtype}
    model = _from_pretrained(
        model_class,
        name_or_path,
        use_safetensors=True,
        attn_implementation=attn_implementation,
        **extra,
    )
    return (model if device is None else model.to(device)).eval()


def _resolve_causal(name_or_path: str | os.PathLike | None) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a Hub name) for :func:`load_causal_lm`."""
    if name_or_path is None:
        if not (CAUSAL_LM_DIR / "model.safetensors").is_file():
            raise ModelUnavailableError(
                f"The committed causal LM is not at {CAUSAL_LM_DIR}: it ships with the repository's "
                "data/ folder, not with an installed wheel. Use a clone of the repository installed "
                "with `pip install -e .`, or rebuild it there (about 25 min on one CPU thread) with "
                f"`{_CAUSAL_LM_REBUILD}`, or pass a model folder or Hub name as name_or_path."
            )
        return str(CAUSAL_LM_DIR), False
    local = Path(name_or_path).expanduser()
    return (str(local), False) if local.is_dir() else (str(name_or_path), True)


def load_causal_lm(
    name_or_path: str | os.PathLike | None = None, *, attn_implementation: str = "eager", device=None
):
    """Load a causal language model and its tokenizer, in eval mode, float32.

    Args:
        name_or_path: None for the offline default, the small GPT-2 this project trains and
            commits (``data/models/causal_lm_tiny``, see :mod:`dynmask_viz.causal_lm`); a local
            model folder; or a Hub name (``"gpt2"``, ``"HuggingFaceTB/SmolLM2-135M"``) when it
            is in the local Hugging Face cache or online.
        attn_implementation: ``"eager"`` by default, so ``output_attentions=True`` returns the
            weights (SDPA returns none).
        device: Optional device to move the model to.

    Returns:
        ``(model, tokenizer)``: an ``AutoModelForCausalLM`` and its fast tokenizer. A tokenizer
        without a pad token gets its eos token as pad token (GPT-2's convention).

    Raises:
        ModelUnavailableError: The committed model is missing (an installed wheel has no data/
            folder; the message says how to get or rebuild it), or a Hub name cannot be loaded
            (offline, not cached; the message names the offline default).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = {"offline_default": _CAUSAL_DEFAULT, "resolve": _resolve_causal}
    tokenizer = _from_pretrained(AutoTokenizer, name_or_path, **common)
    model = _from_pretrained(
        AutoModelForCausalLM,
        name_or_path,
        use_safetensors=True,
        attn_implementation=attn_implementation,
        dtype=torch.float32,
        **common,
    )
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model, "loss_type", None) is None:
        # transformers guesses the loss from the class name; GPT2LMHeadModel's matches none and
        # every loss then warns before using ForCausalLM anyway.
        model.loss_type = "ForCausalLM"
    return (model if device is None else model.to(device)).eval(), tokenizer
