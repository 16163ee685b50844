"""MLM masking leaves the attention mask alone: ``[MASK]`` tokens are keys like any other.

The MLM mask decides which tokens are *replaced and predicted*; the attention mask decides which
keys a query *may attend to*. They are different things: a ``[MASK]`` token is fed to the
encoder, every query may attend to it, and it gets attention weight like any other token.
:func:`mlm_masked_attention` masks one sentence with :mod:`dynmask_viz.masking`, runs a model
on it with :func:`dynmask_viz.hf.extract_attention` and returns what chapter 02 prints.

Boolean conventions: ``mask_positions`` is True where a ``[MASK]`` token was fed; ``allowed``
is True where the query *may attend* to the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..hf import extract_attention
from ..masking import MaskingConfig, as_vocab, mask_batch
from .encoding import encode_texts

__all__ = ["MaskedTextAttention", "WHOLE_WORDS_AS_MASK", "mlm_masked_attention"]

# Whole words, every selected token written as [MASK]: the masked text then re-tokenizes to
# exactly the masked ids. extract_attention takes text, and a random replacement or a [MASK]
# inside a word ("[MASK] ##rch" is written "[MASK]rch") would not survive the trip.
WHOLE_WORDS_AS_MASK = MaskingConfig(unit="word", mask_replace_prob=1.0, random_replace_prob=0.0)


@dataclass(frozen=True)
class MaskedTextAttention:
    """One MLM-masked sentence run through a model (``n`` tokens, specials included).

    Attributes:
        text: The text fed to the model, ``[MASK]`` where a token was selected.
        tokens: The ``n`` tokens the model saw.
        mask_positions: ``[n]`` bool, True where a ``[MASK]`` token was fed.
        allowed: ``[n, n]`` bool, the attention mask the model applied (True = the query may
            attend to the key), as :func:`~dynmask_viz.hf.extract_attention` reports it.
        attention: ``[layers, heads, n, n]`` float attention weights (rows = queries).
    """

    text: str
    tokens: list[str]
    mask_positions: torch.Tensor
    allowed: torch.Tensor
    attention: torch.Tensor

    def weight_on_mask_keys(self) -> torch.Tensor:
        """``[layers]`` mean weight a query gives one ``[MASK]`` key (mean over heads, queries, keys)."""
        return self.attention[..., self.mask_positions].mean(dim=(1, 2, 3))

    def weight_on_other_keys(self) -> torch.Tensor:
        """``[layers]`` mean weight a query gives one other key (the tokens not masked)."""
        return self.attention[..., ~self.mask_positions].mean(dim=(1, 2, 3))

    def summary(self) -> dict:
        """The figures chapter 02 prints: counts, what the mask allows, weights on ``[MASK]`` keys.

        Weights are per key, averaged over layers, heads and queries, next to ``1 / n``, the
        weight of every key under uniform attention.
        """
        n = len(self.tokens)
        return {
            "tokens": n,
            "mask_tokens": int(self.mask_positions.sum()),
            "allowed_pairs": f"{int(self.allowed.sum())} of {n * n}",
            "every_query_may_attend_every_mask_key": bool(self.allowed[:, self.mask_positions].all()),
            "weight_per_mask_key": round(float(self.weight_on_mask_keys().mean()), 4),
            "weight_per_other_key": round(float(self.weight_on_other_keys().mean()), 4),
            "uniform_weight_1_over_n": round(1.0 / n, 4),
        }


def mlm_masked_attention(
    model,
    tokenizer,
    text: str,
    config: MaskingConfig | None = None,
    *,
    seed: int = 0,
    example_id: int = 0,
) -> MaskedTextAttention:
    """Mask ``text`` for MLM, feed the masked text to ``model`` and read its attention.

    Args:
        model: A transformers encoder with a ``[MASK]`` token in its vocabulary (e.g.
            ``hf.load_model()``).
        tokenizer: Its tokenizer.
        text: One sentence.
        config: The masking (default :data:`WHOLE_WORDS_AS_MASK`: whole words, all
            ``[MASK]``). It must write only ``[MASK]`` (``random_replace_prob=0``) and, for
            ``unit="token"``, may cut words, which this function then refuses.
        seed: Masking seed.
        example_id: Key of the sentence (as a dataset index would be).

    Returns:
        A :class:`MaskedTextAttention`.

    Raises:
        ValueError: A config that writes random tokens, no ``[MASK]`` drawn (try another seed
            or a higher ``mlm_probability``), or a masked text that does not re-tokenize to
            the masked ids.
    """
    config = WHOLE_WORDS_AS_MASK if config is None else config
    if config.random_replace_prob != 0:
        raise ValueError(
            f"config.random_replace_prob must be 0 (got {config.random_replace_prob}): a random "
            "replacement does not survive the trip through text. Use WHOLE_WORDS_AS_MASK."
        )
    vocab = as_vocab(tokenizer)
    encoded = encode_texts(text, tokenizer, max_length=512)
    masked = mask_batch(
        encoded.input_ids,
        vocab,
        config,
        seed=seed,
        example_ids=torch.tensor([example_id]),
        attention_mask=encoded.attention_mask,
        word_ids=encoded.word_ids,
    )
    real = encoded.attention_mask[0].bool()
    fed_ids = masked.input_ids[0, real]
    if not bool(masked.replaced_by_mask.any()):
        raise ValueError(
            f"No token of {text!r} was replaced by [MASK] with seed={seed}: pass another seed or "
            "a config with a higher mlm_probability."
        )
    # The text between [CLS] and [SEP]: extract_attention adds them again, as in training.
    fed_text = tokenizer.decode(fed_ids[1:-1].tolist(), skip_special_tokens=False)
    result = extract_attention(model, tokenizer, fed_text)
    if not torch.equal(result.input_ids[0, result.padding_mask[0]].cpu(), fed_ids):
        raise ValueError(
            f"The masked text {fed_text!r} does not re-tokenize to the masked ids (a [MASK] inside "
            "a word?): use unit='word' (WHOLE_WORDS_AS_MASK)."
        )
    return MaskedTextAttention(
        text=fed_text,
        tokens=result.tokens[0],
        mask_positions=fed_ids == vocab.mask_token_id,
        allowed=result.mask_of(0).all(0).cpu(),
        attention=result.example(0).cpu(),
    )
