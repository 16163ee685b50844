"""``MaskingEpochCallback``: tell an ``MLMCollator`` the epoch from inside the HF Trainer.

It lives in the Hugging Face layer because it subclasses ``transformers.TrainerCallback``;
:mod:`dynmask_viz.masking` itself imports no transformers code.
"""

from __future__ import annotations

from transformers import TrainerCallback

__all__ = ["MaskingEpochCallback"]


class MaskingEpochCallback(TrainerCallback):
    """Hugging Face ``TrainerCallback`` that calls ``collator.set_epoch`` at each epoch start.

    With it an :class:`~dynmask_viz.masking.MLMCollator` is *keyed*: the mask of example ``i``
    in epoch ``e`` is a function of ``(seed, i, e)``, the same across workers, ranks and a
    resumed run. Without it the collator stays in *fresh* mode: new masks every call (every
    epoch too), as Hugging Face's collator gives, reproducible only from the seed and call order.

    Example:
        >>> trainer = Trainer(..., data_collator=collator,
        ...                   callbacks=[MaskingEpochCallback(collator)])  # doctest: +SKIP

    Args:
        collator: An :class:`~dynmask_viz.masking.MLMCollator` (anything with ``set_epoch``).
    """

    def __init__(self, collator) -> None:
        if not callable(getattr(collator, "set_epoch", None)):
            raise TypeError(
                "MaskingEpochCallback(collator) needs a collator with set_epoch(epoch), e.g. "
                f"dynmask_viz.masking.MLMCollator; got {type(collator).__name__}."
            )
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        """Set the collator's epoch to the Trainer's (0-based) epoch."""
        self.collator.set_epoch(int(state.epoch or 0))
