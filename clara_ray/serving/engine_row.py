"""One request inside the batched engine: its state, sampling values, tokens, text and what was streamed so far."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum

import torch

from .detok import IncrementalDetokenizer, StopChecker
from .engine import GenerationRequest, GenerationResult, TokenLogprob
from .lru import AdapterEntry
from .model_defaults import SamplingDefaults
from .sampling import GREEDY_BELOW


class RowState(str, Enum):
    """Life of a request row: queued, in the decode batch, finished (or dropped)."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"


def resolve_sampling(req: GenerationRequest, defaults: SamplingDefaults, device: torch.device
                     ) -> tuple[float, float, float, torch.Generator | None]:
    """(temperature, top_p, repetition_penalty, generator) of a request: its own values, else the model's; a
    seeded generator on `device` when it samples (None: greedy)."""
    temperature, top_p, rep_penalty = defaults.resolve(req)
    temperature = 0.0 if temperature < GREEDY_BELOW else temperature  # logits / 1e-300 would overflow
    gen = None
    if temperature > 0:
        gen = torch.Generator(device=device)
        gen.manual_seed(req.seed) if req.seed is not None else gen.seed()
    return temperature, top_p, rep_penalty, gen


Event = tuple["Row", str, bool]  # (row, text now safe to stream, row finished)


@dataclass(eq=False)
class Row:
    req: GenerationRequest
    prompt_ids: list[int]
    max_tokens: int
    entry: AdapterEntry | None
    streaming: bool
    queue: asyncio.Queue
    detok: IncrementalDetokenizer
    stopper: StopChecker
    gen: torch.Generator | None  # on the engine's device (torch.multinomial needs it there)
    temperature: float = 0.0  # resolved sampling values (request, else the model's generation_config)
    top_p: float = 1.0
    rep_penalty: float = 1.0
    slot: int = 0  # LoRA slot, fixed at admission (0 = base model)
    state: RowState = RowState.WAITING
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # chars of `text` already streamed
    logprobs: list[TokenLogprob] = field(default_factory=list)  # one per token_ids entry, when requested
    logprobs_sent: int = 0
    finish_reason: str | None = None
    cancelled: bool = False

    def push(self, tok: int, eos_ids: frozenset[int], events: list[Event]) -> bool:
        """Record a sampled token; emit the text that is now safe to stream. Returns True if the row finished."""
        self.token_ids.append(tok)
        reason = None
        if tok in eos_ids:
            reason, new = "stop", self.detok.flush()
        else:
            new = self.detok.push(tok)
            if len(self.token_ids) >= self.max_tokens:
                reason, new = "length", new + self.detok.flush()
        if new:
            start = len(self.text)
            self.text += new
            i = self.stopper.find(self.text, start)
            if i >= 0:
                self.text, reason = self.text[: max(i, self.sent)], "stop"
        end = len(self.text) if reason else self.stopper.safe_len(self.text)
        delta = self.text[self.sent : end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        if reason:
            self.finish_reason = reason
        if delta or reason:
            events.append((self, delta, reason is not None))
        return reason is not None

    def unsent_logprobs(self) -> list[TokenLogprob] | None:
        if self.req.logprobs is None:
            return None
        new, self.logprobs_sent = self.logprobs[self.logprobs_sent :], len(self.logprobs)
        return new

    def result(self) -> GenerationResult:
        return GenerationResult(
            text=self.text,
            token_ids=self.token_ids,
            completion_tokens=len(self.token_ids),
            prompt_tokens=len(self.prompt_ids),
            finish_reason=self.finish_reason,
            adapter=self.req.adapter,
            logprobs=self.logprobs if self.req.logprobs is not None else None,
        )
