"""The training loop proper, free of Ray: batches of packed blocks -> AdamW steps on LoRA params -> eval perplexity.

Loss is taken only where a block's loss mask is set (completion tokens, closing token included; see
training/packing.py); padding is excluded by that mask, never by comparing ids with the pad id.

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

from clara_ray.training.packing import Blocks


@dataclass
class LoopState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of `epoch` already consumed (resume point)
    tokens: int = 0


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # ids, loss mask, positions: each (batch, block) int64/bool


def batches(blocks: Blocks, batch_size: int, epoch: int, seed: int, skip: int = 0) -> Iterator[Batch]:
    """Shuffled micro-batches of one epoch; same order for the same epoch+seed."""
    order = np.random.default_rng(seed + epoch).permutation(len(blocks))
    for b, i in enumerate(range(0, len(order), batch_size)):
        if b >= skip:
            yield to_tensors(blocks.take(order[i : i + batch_size]))


def to_tensors(blocks: Blocks) -> Batch:
    return (torch.from_numpy(blocks.ids.astype(np.int64)), torch.from_numpy(blocks.loss.copy()),
            torch.from_numpy(blocks.pos.astype(np.int64)))


def lm_loss(model, batch: Batch) -> tuple[torch.Tensor, int]:
    """Mean next-token loss over the masked targets; returns (loss, n_target_tokens).

    Position ids restart per packed record and no attention mask is passed, so transformers attends within
    each record only; use_cache=False because a KV cache turns that packed-sequence detection off.
    """
    ids, mask, pos = batch
    labels = ids.masked_fill(~mask, -100)
    n = int(mask[:, 1:].sum())
    out = model(input_ids=ids, position_ids=pos, labels=labels, use_cache=False)
    if n == 0:  # a batch of prompt-only rows: nothing to learn, but keep the graph (DDP needs every param)
        return out.logits.sum() * 0.0, 0
    return out.loss, n


@torch.no_grad()
def evaluate(model, blocks: Blocks, batch_size: int, device: torch.device) -> tuple[float, int]:
    """Token-weighted summed loss and token count over `blocks` (callers all-reduce, then exp)."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(blocks), batch_size):
        batch = tuple(t.to(device) for t in to_tensors(blocks.take(slice(i, i + batch_size))))
        loss, k = lm_loss(model, batch)
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
    blocks: Blocks,
    state: LoopState,
    *,
    batch_size: int,
    grad_accum: int,
    total_steps: int,
    peak_lr: float,
    seed: int,
    device: torch.device,
    on_step: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """One epoch from `state.batch_in_epoch`; calls on_step after each optimizer step with its metrics."""
    warmup = max(1, total_steps // 20)
    model.train()
    t0, tok0 = time.perf_counter(), state.tokens
    micro = 0
    for batch in batches(blocks, batch_size, state.epoch, seed, skip=state.batch_in_epoch):
        batch = tuple(t.to(device) for t in batch)
        loss, _ = lm_loss(model, batch)
        (loss / grad_accum).backward()
        state.tokens += batch[0].numel()
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
