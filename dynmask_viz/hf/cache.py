"""The forward-pass cache of :func:`~dynmask_viz.hf.extract_attention`: keyed by value, private.

Widgets re-run ``extract_attention`` whenever a layer or head changes; the cache returns the
earlier forward pass instead of running the model again. Two rules keep it honest:

* **Keyed by value.** The key holds a digest of what the model actually receives (token ids,
  padding, the 4-D mask), never a reference to a caller's tensor or rule: editing the bool
  tensor a ``keep_tokens`` rule was built from changes the key, so it cannot return a stale
  result.
* **Never hands out its storage.** It stores a private copy and returns a fresh copy on every
  hit, so zeroing a returned ``attentions`` in place cannot corrupt a later hit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch

_CACHE_SIZE = 32


def fingerprint(*tensors: torch.Tensor | None) -> str:
    """A digest of the shapes, dtypes and bytes of ``tensors`` (None counts as a value too)."""
    digest = hashlib.sha1()
    for tensor in tensors:
        if tensor is None:
            digest.update(b"none")
            continue
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        # numpy has no bfloat16: hash the raw bytes through a same-width integer view.
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        if flat.dtype in (torch.bfloat16, torch.float16):
            flat = flat.view(torch.int16)
        digest.update(flat.numpy().tobytes())
    return digest.hexdigest()


def deep_clone(value):
    """A copy of ``value`` in which every tensor is cloned (tuples, lists, dicts, ModelOutput).

    Objects of other types are returned as they are (strings, numbers, None): immutable, or
    not tensors the cache could share.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):  # also transformers' ModelOutput (an OrderedDict subclass)
        return type(value)(**{k: deep_clone(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(deep_clone(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        fields = {name: deep_clone(getattr(value, name)) for name in value.__dataclass_fields__}
        return type(value)(**fields)
    return value


class _Cache:
    """A small LRU of forward passes.

    Keys are built by ``extract_attention`` from values only (see the module docstring).
    The model and tokenizer are identified by ``id``; the entry keeps them alive and a hit
    checks them with ``is``, so a recycled ``id`` can never return another model's result.
    The cache assumes a model's weights do not change: after training a model further, call
    ``CACHE.clear()`` (or pass ``use_cache=False``).

    Attributes:
        size: How many forward passes are kept (least recently used dropped first).
        hits, misses: Counters since the last :meth:`clear`.
    """

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, tuple] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, owners: tuple):
        """A fresh copy of the stored result for ``key``, or None (counted as a miss)."""
        entry = self.entries.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[1], owners)):
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return deep_clone(entry[0])

    def put(self, key: tuple, owners: tuple, result) -> None:
        """Store a private copy of ``result`` (the caller keeps and may edit the original)."""
        self.entries[key] = (deep_clone(result), owners)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self.entries.clear()
        self.hits = self.misses = 0


CACHE = _Cache()
