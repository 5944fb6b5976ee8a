"""Per-row token choice of the batched engine (temperature, top-p, penalties, logprobs), on the logits' device."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch

from .engine import TokenLogprob, TopLogprob

GREEDY_BELOW = 1e-5  # temperatures under this decode greedily (dividing logits by ~0 overflows float32)


def sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None) -> int:
    """One token id from a row [V] (float32); `gen` must live on the logits' device (torch.multinomial's rule)."""
    probs = torch.softmax(logits / temperature, dim=-1)  # logits: [V] float32
    if top_p < 1.0:
        p_sorted, order = probs.sort(descending=True)
        # keep the smallest prefix whose mass reaches top_p, and always the top token (a top_p that rounds to 0
        # in float32 would otherwise keep nothing)
        keep = (p_sorted.cumsum(0) - p_sorted) < top_p
        keep[0] = True
        return int(order[torch.multinomial(p_sorted * keep, 1, generator=gen)])
    return int(torch.multinomial(probs, 1, generator=gen))


def penalise_output(logits: torch.Tensor, output: list[int], presence: float, frequency: float) -> None:
    """OpenAI presence/frequency penalties in place on one row [V], over the tokens generated so far:
    logit[t] -= presence * (t occurred) + frequency * count(t)."""
    counts = Counter(output)
    idx = torch.tensor(list(counts), dtype=torch.long, device=logits.device)
    n = torch.tensor(list(counts.values()), dtype=logits.dtype, device=logits.device)
    logits.index_add_(0, idx, -(presence + frequency * n))


def token_logprobs(logits: torch.Tensor, token: int, top: int, text: Callable[[int], str]) -> TokenLogprob:
    """The chosen token's log-probability and the `top` most likely tokens', from the (penalised) logits [V]."""
    logp = torch.log_softmax(logits, dim=-1)
    alternatives = []
    if top:
        values, ids = logp.topk(top)
        alternatives = [TopLogprob(token=text(i), logprob=float(v)) for v, i in zip(values.tolist(), ids.tolist())]
    return TokenLogprob(token=text(token), logprob=float(logp[token]), top_logprobs=alternatives)


def penalise(logits: torch.Tensor, seen: list[int], penalty: float) -> None:
    """CTRL repetition penalty in place on one row [V]: seen tokens' logits / penalty if > 0, else * penalty."""
    idx = torch.tensor(seen, dtype=torch.long, device=logits.device)
    vals = logits.gather(0, idx)
    logits.scatter_(0, idx, torch.where(vals > 0, vals / penalty, vals * penalty))

