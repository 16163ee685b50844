"""Static (BERT) and dynamic (RoBERTa) masking: which mask an example gets in each epoch."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ._checks import check_epoch, check_seed, is_int
from .config import MaskingConfig
from .core import MaskedBatch, mask_batch
from .vocab import MaskingVocab


@dataclass(frozen=True)
class _Masking:
    config: MaskingConfig = field(default_factory=MaskingConfig)
    seed: int = 0

    kind = "base"

    def __post_init__(self) -> None:
        # Checked here, not at the first batch: a wrong config would otherwise fail mid-training.
        if not isinstance(self.config, MaskingConfig):
            raise TypeError(
                f"{type(self).__name__}(config) must be a MaskingConfig; got {type(self.config).__name__}."
            )
        object.__setattr__(self, "seed", check_seed(self.seed))  # frozen: a numpy int as int

    def mask_epoch(self, epoch: int | torch.Tensor) -> int | torch.Tensor:
        """Index of the mask drawn in training epoch ``epoch`` (0-based)."""
        raise NotImplementedError

    def distinct_masks(self, epochs: int) -> int:
        """How many different masks an example is seen with over ``epochs`` epochs."""
        raise NotImplementedError

    def __call__(
        self,
        input_ids: torch.Tensor,
        vocab: MaskingVocab,
        *,
        epoch: int | torch.Tensor = 0,
        example_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedBatch:
        """Mask a batch for training epoch ``epoch``; other arguments as in :func:`mask_batch`.

        ``epoch`` is an int or an integer tensor ``[]``/``[B]`` in ``[0, 2**32)``; floats are
        refused rather than truncated.
        """
        check_epoch("epoch", epoch)
        return mask_batch(
            input_ids,
            vocab,
            self.config,
            seed=self.seed,
            example_ids=example_ids,
            mask_epoch=self.mask_epoch(epoch),
            **kwargs,
        )


@dataclass(frozen=True)
class DynamicMasking(_Masking):
    """RoBERTa's dynamic masking: a fresh mask every time a sequence is fed.

    The mask of an example in epoch ``e`` is keyed on ``(seed, example_id, e)``: new in every
    epoch, yet reproducible (after a restart, on any worker or rank).

    Example:
        >>> masking = DynamicMasking(MaskingConfig(), seed=0)
        >>> batch = masking(input_ids, vocab, epoch=3, example_ids=ids)  # doctest: +SKIP
    """

    kind = "dynamic"

    def mask_epoch(self, epoch):
        return epoch

    def distinct_masks(self, epochs: int) -> int:
        return epochs


@dataclass(frozen=True)
class StaticMasking(_Masking):
    """BERT's static masking: masks fixed during preprocessing, cycled over the epochs.

    BERT duplicated the data ``dupe_factor`` (10) times with different masks; over 40 epochs
    each mask is seen 4 times. Here the same effect needs no copy of the data: epoch ``e``
    uses mask ``e % dupe_factor``. ``dupe_factor=1`` is a single mask for ever.

    Attributes:
        dupe_factor: Number of distinct masks per example (BERT: 10).
    """

    dupe_factor: int = 10
    kind = "static"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not is_int(self.dupe_factor) or self.dupe_factor < 1:
            raise ValueError(f"dupe_factor must be an int >= 1; got {self.dupe_factor!r}.")

    def mask_epoch(self, epoch):
        return epoch % self.dupe_factor

    def distinct_masks(self, epochs: int) -> int:
        return min(epochs, self.dupe_factor)


def make_masking(kind: str, config: MaskingConfig | None = None, *, seed: int = 0, dupe_factor: int = 10):
    """Build ``StaticMasking`` or ``DynamicMasking`` by name (for configs, CLIs and widgets).

    Args:
        kind: ``"static"`` or ``"dynamic"``.
        config: The masking config; default ``MaskingConfig()``.
        seed: Experiment seed, any int.
        dupe_factor: Distinct static masks, an int >= 1 (ignored for ``"dynamic"``).
    """
    config = MaskingConfig() if config is None else config
    if not isinstance(kind, str) or kind not in ("static", "dynamic"):
        raise ValueError(f"Unknown masking kind {kind!r}; expected 'static' or 'dynamic'.")
    if kind == "dynamic":
        return DynamicMasking(config, seed)
    return StaticMasking(config, seed, dupe_factor)
