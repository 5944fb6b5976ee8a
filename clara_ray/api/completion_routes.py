"""Completion-log routes: list the generations served (with filters) and read one, each with its feedback."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.learning.feedback_refs import FeedbackGiven, feedback_on
from clara_ray.serving.completion_log import CompletionLog, CompletionNotFound, CompletionRecord

router = APIRouter(tags=["completions"])

COMPLETIONS_READ = "completions:read"


class CompletionOut(BaseModel):
    """One logged generation as the API returns it."""

    id: str
    route: str
    model: str
    adapter: str | None
    version_id: str | None
    version_ref: str | None
    prompt: str
    messages: list[dict] | None
    output: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    caller: str | None
    created_at: datetime
    error: str | None
    feedback: list[FeedbackGiven]

    @classmethod
    def of(cls, rec: CompletionRecord, feedback: list[FeedbackGiven]) -> "CompletionOut":
        return cls(id=rec.id, route=rec.route, model=rec.model, adapter=rec.alias, version_id=rec.version_id,
                   version_ref=rec.version_ref, prompt=rec.prompt, messages=rec.messages, output=rec.output,
                   finish_reason=rec.finish_reason, prompt_tokens=rec.prompt_tokens,
                   completion_tokens=rec.completion_tokens, latency_ms=rec.latency_ms, caller=rec.caller,
                   created_at=rec.created_at, error=rec.error, feedback=feedback)


class CompletionPage(BaseModel):
    items: list[CompletionOut]
    total: int
    offset: int
    limit: int


def _log(request: Request) -> CompletionLog:
    return backend(request, "completions")


@router.get("/api/completions", response_model=CompletionPage)
async def list_completions(
        request: Request, who: Annotated[Principal, require(COMPLETIONS_READ)],
        adapter: Annotated[str | None, Query(max_length=48, description="Adapter alias (ref before '@')")] = None,
        version: Annotated[str | None, Query(max_length=80, description="Version ref 'name@vN' or version id")] = None,
        caller: Annotated[str | None, Query(max_length=128, description="Principal subject that was served")] = None,
        since: Annotated[datetime | None, Query(description="Served at or after (ISO 8601; naive = UTC)")] = None,
        until: Annotated[datetime | None, Query(description="Served before (ISO 8601; naive = UTC)")] = None,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> CompletionPage:
    """Logged generations, newest first; each with the feedback given on it."""
    log = _log(request)
    items, total = await asyncio.to_thread(log.list, adapter=adapter, version=version, caller=caller, since=since,
                                           until=until, offset=offset, limit=limit)
    given = await asyncio.to_thread(feedback_on, log.db, [r.id for r in items])
    return CompletionPage(items=[CompletionOut.of(r, given.get(r.id, [])) for r in items], total=total,
                          offset=offset, limit=limit)


@router.get("/api/completions/{completion_id}", response_model=CompletionOut)
async def get_completion(completion_id: str, request: Request,
                         who: Annotated[Principal, require(COMPLETIONS_READ)]) -> CompletionOut:
    """One logged generation (also one still queued for writing) with its feedback; 404 when unknown."""
    log = _log(request)
    rec = await asyncio.to_thread(log.get, completion_id)
    if rec is None:
        raise CompletionNotFound(f"completion_id: no completion {completion_id!r}")
    given = await asyncio.to_thread(feedback_on, log.db, [rec.id])
    return CompletionOut.of(rec, given.get(rec.id, []))
