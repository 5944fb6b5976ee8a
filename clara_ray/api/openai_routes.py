"""OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions (streamed with `stream: true`).

The adapter is chosen by `model`: an alias (`baurecht`), an exact version (`baurecht@v3`), `<base>:<alias>` as Ray
Serve LLM spells it, or the base model's id. Every answer names the exact version that produced it in the
`x-clara-model-version` header and in `system_fingerprint`; its `id` is what feedback refers to.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from clara_ray.api.auth import Principal, require
from clara_ray.api.pinning import allow_inactive
from clara_ray.api.backends import backend
from clara_ray.api.openai_schemas import ChatBody, CompletionBody
from clara_ray.api.openai_stream import Choice, Shape, sse_response
from clara_ray.serving.service import Call

router = APIRouter(prefix="/v1", tags=["openai"])
VERSION_HEADER = "x-clara-model-version"


def _svc(request: Request):
    return backend(request, "serving")


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _choice_call(call: Call, i: int) -> Call:
    """Choice 0 is logged under the response id, choice i > 0 under `<id>.<i>` (feedback can name either)."""
    return call if i == 0 else Call(**{**call.__dict__, "completion_id": f"{call.completion_id}.{i}"})


def _seeded(params: dict, i: int) -> dict:
    return params if params.get("seed") is None else {**params, "seed": params["seed"] + i}


@router.get("/models")
async def models(request: Request, who: Annotated[Principal, require("adapters:read")]):
    return {"object": "list", "data": _svc(request).catalog.models()}


SSE_EVENT = {"type": "object", "properties": {"data": {"type": "string"}}}  # as OpenAPI describes one SSE event
SSE = {200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
             "description": "JSON, or with `stream: true` server-sent events ending in `data: [DONE]`"}}


@router.post("/completions", responses=SSE)
async def completions(body: CompletionBody, request: Request,
                      who: Annotated[Principal, require("serving:generate")]):
    svc, cid, created = _svc(request), _new_id("cmpl"), int(time.time())
    call = Call(completion_id=cid, route="completion", caller=who.subject,
                allow_inactive=allow_inactive(request, who), end_user=body.user)
    params = {**body.sampling(), "logprobs": body.logprobs}
    if body.max_tokens is not None:
        params["max_tokens"] = body.max_tokens
    jobs = [(p, _choice_call(call, i * body.n + j), _seeded(params, j))
            for i, p in enumerate(body.prompts) for j in range(body.n)]
    shape = Shape(cid, "text_completion", created, body.model)
    if body.stream:
        streams = [await svc.stream(p, body.model, call=c, **kw) for p, c, kw in jobs]
        version = svc.version_of(streams[0][0])
        return sse_response([Choice(i, s) for i, (_, s) in enumerate(streams)], shape, version,
                            body.include_usage, chat=False, per_prompt=body.n, headers={VERSION_HEADER: version})
    outs = await asyncio.gather(*(svc.generate(p, body.model, call=c, **kw) for p, c, kw in jobs))
    return _json(shape, outs, chat=False, per_prompt=body.n)


@router.post("/chat/completions", responses=SSE)
async def chat_completions(body: ChatBody, request: Request,
                           who: Annotated[Principal, require("serving:generate")]):
    svc, cid, created = _svc(request), _new_id("chatcmpl"), int(time.time())
    turns = [m.as_turn() for m in body.messages]
    limit, field = body.token_limit
    call = Call(completion_id=cid, route="chat", caller=who.subject, messages=turns, max_tokens_field=field,
                allow_inactive=allow_inactive(request, who), end_user=body.user)
    prompt, prompt_ids = svc.chat_prompt(turns)
    params = {**body.sampling(), "logprobs": body.logprobs_k, "prompt_token_ids": prompt_ids}
    if limit is not None:
        params["max_tokens"] = limit
    shape = Shape(cid, "chat.completion", created, body.model)
    if body.stream:
        streams = [await svc.stream(prompt, body.model, call=_choice_call(call, i), **_seeded(params, i))
                   for i in range(body.n)]
        version = svc.version_of(streams[0][0])
        return sse_response([Choice(i, s) for i, (_, s) in enumerate(streams)], shape, version,
                            body.include_usage, chat=True, per_prompt=body.n, headers={VERSION_HEADER: version})
    outs = await asyncio.gather(*(svc.generate(prompt, body.model, call=_choice_call(call, i), **_seeded(params, i))
                                  for i in range(body.n)))
    return _json(shape, outs, chat=True, per_prompt=body.n)


def _json(shape: Shape, outs: list[dict], *, chat: bool, per_prompt: int) -> JSONResponse:
    """The whole answer; the n choices of one prompt count its prompt tokens once."""
    version = outs[0]["model"]
    choices = [shape.final_choice(i, o["text"], o["finish_reason"], o["logprobs"], chat=chat)
               for i, o in enumerate(outs)]
    usage = {"prompt_tokens": sum(o["usage"]["prompt_tokens"] for o in outs[::per_prompt]),
             "completion_tokens": sum(o["usage"]["completion_tokens"] for o in outs)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return JSONResponse({**shape.head(version), "choices": choices, "usage": usage}, headers={VERSION_HEADER: version})
