"""What the explorers show: the state snapshots of :class:`MaskingExplorer` and
:class:`AttentionExplorer` (plain frozen dataclasses, safe to keep and compare).

Boolean conventions: ``ExplorerState.static_masked`` / ``dynamic_masked`` are True where a
token is *selected for MLM prediction*; ``AttentionState.mask`` is the share of heads that
*may attend* (1 = allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..analysis import EpochGrid
from ..masking import MaskingConfig

__all__ = ["AttentionState", "ExplorerState"]


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer shows (a snapshot; grids hold all ``epochs`` rows).

    Attributes:
        text: The sentence.
        tokens: Its ``L`` tokens (special tokens dropped).
        config: The :class:`MaskingConfig` (probability, unit; 80/10/10).
        seed: Masking seed.
        epoch: Last epoch shown (rows ``0..epoch``).
        epochs: Rows of each grid.
        dupe_factor: Distinct static masks.
        mode: ``"both"``, ``"static"`` or ``"dynamic"``.
        static: :class:`EpochGrid` of static masking (``[epochs, L]`` tensors).
        dynamic: :class:`EpochGrid` of dynamic masking.
    """

    text: str
    tokens: list[str]
    config: MaskingConfig
    seed: int
    epoch: int
    epochs: int
    dupe_factor: int
    mode: str
    static: EpochGrid
    dynamic: EpochGrid

    def __repr__(self) -> str:
        # One line, not the grids' tensors.
        return (
            f"ExplorerState(mode={self.mode!r}, epoch={self.epoch}, epochs={self.epochs}, "
            f"dupe_factor={self.dupe_factor}, seed={self.seed}, {len(self.tokens)} tokens)"
        )

    @property
    def static_masked(self) -> torch.Tensor:
        """``[epoch + 1, L]`` bool, True = selected, static masking, epochs shown so far."""
        return self.static.masked[: self.epoch + 1]

    @property
    def dynamic_masked(self) -> torch.Tensor:
        """``[epoch + 1, L]`` bool, True = selected, dynamic masking, epochs shown so far."""
        return self.dynamic.masked[: self.epoch + 1]

    def exposure(self) -> dict:
        """Per scheme, up to ``epoch``: masks drawn, distinct corrupted inputs, share ever masked.

        Two masks that both select nothing give the same input, so ``distinct_inputs`` can be
        below ``masks_drawn`` on short sentences with a small ``p``.
        """
        return {
            kind: {
                "masks_drawn": grid.masks_drawn(self.epoch),
                "distinct_inputs": grid.distinct_inputs(self.epoch),
                "ever_masked": round(grid.ever_masked_share(self.epoch), 4),
            }
            for kind, grid in (("static", self.static), ("dynamic", self.dynamic))
        }


@dataclass(frozen=True)
class AttentionState:
    """What the explorer shows. Matrices are ``[L, L]`` float, rows = queries, columns = keys.

    Attributes:
        text, model_name, tokens: The input and its ``L`` tokens.
        rule: Name of the rule applied (with parameters and dropped tokens), e.g. ``"causal"``.
        params: Values of the rule's parameter controls.
        dropped: Indices of the tokens dropped as keys.
        layer, head: What is shown; ``head`` is None when heads are averaged.
        mask: Share of the shown heads allowed to attend (1 = allowed, True = may attend).
        without, with_mask: Attention weights without / with the mask.
        difference: ``with_mask - without``.
        empty_rows: Queries the rule left with no key (they attend to themselves instead).
        forward_calls: Forward passes requested so far by this explorer.
    """

    text: str
    model_name: str
    tokens: list[str]
    rule: str
    params: dict
    dropped: tuple[int, ...]
    layer: int
    head: int | None
    mask: torch.Tensor
    without: torch.Tensor
    with_mask: torch.Tensor
    difference: torch.Tensor
    empty_rows: int
    forward_calls: int

    def __repr__(self) -> str:
        # One line: the default repr prints the four [L, L] matrices (about 100 lines in a
        # notebook when explorer.set(...) ends a cell).
        head = "mean of heads" if self.head is None else f"head={self.head}"
        return (
            f"AttentionState(rule={self.rule!r}, layer={self.layer}, {head}, "
            f"{len(self.tokens)} tokens, dropped={list(self.dropped)}, "
            f"largest change={float(self.difference.abs().max()):.3f})"
        )
