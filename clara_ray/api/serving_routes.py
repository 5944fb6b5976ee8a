"""Seed serving routes: adapters (load/activate/unload/list/rollback/archive/merge), generate (plain/stream/batch), router."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.background import BackgroundTask

from clara_ray.adapters.export import check_export_name, remove_archive
from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.api.pinning import allow_inactive
from clara_ray.serving.service import Call
from clara_ray.training.spec import check_adapter_name

router = APIRouter(prefix="/api/serving", tags=["serving"])
log = logging.getLogger("clara.api")


class GenerateBody(BaseModel):
    model_config = {"extra": "forbid"}
    prompt: str = Field(min_length=1)
    """The prompt text (sent as is; use /v1/chat/completions for chat formatting)."""
    adapter: str | None = Field(None, max_length=120)
    """`name`, `name@vN`, `base`; omitted = the router picks one."""
    max_tokens: int = Field(64, ge=1)
    temperature: float | None = Field(None, ge=0, le=5)
    """0 = greedy; omitted = the model's generation_config default (greedy when it sets none)."""
    top_p: float | None = Field(None, gt=0, le=1)
    """Omitted = the model's default (1.0 when it sets none)."""
    repetition_penalty: float | None = Field(None, gt=0, le=5)
    """> 1 discourages repeating prompt or output tokens; omitted = the model's default (1.0 = off)."""
    stop: list[str] | None = Field(None, max_length=16)
    """Stop sequences (non-empty); the text ends before the first one."""
    seed: int | None = None

    @field_validator("stop")
    @classmethod
    def _non_empty(cls, v: list[str] | None) -> list[str] | None:
        if v and any(s == "" for s in v):
            raise ValueError("stop sequences must be non-empty")
        return v

    def params(self) -> dict:
        return self.model_dump(exclude={"prompt", "adapter"})

    def call(self, who: Principal, allow_inactive: bool = False) -> Call:
        return Call(completion_id=f"gen-{uuid.uuid4().hex[:24]}", route="generate", caller=who.subject,
                    allow_inactive=allow_inactive)


class BatchBody(BaseModel):
    model_config = {"extra": "forbid"}
    requests: list[GenerateBody] = Field(min_length=1, max_length=64)


class LoadBody(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(max_length=48)
    """Adapter name (alias) to register the version under (clara_ray/names.py rules)."""
    path: str = Field(min_length=1, max_length=1024)
    """PEFT folder on the server, under `serving.adapter_import_roots` (403 otherwise)."""
    domain: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=2000)

    _check_name = field_validator("name")(lambda cls, v: check_adapter_name(v))


class ActivateBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=120)
    """The exact version to serve for its alias, e.g. `baurecht@v3`."""


