"""Request bodies of the OpenAI-compatible routes: what we implement is typed, anything else is a 400 naming the field.

Unknown fields are refused (`extra="forbid"`), never silently dropped: a client asking for `tools` or
`response_format={"type": "json_object"}` must not get a 200 without them. Fields sent with their "off" value
(`null`, `response_format={"type": "text"}`, `tools=[]`, ...) are accepted, since SDKs and frameworks send those.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_STOPS = 16
MAX_N = 8

# field -> values that mean "not used"; a request carrying only these is served as if the field were absent.
_OFF_VALUES: dict[str, tuple[Any, ...]] = {
    "response_format": ({"type": "text"},),
    "tools": ([],),
    "functions": ([],),
    "tool_choice": ("none",),
    "logit_bias": ({},),
    "store": (False,),
    "echo": (False,),
    "best_of": (1,),
    "suffix": ("",),
    "modalities": (["text"],),
}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False
    """Send a last chunk with the token usage (and `choices: []`) before `[DONE]`."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=160)
    """An alias (`baurecht`), an exact version (`baurecht@v3`), `<base>:<alias>`, or the base model's id."""
    max_tokens: int | None = Field(None, ge=1)
    """Tokens to generate at most; unset = as many as fit, up to `serving.max_new_tokens`."""
    temperature: float | None = Field(None, ge=0, le=2)
    """Unset = the base model's generation_config (greedy when it asks for no sampling)."""
    top_p: float | None = Field(None, ge=1e-6, le=1)
    """Nucleus sampling mass; below 1e-6 nothing but the top token is left to sample."""
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0, le=5)
    """Extension (as vLLM): CTRL-style penalty over prompt and output tokens; 1 = off."""
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=MAX_N)
    """Choices per prompt, generated concurrently (with `seed` set, choice i uses seed + i)."""
    user: str | None = Field(None, max_length=256)
    """OpenAI's end-user id; the log records the authenticated caller. During an alias's canary the share of callers
    it answers is drawn per caller and `user` (the same user keeps getting the same version)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_off_values(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items()
                if not (v is None and k not in cls.model_fields) and v not in _OFF_VALUES.get(k, ())}

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> list[str] | None:
        stops = [v] if isinstance(v, str) else v
        if stops is None:
            return None
        if len(stops) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop sequences")
        if any(s == "" for s in stops):
            raise ValueError("stop sequences must be non-empty")
        return stops or None

    @model_validator(mode="after")
    def _stream_options_need_stream(self):
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def sampling(self) -> dict:
        """Keyword arguments of GenerationRequest shared by both routes (without max_tokens and logprobs)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "repetition_penalty": self.repetition_penalty,
                "presence_penalty": self.presence_penalty, "frequency_penalty": self.frequency_penalty,
                "stop": self.stop, "seed": self.seed}

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionBody(_Request):
    prompt: str | list[str] = Field(min_length=1)
    """One prompt or several (each gets `n` choices)."""
    logprobs: int | None = Field(None, ge=0, le=5)
    """Log-probabilities of each generated token and of the `logprobs` most likely alternatives."""

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and (len(v) > MAX_N or any(not p for p in v)):
            raise ValueError(f"a list of 1 to {MAX_N} non-empty prompts")
        return v

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart]
    """Text, or content parts of which only `text` parts are supported (the base model reads text)."""
    name: str | None = Field(None, max_length=64)
    """Accepted for compatibility; chat templates have no place for it."""

    @field_validator("role")
    @classmethod
    def _no_tools(cls, v: str) -> str:
        if v == "tool":
            raise ValueError("'tool' messages are not supported: this server does not implement tool calling")
        return v

    @field_validator("content")
    @classmethod
    def _text_parts(cls, v: str | list[ContentPart]) -> str | list[ContentPart]:
        if isinstance(v, list):
            for i, part in enumerate(v):
                if part.type != "text" or part.text is None:
                    raise ValueError(f"part {i} has type {part.type!r}; only 'text' parts are supported")
        return v

    def as_turn(self) -> dict:
        """{role, content} for the chat template: `developer` is a system turn, text parts are joined."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatBody(_Request):
    messages: list[ChatMessage] = Field(min_length=1, max_length=512)
    max_completion_tokens: int | None = Field(None, ge=1)
    """OpenAI's newer name for max_tokens; wins when both are given."""
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    """Alternatives per token (needs `logprobs: true`)."""

    @model_validator(mode="after")
    def _top_needs_logprobs(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs to be true")
        return self

    @property
    def token_limit(self) -> tuple[int | None, str]:
        """(limit, the field it came from) so errors name what the client sent."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens, "max_tokens"

    @property
    def logprobs_k(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None
