"""One layer's attention, one head or the mean of heads, and the mask that was applied to it.

Shared by :func:`dynmask_viz.plots.plot_mask_effect` and
:class:`dynmask_viz.widgets.AttentionExplorer`, so a figure and the explorer show the same
numbers. Inputs are :class:`~dynmask_viz.hf.AttentionResult` objects (padding removed).
Boolean convention: True = *the query may attend to the key*.
"""

from __future__ import annotations

import operator

import torch

__all__ = ["attention_view", "mask_view"]


def _check_head(head, heads: int) -> None:
    if head == "mean":
        return
    if isinstance(head, bool) or not isinstance(head, int) or not -heads <= head < heads:
        raise ValueError(f"head must be 'mean' or an int in [-{heads}, {heads}); got {head!r}.")


def attention_view(result, layer: int, head: int | str = "mean", index: int = 0) -> torch.Tensor:
    """``[n, n]`` attention weights of one layer of example ``index``.

    Args:
        result: An ``AttentionResult``.
        layer: Layer index (negative counts from the end).
        head: A head index, or ``"mean"`` for the average over heads.
        index: Example of the batch.

    Raises:
        ValueError: ``layer`` or ``head`` out of range (the message gives the range).
    """
    example = result.example(index)  # [layers, heads, n, n]
    layers, heads = example.shape[:2]
    try:
        layer = operator.index(layer)  # any integer: int, numpy or torch integer scalars
    except TypeError:
        raise ValueError(f"layer must be an int in [-{layers}, {layers}); got {layer!r}.") from None
    if not -layers <= layer < layers:
        raise ValueError(f"layer {layer} out of range: the model has {layers} layers.")
    _check_head(head, heads)
    return example[layer].mean(0) if head == "mean" else example[layer, head]


def mask_view(result, head: int | str = "mean", index: int = 0, *, reduce: str = "share") -> torch.Tensor:
    """``[n, n]`` float mask applied to example ``index``: 1 = may attend, 0 = blocked.

    A mask shared by every head is returned as is. A per-head mask gives the chosen head's,
    or, for ``head="mean"``, ``reduce="share"`` (the share of heads that may attend) or
    ``"all"`` (1 only where every head may attend).

    Raises:
        ValueError: ``head`` out of range, or an unknown ``reduce``.
    """
    if reduce not in ("share", "all"):
        raise ValueError(f"reduce must be 'share' or 'all'; got {reduce!r}.")
    applied = result.mask_of(index)  # [1|heads, n, n] bool
    _check_head(head, result.num_heads)
    if applied.shape[0] == 1:
        return applied[0].float()
    if head == "mean":
        return applied.float().mean(0) if reduce == "share" else applied.all(0).float()
    return applied[head].float()
