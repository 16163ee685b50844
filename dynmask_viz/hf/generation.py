"""A causal language model, step by step: next-token prediction and generation with a KV cache.

* :func:`next_token_view` (from :mod:`.next_token`): one text's logits, the labels shifted by
  one, and the loss computed by hand next to the model's own (``labels=input_ids``).
* :func:`generate_with_cache`: generation by hand with a ``DynamicCache``, one token per
  forward pass, recording what each step gives the model and what it reads back: the query
  length (the prompt length on step 0, then 1), the cache length, the 4-D mask the attention
  layers actually received (read by a forward pre-hook) and each layer's attention row of the
  step's last query.
* :func:`verify_generation`: the same tokens and logits without a cache (one full causal
  forward pass) and from ``model.generate(do_sample=False)``.

The model must run eager attention (``load_causal_lm`` loads it so): SDPA returns no weights.
Boolean masks here: True = *the query may attend to the key*.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..attention_masks import is_blocked
from .extraction import ensure_eager
from .mask_capture import captured_attention_masks
from .next_token import NextTokenView, _encode, _max_positions, _tokens, next_token_view

__all__ = [
    "GenerationStep",
    "GenerationTrace",
    "NextTokenView",
    "generate_with_cache",
    "next_token_view",
    "verify_generation",
]


@dataclass(frozen=True)
class GenerationStep:
    """One forward pass of generation with a KV cache.

    Attributes:
        step: 0 for the prompt's pass, then 1, 2, ...
        input_ids: ``[query_length]`` the ids fed (the prompt, then the last generated token).
        query_length: Queries of this pass: the prompt length on step 0, then 1.
        cache_length: Keys in the cache *before* the pass (0 on step 0).
        mask: ``[1, 1, query_length, cache_length + query_length]`` the additive mask the
            attention layers received (0 = may attend, ``finfo.min`` = blocked).
        mask_row: bool ``[cache_length + query_length]`` the last query's row (True = may attend).
        attention: ``[layers, heads, cache_length + query_length]`` each layer's attention
            weights of the last query (the token whose output predicts the next one).
        logits: ``[V]`` the last query's logits.
        token_id, token: The token chosen from them.
    """

    step: int
    input_ids: torch.Tensor
    query_length: int
    cache_length: int
    mask: torch.Tensor
    mask_row: torch.Tensor
    attention: torch.Tensor
    logits: torch.Tensor
    token_id: int
    token: str


@dataclass(frozen=True)
class GenerationTrace:
    """A prompt and the tokens generated from it, step by step.

    Attributes:
        prompt_ids: ``[P]``; prompt_tokens: its tokens as strings.
        steps: One :class:`GenerationStep` per generated token.
        greedy: Argmax (True) or sampling.
    """

    prompt_ids: torch.Tensor
    prompt_tokens: list[str]
    steps: list[GenerationStep]
    greedy: bool

    @property
    def generated_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]

    @property
    def all_ids(self) -> torch.Tensor:
        """``[P + steps]`` the prompt and every generated token."""
        return torch.cat([self.prompt_ids, torch.tensor(self.generated_ids, dtype=torch.int64)])

    @property
    def tokens(self) -> list[str]:
        """Prompt and generated tokens, as strings."""
        return self.prompt_tokens + [s.token for s in self.steps]

    def attention_rows(self, layer: int = -1, head: int | None = None) -> torch.Tensor:
        """``[steps, P + steps - 1]``: each step's attention row (NaN where the key does not
        exist yet). ``head=None``: the mean over heads."""
        width = len(self.prompt_ids) + len(self.steps) - 1
        rows = torch.full((len(self.steps), width), float("nan"))
        for i, s in enumerate(self.steps):
            a = s.attention[layer]
            rows[i, : a.shape[-1]] = a.mean(0) if head is None else a[head]
        return rows


def _attention_modules(model) -> list[torch.nn.Module]:
    found = [m for m in model.modules() if type(m).__name__.endswith("Attention") and hasattr(m, "layer_idx")]
    if not found:
        raise TypeError(
            "found no attention layers (modules named *Attention with a layer_idx) in "
            f"{type(model).__name__}."
        )
    return found


@torch.no_grad()
def generate_with_cache(
    model,
    tokenizer,
    prompt: str,
    steps: int = 8,
    *,
    greedy: bool = True,
    generator: torch.Generator | None = None,
) -> GenerationTrace:
    """Generate ``steps`` tokens one forward pass at a time, with a ``DynamicCache``.

    Step 0 feeds the whole prompt (its keys and values fill the cache); every later step feeds
    only the token chosen last, whose query attends to the cache plus itself.

    Args:
        model: A causal LM with eager attention (e.g. from ``load_causal_lm``).
        tokenizer: Its tokenizer.
        prompt: The text to continue (no special tokens are added).
        steps: Tokens to generate, >= 1.
        greedy: Argmax; False: sample from the softmax with ``generator``.
        generator: Needed when ``greedy`` is False (randomness is explicit).

    Raises:
        ValueError: Bad ``steps``, empty prompt, sampling without a generator, or more
            positions than the model has.
    """
    from transformers import DynamicCache

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1 (tokens to generate); got {steps!r}.")
    if not greedy and generator is None:
        raise ValueError("greedy=False samples: pass generator=torch.Generator().manual_seed(...).")
    ensure_eager(model)
    ids = _encode(tokenizer, prompt, "prompt").to(model.device)
    limit = _max_positions(model)
    if limit is not None and ids.shape[1] + steps - 1 > limit:
        raise ValueError(
            f"prompt ({ids.shape[1]} tokens) + steps ({steps}) needs {ids.shape[1] + steps - 1} positions; "
            f"the model has {limit}. Shorten the prompt or lower steps."
        )
    _attention_modules(model)  # a clear TypeError for a model without attention layers
    cache = DynamicCache(config=model.config)
    records: list[GenerationStep] = []
    feed = ids
    # The mask each step's first layer received, read by forward pre-hooks (removed on exit).
    with captured_attention_masks(model) as seen:
        for step in range(steps):
            seen.clear()
            cache_length = cache.get_seq_length()
            # The 2-D padding mask covers the cache and the new tokens (all real: no padding),
            # as model.generate passes it; the model turns it into the 4-D mask read above.
            keep = torch.ones(1, cache_length + feed.shape[1], dtype=torch.int64, device=model.device)
            out = model(
                input_ids=feed,
                attention_mask=keep,
                past_key_values=cache,
                use_cache=True,
                output_attentions=True,
            )
            cache = out.past_key_values
            logits = out.logits[0, -1].float()
            if greedy:
                token = int(logits.argmax())
            else:
                token = int(torch.multinomial(logits.softmax(-1).cpu(), 1, generator=generator))
            if not seen or seen[0] is None:
                raise RuntimeError(
                    "the attention layers received no 4-D mask: load the model with eager attention."
                )
            mask = seen[0].detach().float().cpu()
            records.append(
                GenerationStep(
                    step=step,
                    input_ids=feed[0].cpu(),
                    query_length=feed.shape[1],
                    cache_length=cache_length,
                    mask=mask,
                    mask_row=~is_blocked(mask[0, 0, -1]),
                    attention=torch.stack([a[0, :, -1] for a in out.attentions]).float().cpu(),
                    logits=logits.cpu(),
                    token_id=token,
                    token=_tokens(tokenizer, [token])[0],
                )
            )
            feed = torch.tensor([[token]], device=model.device)
    return GenerationTrace(ids[0].cpu(), _tokens(tokenizer, ids[0].tolist()), records, greedy)


@torch.no_grad()
def verify_generation(model, tokenizer, trace: GenerationTrace) -> dict:
    """Check a trace against one full forward pass without cache and against ``model.generate``.

    Returns:
        ``{"max_logit_diff": float, "max_attention_diff": float, "same_as_generate": bool or
        None (sampled traces are not compared), "generate_ids": list}``. The full pass feeds the
        prompt and every generated token but the last; its position ``P - 1 + s`` must give
        step ``s``'s logits and attention row. ``generate`` decodes greedily as the trace does,
        for exactly as many tokens and with no end-of-sequence handling (``eos_token_id=None``):
        a trace that picks EOS goes on after it, and so does ``generate``. Other logits
        processors in ``model.generation_config`` (a repetition penalty...) still apply there;
        the models of this package have none.
    """
    ensure_eager(model)
    full = trace.all_ids[:-1][None].to(model.device)
    out = model(input_ids=full, attention_mask=torch.ones_like(full), use_cache=False, output_attentions=True)
    start = len(trace.prompt_ids) - 1
    logit_diff, attention_diff = 0.0, 0.0
    for s in trace.steps:
        pos = start + s.step
        logit_diff = max(logit_diff, (out.logits[0, pos].float().cpu() - s.logits).abs().max().item())
        rows = torch.stack([a[0, :, pos, : pos + 1] for a in out.attentions]).float().cpu()
        attention_diff = max(attention_diff, (rows - s.attention).abs().max().item())
    result = {"max_logit_diff": logit_diff, "max_attention_diff": attention_diff, "same_as_generate": None}
    if trace.greedy:
        prompt = trace.prompt_ids[None].to(model.device)
        # generate_with_cache takes the plain argmax every step, EOS included, and never stops:
        # so generate runs with no EOS (no stop, and no min_new_tokens, which would forbid EOS).
        generated = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=len(trace.steps),
            do_sample=False,
            eos_token_id=None,
            forced_eos_token_id=None,
            pad_token_id=tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        )
        ids = generated[0, len(trace.prompt_ids) :].tolist()
        result["generate_ids"] = ids
        result["same_as_generate"] = ids == trace.generated_ids
    return result