class RollbackBody(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(max_length=48)
    to_version: int | None = Field(None, ge=1)
    """Version number to re-activate; default the previously active one."""

    _check_name = field_validator("name")(lambda cls, v: check_adapter_name(v))


class MergeBody(BaseModel):
    model_config = {"extra": "forbid"}
    output_dir: str = Field(min_length=1, max_length=200)
    """Folder name relative to `<storage.data_dir>/exports/` (e.g. `baurecht-v3`); must not exist yet."""

    @field_validator("output_dir")
    @classmethod
    def _relative_name(cls, v: str) -> str:
        return check_export_name(v)


class RouterConfigBody(BaseModel):
    model_config = {"extra": "forbid"}
    # An omitted field keeps its value; only default_adapter may be null (no default). The others are not
    # Optional, so an explicit null is a 422 naming the field, not a value stored into the router.
    default_adapter: str | None = None
    hard_domain: float = Field(None, ge=0)
    conf_low: float = Field(None, ge=0, le=1)
    conf_high: float = Field(None, ge=0, le=1)
    use_embeddings: bool = None
    exploration: float = Field(None, ge=0, le=1)


def _svc(request: Request):
    return backend(request, "serving")


@router.post("/load_adapter", status_code=201)
async def load_adapter(body: LoadBody, request: Request, who: Annotated[Principal, require("adapters:activate")]):
    """Register a PEFT adapter folder as a new immutable version (validated: base model, rank, files)."""
    return await asyncio.to_thread(_svc(request).load_adapter, body.name, body.path, domain=body.domain,
                                   description=body.description)


@router.post("/activate_adapter")
async def activate_adapter(body: ActivateBody, request: Request,
                           who: Annotated[Principal, require("adapters:activate")]):
    """Point the alias at this version; every replica serves it for new requests, in-flight ones finish."""
    return await asyncio.to_thread(_svc(request).activate, body.adapter)


@router.post("/rollback")
async def rollback(body: RollbackBody, request: Request, who: Annotated[Principal, require("adapters:activate")]):
    """Re-activate an earlier version of an alias."""
    return await asyncio.to_thread(_svc(request).rollback, body.name, body.to_version)


@router.delete("/unload_adapter")
async def unload_adapter(request: Request, who: Annotated[Principal, require("adapters:activate")],
                         adapter: Annotated[str, Query(max_length=120)]):
    """Retire a version (not the active one): new requests cannot use it; replicas evict it when idle."""
    return await asyncio.to_thread(_svc(request).unload, adapter)


@router.get("/adapters/list")
async def list_adapters(request: Request, who: Annotated[Principal, require("adapters:read")]):
    return await asyncio.to_thread(_svc(request).list_adapters)


@router.get("/adapters/{ref}/archive")
async def adapter_archive(request: Request, who: Annotated[Principal, require("adapters:read")],
                          ref: Annotated[str, Path(max_length=120)]):
    """Download a version's PEFT folder (adapter_config.json + weights) as `<name>-v<N>.tar.gz`."""
    path, filename = await asyncio.to_thread(_svc(request).adapter_archive, ref)
    return FileResponse(path, media_type="application/gzip", filename=filename,
                        background=BackgroundTask(remove_archive, path))


@router.post("/adapters/{ref}/merge", status_code=201)
async def merge_adapter(body: MergeBody, request: Request, who: Annotated[Principal, require("adapters:activate")],
                        ref: Annotated[str, Path(max_length=120)]):
    """Merge a version into the base model and save it (with the tokenizer) as a plain HF folder under
    `<storage.data_dir>/exports/<output_dir>`; returns that folder (relative to exports) and its files."""
    return await asyncio.to_thread(_svc(request).merge_adapter, ref, body.output_dir)


@router.post("/generate")
async def generate(body: GenerateBody, request: Request, who: Annotated[Principal, require("serving:generate")]):
    call = body.call(who, allow_inactive(request, who))
    return await _svc(request).generate(body.prompt, body.adapter, call=call, **body.params())


@router.post("/generate/batch")
async def generate_batch(body: BatchBody, request: Request,
                         who: Annotated[Principal, require("serving:generate")]):
    """Run all requests concurrently (they share decoding batches); results in request order."""
    svc, pinned = _svc(request), allow_inactive(request, who)
    results = await asyncio.gather(*(svc.generate(r.prompt, r.adapter, call=r.call(who, pinned), **r.params())
                                     for r in body.requests))
    return {"results": results}


@router.post("/generate/stream", responses={200: {"content": {"text/event-stream": {  # one schema per event
    "schema": {"type": "object", "properties": {"data": {"type": "string"}}}}}}})
async def generate_stream(body: GenerateBody, request: Request,
                          who: Annotated[Principal, require("serving:generate")]):
    """Server-sent events: `data: {"delta", "model", "id"}` per text chunk, a last event with `finish_reason` and
    `usage`, then `data: [DONE]`; a failure mid-stream sends `data: {"error", "detail"}` instead."""
    svc, call = _svc(request), body.call(who, allow_inactive(request, who))
    resolved, chunks = await svc.stream(body.prompt, body.adapter, call=call, **body.params())
    head = {"id": call.completion_id, "model": svc.version_of(resolved)}

    async def events():
        try:
            async for c in chunks:
                if c.text:
                    yield f"data: {json.dumps({**head, 'delta': c.text})}\n\n"
                if c.finish_reason is not None:
                    usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
                    yield f"data: {json.dumps({**head, 'delta': '', 'finish_reason': c.finish_reason, 'usage': usage})}\n\n"
        except Exception as e:  # noqa: BLE001 - the status line is sent: report in the stream
            log.error("stream failed", exc_info=e)
            yield f"data: {json.dumps({'error': type(e).__name__, 'detail': 'generation failed'})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"x-clara-model-version": head["model"]})


@router.get("/router/status")
async def router_status(request: Request, who: Annotated[Principal, require("adapters:read")]):
    return await _svc(request).router_status()


@router.post("/router/configure")
async def router_configure(body: RouterConfigBody, request: Request,
                           who: Annotated[Principal, require("adapters:activate")]):
    """Change router thresholds / default adapter at run time: stored in the database (a restarted replica keeps
    them) and pushed to every API replica before the call returns."""
    updates = body.model_dump(exclude_unset=True)
    new = await asyncio.to_thread(_svc(request).configure_router, updates, who.subject)
    return new.model_dump()
