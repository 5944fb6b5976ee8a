"""OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions (with `stream: true`).

The adapter is chosen by `model`: an alias (`baurecht`), an exact version (`baurecht@v3`),
`<base>:<alias>` as Ray Serve LLM spells it, or the base model's name.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend

router = APIRouter(prefix="/v1", tags=["openai"])


class _Common(BaseModel):
    model: str = Field(max_length=160)
    max_tokens: int = Field(16, ge=1)
    # Unset sampling fields take the base model's generation_config (greedy when it asks for no sampling).
    temperature: float | None = Field(None, ge=0, le=5)
    top_p: float | None = Field(None, gt=0, le=1)
    repetition_penalty: float | None = Field(None, gt=0, le=5)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    n: int = Field(1, ge=1, le=1)
    user: str | None = None

    def params(self) -> dict:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "repetition_penalty": self.repetition_penalty, "stop": stop, "seed": self.seed}


class CompletionBody(_Common):
    prompt: str = Field(min_length=1)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBody(_Common):
    messages: list[ChatMessage] = Field(min_length=1)


def _svc(request: Request):
    return backend(request, "serving")


@router.get("/models")
async def models(request: Request, who: Annotated[Principal, require("adapters:read")]):
    return {"object": "list", "data": _svc(request).catalog.models()}


def _sse(chunks, make_chunk) -> StreamingResponse:
    async def events():
        async for delta in chunks:
            yield f"data: {json.dumps(make_chunk(delta, None))}\n\n"
        yield f"data: {json.dumps(make_chunk('', 'stop'))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@router.post("/completions")
async def completions(body: CompletionBody, request: Request,
                      who: Annotated[Principal, require("serving:generate")]):
    svc, cid, created = _svc(request), f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        resolved, chunks = await svc.stream(body.prompt, body.model, **body.params())
        return _sse(chunks, lambda d, fin: {"id": cid, "object": "text_completion", "created": created,
                                            "model": body.model,
                                            "choices": [{"index": 0, "text": d, "finish_reason": fin}]})
    out = await svc.generate(body.prompt, body.model, **body.params())
    u = out["usage"]
    return {"id": cid, "object": "text_completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "text": out["text"], "finish_reason": out["finish_reason"], "logprobs": None}],
            "usage": {**u, "total_tokens": u["prompt_tokens"] + u["completion_tokens"]}}


@router.post("/chat/completions")
async def chat_completions(body: ChatBody, request: Request,
                           who: Annotated[Principal, require("serving:generate")]):
    svc, cid, created = _svc(request), f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    prompt, prompt_ids = svc.chat_prompt([m.model_dump() for m in body.messages])
    if body.stream:
        resolved, chunks = await svc.stream(prompt, body.model, prompt_token_ids=prompt_ids, **body.params())
        return _sse(chunks, lambda d, fin: {"id": cid, "object": "chat.completion.chunk", "created": created,
                                            "model": body.model, "choices": [{
                                                "index": 0, "delta": {"role": "assistant", "content": d} if d else {},
                                                "finish_reason": fin}]})
    out = await svc.generate(prompt, body.model, prompt_token_ids=prompt_ids, **body.params())
    u = out["usage"]
    return {"id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": out["text"]},
                         "finish_reason": out["finish_reason"]}],
            "usage": {**u, "total_tokens": u["prompt_tokens"] + u["completion_tokens"]}}
