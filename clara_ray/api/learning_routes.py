"""Learning-loop routes: feedback (inline or by completion id), per-version ratings, buffer, cycles, trigger, rollback,
ending a canary early."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, WebSocket
from pydantic import BaseModel, Field

from clara_ray.adapters.registry import UnknownAdapter
from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.api.completion_routes import COMPLETIONS_READ
from clara_ray.api.ws import pump_events
from clara_ray.learning.buffer import BufferFull
from clara_ray.learning.control import LearningControl
from clara_ray.learning.feedback import FeedbackIn, FeedbackResult, FeedbackSample, FeedbackStatus
from clara_ray.learning.feedback_refs import CompletionNotFound, InvalidFeedbackReference, resolve
from clara_ray.learning.ratings import VersionRating, ratings_for_adapter
from clara_ray.training.spec import ADAPTER_NAME_RE

router = APIRouter(tags=["learning"])


class FeedbackBatch(BaseModel):
    model_config = {"extra": "forbid"}
    items: list[FeedbackIn] = Field(min_length=1, max_length=5000)


class FeedbackBatchResult(BaseModel):
    accepted: int
    """Items queued for training."""
    rejected: int
    """Items not queued (rejected, or kept as a rating only)."""
    results: list[FeedbackResult]
    """One per item, in the order sent."""


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[!-~]+$",
    description="Any unique printable-ASCII string per logical request: a retry with the same key (same caller) "
                "gets the stored samples' results back (`replayed: true`) instead of duplicate rejections.")]

FULL_RESPONSE = {503: {"description": "The learning buffer is full (learning.overflow \"wait\"); nothing was "
                                      "stored. Retry after the Retry-After header's seconds."}}


class TriggerBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=48)


class RollbackBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=48)
    to_version: int | None = Field(None, ge=1)
    """Version number to serve again; default the previously active one."""


class CanaryEndBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=48, pattern=ADAPTER_NAME_RE.pattern)
    """The alias whose running canary ends."""
    action: Literal["promote", "rollback"]
    """promote: the canary becomes the active version; rollback: it is rejected and the active version stays."""


class AdapterRatings(BaseModel):
    adapter: str
    versions: list[VersionRating]
    """Newest version first; only feedback given by completion id names a version."""


def _loop(request: Request) -> LearningControl:
    return backend(request, "learning")


async def _resolve(body: FeedbackIn, request: Request, who: Principal) -> FeedbackSample:
    """Inline feedback as sent; by `completion_id` filled from the completion log (404 / 422, see feedback_refs)."""
    if body.completion_id is None:
        return body.sample()
    log = backend(request, "completions")
    return await asyncio.to_thread(resolve, body, log, caller=who.subject, may_read_all=who.can(COMPLETIONS_READ))


def _item_keys(key: str | None, n: int) -> list[str | None]:
    """Per item of a request: "<Idempotency-Key>#<position>" (so a batch's items are told apart), or None."""
    return [f"{key}#{i}" if key else None for i in range(n)]


def _refuse_if_full(results: list[FeedbackResult]) -> None:
    """Nothing was stored and the buffer is full: 503 with Retry-After rather than a 201 nobody retries."""
    if any(r.retryable for r in results) and not any(r.id for r in results):
        full = next(r for r in results if r.retryable)
        raise BufferFull(full.reason or "learning buffer full", full.retry_after or 1)


@router.post("/api/feedback", status_code=201, response_model=FeedbackResult, responses=FULL_RESPONSE)
async def feedback(body: FeedbackIn, request: Request, who: Annotated[Principal, require("serving:generate")],
                   idempotency_key: IdempotencyKey = None) -> FeedbackResult:
    """One sample, inline or by `completion_id` (then prompt, response and adapter come from the completion log and
    must be omitted or equal the logged ones). `status` says what happened: `queued` (durably stored before this
    answer, waits for a learning cycle), `held_out` (stored in the alias's evaluation set, never trained on),
    `rating_only` (nothing to train on, kept as a rating of the version that answered) or `rejected` with the
    reason (off-domain text and prompts of evaluation records are refused too). A retry (same Idempotency-Key, or the identical sample) answers the
    stored result with `replayed: true`. By reference: unknown id or another caller's completion 404, a
    base-model completion 422. A full buffer answers 503 with Retry-After."""
    sample = await _resolve(body, request, who)
    (result,) = await _loop(request).add_feedback([sample], caller=who.subject,
                                                  item_keys=_item_keys(idempotency_key, 1))
    _refuse_if_full([result])
    return result


@router.post("/api/feedback/batch", status_code=201, response_model=FeedbackBatchResult, responses=FULL_RESPONSE)
async def feedback_batch(body: FeedbackBatch, request: Request,
                         who: Annotated[Principal, require("serving:generate")],
                         idempotency_key: IdempotencyKey = None) -> FeedbackBatchResult:
    """Many samples, each acknowledged as in POST /api/feedback; an item whose completion_id cannot be used is
    rejected with the reason, the others proceed. With an Idempotency-Key, item i of a retry is recognised by
    the key and its position. When the buffer is full and nothing was stored: 503 with Retry-After."""
    results: list[FeedbackResult | None] = []
    samples: list[FeedbackSample] = []
    keys: list[str | None] = []
    for i, (item, key) in enumerate(zip(body.items, _item_keys(idempotency_key, len(body.items)))):
        try:
            samples.append(await _resolve(item, request, who))
            keys.append(key)
            results.append(None)
        except (CompletionNotFound, InvalidFeedbackReference) as e:
            results.append(FeedbackResult(status=FeedbackStatus.REJECTED, accepted=False, reason=str(e)))
    stored = await _loop(request).add_feedback(samples, caller=who.subject,
                                               item_keys=keys) if samples else []
    added = iter(stored)
    final = [r if r is not None else next(added) for r in results]
    _refuse_if_full(final)
    accepted = sum(r.accepted for r in final)
    return FeedbackBatchResult(accepted=accepted, rejected=len(final) - accepted, results=final)


@router.get("/api/feedback/ratings", response_model=AdapterRatings)
async def ratings(request: Request, who: Annotated[Principal, require("adapters:read")],
                  adapter: Annotated[str, Query(max_length=48, pattern=ADAPTER_NAME_RE.pattern,
                                                description="Adapter alias")]) -> AdapterRatings:
    """Per version of `adapter`: feedback count, mean rating and corrections (feedback given by completion id)."""
    versions = await asyncio.to_thread(ratings_for_adapter, backend(request, "completions").db, adapter)
    if not versions:
        raise UnknownAdapter(f"adapter {adapter!r} has no versions")
    return AdapterRatings(adapter=adapter, versions=versions)


@router.get("/api/learning/buffer")
async def buffer_stats(request: Request, who: Annotated[Principal, require("training:read")]):
    return await _loop(request).stats()


@router.get("/api/learning/cycles")
async def cycles(request: Request, who: Annotated[Principal, require("training:read")],
                 adapter: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50):
    return {"items": await _loop(request).cycles(adapter, limit)}


@router.post("/api/learning/trigger", status_code=202)
async def trigger(body: TriggerBody, request: Request, who: Annotated[Principal, require("learning:trigger")]):
    """Start a cycle now for this adapter (coalesced if one is running)."""
    return await _loop(request).trigger(body.adapter)


@router.post("/api/learning/rollback")
async def rollback(body: RollbackBody, request: Request, who: Annotated[Principal, require("adapters:activate")]):
    """Serve an earlier version again (the previous one by default); the same as POST /api/serving/rollback."""
    return await asyncio.to_thread(backend(request, "serving").rollback, body.adapter, body.to_version)


@router.post("/api/learning/canary")
async def end_canary(body: CanaryEndBody, request: Request, who: Annotated[Principal, require("adapters:activate")]):
    """End an alias's canary now, without waiting for its ratings: promote it or roll it back. Answers the finished
    learning cycle (status promoted or rolled_back, the canary's figures under `canary`); 404 without a canary."""
    return await _loop(request).end_canary(body.adapter, body.action == "promote", who.subject)


@router.websocket("/api/learning/ws")
async def learning_events(ws: WebSocket, who: Annotated[Principal, require("training:read")],
                          after: int | None = None) -> None:
    """Streams `feedback`, `cycle_started` and `cycle_finished` events as they happen."""
    await pump_events(ws, ws.app.state.learning, after)
