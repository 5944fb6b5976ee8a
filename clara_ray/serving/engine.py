"""Engine interface for multi-LoRA text generation: request/result types, errors and the abstract Engine."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FinishReason = Literal["stop", "length"]


class GenerationRequest(BaseModel):
    """One completion request. `adapter=None` means the plain base model."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    prompt_token_ids: list[int] | None = None
    """The prompt already tokenised (chat routes: model/chat_format.py, as in training); None: the engine
    tokenises `prompt` as a raw completion prompt (BOS once, then the text)."""
    adapter: str | None = None
    max_tokens: int = Field(default=128, ge=1)
    # Sampling fields: None = the model's generation_config default (greedy, top_p 1, no penalty if it sets none).
    temperature: float | None = Field(default=None, ge=0.0)  # 0 = greedy
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0)  # CTRL-style over prompt + output; 1 = off
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)  # OpenAI: minus this from every generated token
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)  # OpenAI: minus this x the token's output count
    stop: list[str] | None = None
    seed: int | None = None  # seeds the per-request sampler (ignored when greedy)
    logprobs: int | None = Field(default=None, ge=0, le=20)
    """None: no log-probabilities; k >= 0: each generated token's logprob plus its k most likely alternatives."""

    @field_validator("stop")
    @classmethod
    def _non_empty_stops(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(s == "" for s in v):
            raise ValueError("stop strings must be non-empty")
        return v or None


class TopLogprob(BaseModel):
    token: str
    logprob: float


class TokenLogprob(BaseModel):
    """One generated token: its text, log-probability (after penalties, before temperature) and the top alternatives."""

    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = []


class GenerationResult(BaseModel):
    """Outcome of a finished request. `token_ids` includes a final EOS token if one was produced."""

    text: str
    token_ids: list[int]
    completion_tokens: int
    prompt_tokens: int
    finish_reason: FinishReason
    adapter: str | None = None
    logprobs: list[TokenLogprob] | None = None  # one per token of `token_ids` when the request asked for them


class StreamChunk(BaseModel):
    """One piece of a streamed answer. The last chunk of a stream has `finish_reason` and the token counts set."""

    text: str = ""
    logprobs: list[TokenLogprob] | None = None  # tokens produced since the previous chunk
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class EngineError(Exception):
    """Base class of all engine errors."""


class AdapterNotFound(EngineError, LookupError):
    """The named adapter is not loaded (or no adapter exists at the given path)."""


class AdapterIncompatible(EngineError, ValueError):
    """The adapter cannot be served by this engine (base mismatch, rank too high, bad files...). Nothing was loaded."""


class PromptTooLong(EngineError, ValueError):
    """The tokenised prompt exceeds the engine's prompt limit."""


class EngineOverloaded(EngineError):
    """Too many requests queued; retry later."""


class Engine(abc.ABC):
    """A text-generation engine serving one base model plus many LoRA adapters."""

    @abc.abstractmethod
    async def generate(self, req: GenerationRequest) -> GenerationResult:
        """Run a request to completion."""

    @abc.abstractmethod
    def stream(self, req: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """Yield text deltas as tokens are produced (async generator); the last chunk says why it finished."""

    @abc.abstractmethod
    def load_adapter(self, adapter_id: str, path: str) -> None:
        """Load (or replace) a PEFT LoRA adapter folder under `adapter_id`."""

    @abc.abstractmethod
    def unload_adapter(self, adapter_id: str) -> None:
        """Unload an adapter; raises AdapterNotFound if it is not loaded."""

    @abc.abstractmethod
    def loaded_adapters(self) -> list[str]:
        """Ids of the adapters that requests may currently name."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """Counters for monitoring."""
