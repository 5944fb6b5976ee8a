"""The training loop proper, free of Ray: batches of packed blocks -> AdamW steps on LoRA params -> eval perplexity.

Ray Train's worker function (ray_loop.py) and the plain single-process benchmark both drive this code,
so their steady-state speeds compare like for like.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch


@dataclass
class LoopState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of `epoch` already consumed (resume point)
    tokens: int = 0


def batches(blocks: np.ndarray, batch_size: int, epoch: int, seed: int, skip: int = 0) -> Iterator[torch.Tensor]:
    """Shuffled micro-batches of one epoch, (batch_size, block_size) int64; same order for the same epoch+seed."""
    order = np.random.default_rng(seed + epoch).permutation(len(blocks))
    for b, i in enumerate(range(0, len(order), batch_size)):
        if b >= skip:
            yield torch.from_numpy(blocks[order[i : i + batch_size]].astype(np.int64))


def lm_loss(model, ids: torch.Tensor, pad_id: int | None) -> tuple[torch.Tensor, int]:
    """Mean next-token loss over non-pad targets; returns (loss, n_target_tokens)."""
    labels = ids.clone()
    if pad_id is not None:
        labels[labels == pad_id] = -100
    out = model(input_ids=ids, labels=labels)
    return out.loss, int((labels[:, 1:] != -100).sum())


@torch.no_grad()
def evaluate(model, blocks: np.ndarray, batch_size: int, device: torch.device, pad_id: int | None) -> tuple[float, int]:
    """Token-weighted summed loss and token count over `blocks` (callers all-reduce, then exp)."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(blocks), batch_size):
        ids = torch.from_numpy(blocks[i : i + batch_size].astype(np.int64)).to(device)
        loss, k = lm_loss(model, ids, pad_id)
        total += float(loss) * k
        n += k
    model.train(was_training)
    return total, n


def perplexity(loss_sum: float, n_tokens: int) -> float:
    return math.exp(min(loss_sum / max(n_tokens, 1), 50.0))


def make_optimizer(model, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to 10 % of peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train_epoch(
    model,
    optimizer: torch.optim.Optimizer,
    blocks: np.ndarray,
    state: LoopState,
    *,
    batch_size: int,
    grad_accum: int,
    total_steps: int,
    peak_lr: float,
    seed: int,
    device: torch.device,
    pad_id: int | None,
    on_step: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """One epoch from `state.batch_in_epoch`; calls on_step after each optimizer step with its metrics."""
    warmup = max(1, total_steps // 20)
    model.train()
    t0, tok0 = time.perf_counter(), state.tokens
    micro = 0
    for ids in batches(blocks, batch_size, state.epoch, seed, skip=state.batch_in_epoch):
        ids = ids.to(device)
        loss, _ = lm_loss(model, ids, pad_id)
        (loss / grad_accum).backward()
        state.tokens += ids.numel()
        state.batch_in_epoch += 1
        micro += 1
        if micro % grad_accum:
            continue
        lr = lr_at(state.step, total_steps, peak_lr, warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        if on_step:
            dt = time.perf_counter() - t0
            on_step({"step": state.step, "epoch": state.epoch, "loss": loss.detach().item(), "learning_rate": lr,
                     "tokens_per_s": (state.tokens - tok0) / dt if dt > 0 else 0.0})
        if state.step >= total_steps or should_stop():
            return
    state.epoch += 1
    state.batch_in_epoch = 0


def steps_per_epoch(n_blocks: int, batch_size: int, grad_accum: int, world: int) -> int:
    per_rank = math.ceil(n_blocks / world)
    return max(1, math.ceil(per_rank / batch_size) // grad_accum)
