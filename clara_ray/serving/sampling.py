"""Per-row token choice of the CPU engine (temperature, top-p, CTRL repetition penalty) and its weight dtype."""

from __future__ import annotations

import torch

from .model_defaults import model_dtype


def sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None) -> int:
    probs = torch.softmax(logits / temperature, dim=-1)  # logits: [V] float32
    if top_p < 1.0:
        p_sorted, order = probs.sort(descending=True)
        # keep the smallest prefix whose mass reaches top_p (always at least the top token)
        p_sorted = p_sorted * ((p_sorted.cumsum(0) - p_sorted) < top_p)
        return int(order[torch.multinomial(p_sorted, 1, generator=gen)])
    return int(torch.multinomial(probs, 1, generator=gen))


def penalise(logits: torch.Tensor, seen: list[int], penalty: float) -> None:
    """CTRL repetition penalty in place on one row [V]: seen tokens' logits / penalty if > 0, else * penalty."""
    idx = torch.tensor(seen, dtype=torch.long)
    vals = logits.gather(0, idx)
    logits.scatter_(0, idx, torch.where(vals > 0, vals / penalty, vals * penalty))


def engine_dtype(base: str, dtype: str | torch.dtype) -> torch.dtype:
    """Torch dtype of the engine. `auto`: config.json's (float16 checkpoints run in float32); float16 is refused."""
    if dtype == "auto":
        dtype = model_dtype(base) or "float32"
        dtype = dtype if dtype in ("float32", "bfloat16") else "float32"
    resolved = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if resolved not in (torch.float32, torch.bfloat16):
        raise ValueError(f"CpuEngine runs float32 or bfloat16, not {resolved} (float16 is for GPU engines)")
    return resolved
