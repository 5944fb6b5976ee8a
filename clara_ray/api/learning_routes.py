"""Learning-loop routes: feedback in, buffer stats, cycles, manual trigger and rollback, live cycle events."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket
from pydantic import BaseModel, Field

from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.api.ws import pump_events
from clara_ray.learning.feedback import FeedbackIn

router = APIRouter(tags=["learning"])


class FeedbackBatch(BaseModel):
    model_config = {"extra": "forbid"}
    items: list[FeedbackIn] = Field(min_length=1, max_length=5000)


class TriggerBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=48)


class RollbackBody(BaseModel):
    model_config = {"extra": "forbid"}
    adapter: str = Field(max_length=48)
    to_version: int | None = Field(None, ge=1)
    """Version number to serve again; default the previously active one."""


def _loop(request: Request):
    return backend(request, "learning")


@router.post("/api/feedback", status_code=201)
async def feedback(body: FeedbackIn, request: Request, who: Annotated[Principal, require("serving:generate")]):
    """One sample; accepted (durably stored before this answer) or rejected with the reason."""
    return (await _loop(request).add_feedback([body.model_dump()]))[0]


@router.post("/api/feedback/batch", status_code=201)
async def feedback_batch(body: FeedbackBatch, request: Request,
                         who: Annotated[Principal, require("serving:generate")]):
    results = await _loop(request).add_feedback([i.model_dump() for i in body.items])
    return {"accepted": sum(r["accepted"] for r in results), "rejected": sum(not r["accepted"] for r in results),
            "results": results}


@router.get("/api/learning/buffer")
async def buffer_stats(request: Request, who: Annotated[Principal, require("training:read")]):
    return await _loop(request).stats()


@router.get("/api/learning/cycles")
async def cycles(request: Request, who: Annotated[Principal, require("training:read")],
                 adapter: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50):
    return {"items": await _loop(request).cycles(adapter, limit)}


@router.post("/api/learning/trigger", status_code=202)
async def trigger(body: TriggerBody, request: Request, who: Annotated[Principal, require("training:create")]):
    """Start a cycle now for this adapter (coalesced if one is running)."""
    return await _loop(request).trigger(body.adapter)


@router.post("/api/learning/rollback")
async def rollback(body: RollbackBody, request: Request, who: Annotated[Principal, require("adapters:activate")]):
    """Serve an earlier version again (the previous one by default); the same as POST /api/serving/rollback."""
    return await asyncio.to_thread(backend(request, "serving").rollback, body.adapter, body.to_version)


@router.websocket("/api/learning/ws")
async def learning_events(ws: WebSocket, who: Annotated[Principal, require("training:read")],
                          after: int | None = None) -> None:
    """Streams `feedback`, `cycle_started` and `cycle_finished` events as they happen."""
    await pump_events(ws, ws.app.state.learning, after)
